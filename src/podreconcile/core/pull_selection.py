"""What `podreconcile pull` brings back by default, decided on a listing alone (pure).

The run's output dir holds `checkpoint-<N>/` folders and the final files (the model, its config,
metrics). By default: the latest complete checkpoint (the largest N whose folder holds
trainer_state.json) and every file outside the checkpoint folders. Older checkpoints and
incomplete ones (a save cut short) are left: they are what a resume would skip anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CHECKPOINT_RE = re.compile(r"^checkpoint-([0-9]+)$")
COMPLETE_MARKER = "trainer_state.json"


def latest_complete_checkpoint(paths: Iterable[str]) -> str | None:
    """The folder name of the latest complete checkpoint among paths relative to the output dir."""
    complete = []
    for path in paths:
        parts = path.split("/")
        match = CHECKPOINT_RE.match(parts[0])
        if match and parts[1:] == [COMPLETE_MARKER]:
            complete.append((int(match.group(1)), parts[0]))
    return max(complete)[1] if complete else None


def default_selection(paths: Iterable[str]) -> list[str]:
    """The paths (relative to the output dir, files only) that a plain `pull` downloads, sorted."""
    paths = [p for p in paths if p and not p.endswith("/")]
    latest = latest_complete_checkpoint(paths)
    chosen = []
    for path in paths:
        head = path.split("/")[0]
        if CHECKPOINT_RE.match(head) and "/" in path:
            if head == latest:
                chosen.append(path)
        else:
            chosen.append(path)
    return sorted(chosen)
