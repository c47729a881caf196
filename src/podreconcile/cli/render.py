"""Turning plans and progress into text for a person at a terminal. The core never prints."""

from __future__ import annotations

import json
import sys
import time

from ..plan import Action, Kind, LaunchMode, Plan

SYMBOLS = {
    Kind.ADOPT_POD: "=",
    Kind.CREATE_POD: "+",
    Kind.START_POD: "^",
    Kind.REPLACE_POD: "-/+",
    Kind.SYNC_CODE: "~",
    Kind.UPLOAD_DATA: "~",
    Kind.LAUNCH_RUN: ">",
    Kind.STOP_POD: "v",
}
UNKNOWN = "(known after apply)"


def plan_text(plan: Plan, heading: str) -> str:
    lines = [heading, ""]
    for action in plan.actions:
        lines.append(f"  {SYMBOLS[action.kind]:>3} {_title(action):<22} {action.reason}")
        lines.extend(f"        {detail}" for detail in _details(action))
    if plan.actions:
        lines.append("")
    lines.extend(f"  note: {note}" for note in plan.notes)
    if plan.summary:
        lines.append(plan.summary)
    if plan.blocker:
        lines.append(f"Blocked: {plan.blocker}")
    lines.append(f"Plan: {len(plan.actions)} action(s)." if plan.actions else "No changes.")
    return "\n".join(lines)


def _title(action: Action) -> str:
    if action.kind is Kind.LAUNCH_RUN and action.mode is LaunchMode.RESUME:
        return f"resume run"
    name = action.kind.value.replace("_", " ")
    return f"{name} {action.pod_id}" if action.pod_id and action.kind is not Kind.REPLACE_POD else name


def _details(action: Action) -> list[str]:
    details = []
    if action.kind in (Kind.CREATE_POD, Kind.REPLACE_POD):
        details.append(f"gpu: {' then '.join(action.gpu_types)}")
        details.append(f"ssh endpoint: {UNKNOWN}")
    if action.kind is Kind.REPLACE_POD:
        details.insert(0, f"old pod: {action.pod_id}")
        details.extend(f"{c.field}: {c.old!r} -> {c.new!r}" for c in action.changes)
    if action.kind is Kind.SYNC_CODE:
        details.append(f"files: {action.files}, {action.bytes} bytes" if action.files is not None else f"files: {UNKNOWN}")
    if action.kind is Kind.LAUNCH_RUN:
        details.append(_launch_detail(action))
    return details


def _launch_detail(action: Action) -> str:
    if action.mode is LaunchMode.RESUME:
        return f"from {action.checkpoint} (step {action.step})"
    if action.mode is LaunchMode.FRESH:
        return "fresh: no complete checkpoint"
    if action.mode is LaunchMode.FORCE_RESTART:
        return "FORCE RESTART: checkpoints ignored"
    return f"from the latest complete checkpoint, if any {UNKNOWN}"


def plan_json(plan: Plan) -> str:
    return json.dumps({
        "format_version": 1,
        "actions": [a.to_dict() for a in plan.actions],
        "summary": plan.summary,
        "blocker": plan.blocker,
        "notes": list(plan.notes),
        "changes_pending": not plan.empty,
    }, indent=2)


class Progress:
    """The Reporter apply talks to: one line per step on stderr, waits updated in place on a terminal."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self._waiting = False

    def _line(self, text: str) -> None:
        if self._waiting and self.tty:
            self.stream.write("\r\033[K")
        self._waiting = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, message: str) -> None:
        self._line(f"==> {message}")

    def info(self, message: str) -> None:
        self._line(f"    {message}")

    def warn(self, message: str) -> None:
        self._line(f"    warning: {message}")

    def waiting(self, message: str) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K    ... {message}")
            self.stream.flush()
            self._waiting = True

    def transfer(self, progress) -> None:
        """A progress bar for uploads, redrawn in place on a terminal."""
        if not self.tty or not progress.bytes_total:
            return
        done = progress.bytes_done / progress.bytes_total
        bar = "#" * int(done * 24)
        eta = f", {progress.eta_s:.0f} s left" if progress.eta_s is not None else ""
        self.stream.write(f"\r\033[K    [{bar:<24}] {progress.files_done}/{progress.files_total} files, "
                          f"{progress.bytes_done / 1e6:.1f}/{progress.bytes_total / 1e6:.1f} MB, "
                          f"{(progress.rate_bps or 0) / 1e6:.1f} MB/s{eta}")
        self.stream.flush()
        self._waiting = True
