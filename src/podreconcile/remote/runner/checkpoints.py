"""How an attempt starts: fresh, resumed from the latest complete checkpoint, or forced fresh."""

from __future__ import annotations

import os
import re
import shlex

from .launch import Launch

CHECKPOINT_RE = re.compile(r"^checkpoint-([0-9]+)$")


class Start:
    """How an attempt starts: `how` is the header wording; `checkpoint` is set when resuming."""

    def __init__(self, kind: str, how: str, checkpoint: str | None = None,
                 path: str | None = None, skipped: list | None = None):
        self.kind = kind
        self.how = how
        self.checkpoint = checkpoint
        self.path = path
        self.skipped = skipped or []


def scan_checkpoints(output_dir: str) -> list:
    """(step, name, complete) for every checkpoint-<N> folder, by step as a number."""
    try:
        names = os.listdir(output_dir)
    except OSError:
        return []
    found = []
    for name in names:
        match = CHECKPOINT_RE.match(name)
        path = os.path.join(output_dir, name)
        if match and os.path.isdir(path):
            complete = os.path.isfile(os.path.join(path, "trainer_state.json"))
            found.append((int(match.group(1)), name, complete))
    return sorted(found)


def decide_start(launch: Launch) -> Start:
    """force_restart ignores checkpoints; resume starts from exactly the checkpoint apply names (the
    reviewed one) or refuses; otherwise (auto) the latest complete one, else fresh."""
    if launch.mode == "force_restart":
        return Start("force_restart", "FORCE RESTART: checkpoints ignored")
    found = scan_checkpoints(launch.output_dir)
    if launch.mode == "resume":
        return _named_checkpoint(launch, found)
    skipped = [name for _, name, complete in found if not complete]
    complete = [name for _, name, ok in found if ok]
    if not complete:
        return Start("fresh", "fresh", skipped=skipped)
    latest = complete[-1]
    path = os.path.join(launch.output_dir, latest)
    return Start("resume", "resume from " + latest, latest, path, skipped)


def _named_checkpoint(launch: Launch, found: list) -> Start:
    name = launch.checkpoint
    complete = [n for _, n, ok in found if ok]
    if name not in complete:
        why = "is incomplete (no trainer_state.json)" if name in [n for _, n, _ in found] else "does not exist"
        return Start("refused", "checkpoint %s %s in %s; run `podreconcile plan` and apply again"
                     % (name, why, launch.output_dir))
    step = next(s for s, n, _ in found if n == name)
    skipped = [n for s, n, ok in found if not ok and s > step]
    return Start("resume", "resume from " + name, name, os.path.join(launch.output_dir, name), skipped)


def training_command(launch: Launch, start: Start) -> str:
    """The user's command as written, plus the resume args with our (quoted) checkpoint path."""
    if start.path is None:
        return launch.command
    quoted = shlex.quote(start.path)
    if "{checkpoint}" in launch.resume_args:
        args = launch.resume_args.replace("{checkpoint}", quoted)
    else:
        args = "%s %s" % (launch.resume_args, quoted)
    return "%s %s" % (launch.command, args)
