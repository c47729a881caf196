"""Moving the shared `.podreconcile/state.json` of older versions to the spec it belongs to.

Older versions kept one state file per folder. Its pod is named `podreconcile-<name>`, so it belongs to
the spec of that name, and only that spec takes it: first use hard-links it to
`.podreconcile/<name>/state.json` (an existing file there is never overwritten), then removes the old
name. Link and unlink are each atomic, so a crash in between leaves the same content in both places,
and the next run only finishes the unlink. A state file that names another spec's pod stays where it
is for that spec; one that names no pod at all holds nothing worth moving and is left alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SHARED = "state.json"


def migrate_shared_state(root: Path, name: str, target: Path) -> bool:
    """Move `root/state.json` to `target` if it belongs to spec `name`; True when it was moved."""
    shared = root / SHARED
    if shared.is_symlink() or not _belongs_to(shared, name):
        return False  # a symlink is not a state file podreconcile wrote: never followed, never moved
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.link(shared, target)
    except FileExistsError:
        pass  # a concurrent command of the same spec (or a crash after the link) got there first
    except FileNotFoundError:
        return False  # moved by a concurrent command of the same spec
    shared.unlink(missing_ok=True)
    return True


def _belongs_to(shared: Path, name: str) -> bool:
    try:
        raw = json.loads(shared.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(raw, dict):
        return False
    pod_name = raw.get("pod_name") or raw.get("create_pending")
    return pod_name == f"podreconcile-{name}"
