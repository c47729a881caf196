"""Turning plans and progress into text for a person: a terminal (colour only on a tty, NO_COLOR
honoured) or Markdown for a pull-request comment. The core never prints."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

from podreconcile.core.plan import (
    CONTINGENCY_TEXT,
    Action,
    Contingency,
    FieldChange,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)

SYMBOLS = {
    Kind.ADOPT_POD: "=",
    Kind.CREATE_POD: "+",
    Kind.START_POD: "^",
    Kind.REPLACE_POD: "-/+",
    Kind.UPDATE_POD: "~",
    Kind.SYNC_CODE: "~",
    Kind.UPLOAD_DATA: "~",
    Kind.LAUNCH_RUN: ">",
    Kind.STOP_POD: "v",
    Kind.TERMINATE_POD: "-",
}
COLOURS = {"+": "32", "=": "36", "^": "32", "-/+": "35", "~": "33", ">": "34", "v": "31", "-": "31"}
VERBS = {
    Kind.ADOPT_POD: "to adopt", Kind.CREATE_POD: "to create", Kind.START_POD: "to start",
    Kind.REPLACE_POD: "to replace", Kind.UPDATE_POD: "to update", Kind.SYNC_CODE: "to sync", Kind.UPLOAD_DATA: "to upload",
    Kind.LAUNCH_RUN: "to launch", Kind.STOP_POD: "to stop", Kind.TERMINATE_POD: "to terminate",
}
UNKNOWN = "(known after apply)"


def use_colour(stream=sys.stdout) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def plan_text(plan: Plan, heading: str, colour: bool = False, now: float | None = None) -> str:
    paint = _painter(colour)
    lines = [paint("1", heading), ""]
    for action in plan.actions:
        symbol = SYMBOLS[action.kind]
        lines.append(f"  {paint(COLOURS[symbol], f'{symbol:>3}')} {paint('1', f'{title(action):<12}')} {action.reason}")
        lines.extend(f"        {detail}" for detail in details(action, now))
    if plan.actions:
        lines.append("")
    lines.extend(f"  note: {note}" for note in plan.notes)
    lines.extend(f"  deferred: {line}" for line in deferred_lines(plan))
    if plan.summary:
        lines.append(plan.summary)
    if plan.cost:
        lines.append(cost_line(plan))
    if plan.blocker:
        lines.append(paint("31", f"Blocked: {plan.blocker}"))
    lines.append(paint("1", summary_line(plan)))
    return "\n".join(lines)


def plan_markdown(plan: Plan, heading: str, now: float | None = None) -> str:
    lines = [f"#### {heading}", ""]
    if plan.actions:
        lines += ["| | action | why | details |", "|---|---|---|---|"]
        for action in plan.actions:
            detail = "<br>".join(_md(d) for d in details(action, now)) or ""
            lines.append(f"| `{SYMBOLS[action.kind]}` | **{title(action)}** | {_md(action.reason)} | {detail} |")
        lines.append("")
    lines.extend(f"> note: {_md(note)}" for note in plan.notes)
    lines.extend(f"> deferred: {_md(line)}" for line in deferred_lines(plan))
    if plan.summary:
        lines.append(f"{_md(plan.summary)}")
    if plan.cost:
        lines += ["", _md(cost_line(plan))]
    if plan.blocker:
        lines += ["", f"**Blocked:** {_md(plan.blocker)}"]
    lines += ["", f"**{summary_line(plan)}**"]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2)


def title(action: Action) -> str:
    if action.kind is Kind.LAUNCH_RUN and action.mode is LaunchMode.RESUME:
        return "resume run"
    if action.contingency is Contingency.SKIP_IF_RUN_SUCCEEDED:
        return "launch run?"
    return action.kind.value.replace("_", " ")


DEFERRED_UNTIL = {
    Reason.RUN_ALIVE: "waits for the end of the live run",
    Reason.RUN_DONE: "waits for the next run",
    Reason.POD_STOPPED: "waits for the next start",
}


def deferred_lines(plan: Plan) -> list[str]:
    until = DEFERRED_UNTIL.get(plan.deferred_code, "waits")
    return [f"{change_text(c)}; {until}" for c in plan.deferred]


def change_text(change: FieldChange) -> str:
    """One changed field; env by the names of its variables only (values may be secrets)."""
    policy = f" ({change.policy})" if change.policy else ""
    if change.field == "env":
        return f"pod.env: {', '.join(change.names) or 'variables'} changed (values not shown){policy}"
    return f"pod.{change.field}: {change.old!r} -> {change.new!r}{policy}"


def details(action: Action, now: float | None = None) -> list[str]:
    found = []
    if action.pod_id and action.kind is not Kind.REPLACE_POD:
        found.append(f"pod: {action.pod_id}")
    if action.kind is Kind.REPLACE_POD:
        found.append(f"old pod: {action.pod_id}")
    found.extend(change_text(c) for c in action.changes)
    if action.kind is Kind.UPDATE_POD:
        found.append("restart: yes, the running pod restarts to take them (a new SSH port; the volume disk stays)"
                     if action.restart else "restart: no, the stopped pod takes them at its next start")
    if action.kind in (Kind.CREATE_POD, Kind.REPLACE_POD):
        found.extend(gpu_lines(action))
        if action.data_center:
            found.append(f"data center: {action.data_center} (the network volume's)")
        found.append(f"pod id and ssh endpoint: {UNKNOWN}")
    if action.kind is Kind.START_POD:
        found.append(f"ssh endpoint: {UNKNOWN} (a new port and new host keys at every start)")
    if action.kind in (Kind.SYNC_CODE, Kind.UPLOAD_DATA):
        found.append(f"{action.files} file(s), {_size(action.bytes)}" if action.files is not None else f"files: {UNKNOWN}")
    if action.kind is Kind.LAUNCH_RUN:
        found.append(_launch_detail(action, now))
    if action.contingency is not None:
        found.append(CONTINGENCY_TEXT[action.contingency])
    return found


def gpu_lines(action: Action) -> list[str]:
    """The GPU types a new pod may get, in order; with the catalog's stock and price when the plan read it."""
    if not action.candidates:
        return [f"gpu: {' then '.join(action.gpu_types)}"]
    lines = []
    for number, offer in enumerate(action.candidates, 1):
        price = f"${offer.price_per_gpu:.2f}/GPU-h" if offer.price_per_gpu is not None else "no price"
        skipped = ": skipped, no stock" if offer.skipped else ""
        lines.append(f"gpu {number}: {offer.gpu} (stock {offer.stock}, {price}){skipped}")
    return lines


def _launch_detail(action: Action, now: float | None) -> str:
    if action.mode is LaunchMode.RESUME:
        age = ""
        if action.checkpoint_mtime is not None:
            age = f", saved {_age((now or time.time()) - action.checkpoint_mtime)} ago"
        return f"from {action.checkpoint} (step {action.step}{age})"
    if action.mode is LaunchMode.FRESH:
        return "fresh: no complete checkpoint"
    if action.mode is LaunchMode.FORCE_RESTART:
        return "FORCE RESTART: checkpoints ignored"
    return f"from the latest complete checkpoint, if any {UNKNOWN}"


def summary_line(plan: Plan) -> str:
    if not plan.actions:
        if plan.blocker:
            return "Nothing can be done until the blocker is resolved."
        return f"No changes now; {len(plan.deferred)} deferred." if plan.deferred else "No changes."
    counts = Counter(a.kind for a in plan.actions)
    return "Plan: " + ", ".join(f"{n} {VERBS[k]}" for k, n in counts.items()) + "."


def cost_line(plan: Plan) -> str:
    cost = plan.cost
    hours = cost.max_runtime_s / 3600
    return (f"Cost: ${cost.per_hour:.2f}/h ({cost.gpu_count} x {cost.gpu}); at most ${cost.worst_case:.2f} "
            f"if it runs the full max_runtime of {hours:g} h")


def _size(n: int | None) -> str:
    if n is None:
        return "? bytes"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _painter(colour: bool):
    if not colour:
        return lambda code, text: text
    return lambda code, text: f"\033[{code}m{text}\033[0m"


class Progress:
    """The Reporter apply talks to: a line per step on stderr; waits and transfers redrawn in place
    on a terminal, with a spinner and the time waited."""

    FRAMES = "|/-\\"

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr  # the stderr of now, not of the import
        self.tty = self.stream.isatty()
        self._live = False
        self._since: float | None = None
        self._frame = 0
        self._last_retry_line = float("-inf")

    def _line(self, text: str) -> None:
        if self._live and self.tty:
            self.stream.write("\r\033[K")
        self._live, self._since = False, None
        self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, message: str) -> None:
        self._line(f"==> {message}")

    def info(self, message: str) -> None:
        self._line(f"    {message}")

    def warn(self, message: str) -> None:
        self._line(f"    warning: {message}")

    def retrying(self, message: str) -> None:
        """A transient failure being retried: redrawn in place on a terminal; elsewhere a line at
        most every 15 s, so a log shows the wait without a line per attempt."""
        if self.tty:
            self.waiting(message)
            return
        now = time.monotonic()
        if now - self._last_retry_line >= 15:
            self._last_retry_line = now
            self.stream.write(f"    ... {message}\n")
            self.stream.flush()

    def waiting(self, message: str) -> None:
        if self._since is None:
            self._since = time.monotonic()
        if not self.tty:
            return
        self._frame = (self._frame + 1) % len(self.FRAMES)
        waited = time.monotonic() - self._since
        self.stream.write(f"\r\033[K    {self.FRAMES[self._frame]} {message} ({waited:.0f} s)")
        self.stream.flush()
        self._live = True

    def transfer(self, progress) -> None:
        """A progress bar for uploads: files, bytes, rate, time left."""
        if not self.tty or not progress.bytes_total:
            return
        done = progress.bytes_done / progress.bytes_total
        eta = f", {progress.eta_s:.0f} s left" if progress.eta_s is not None else ""
        self.stream.write(f"\r\033[K    [{'#' * int(done * 24):<24}] {progress.files_done}/{progress.files_total} files, "
                          f"{_size(progress.bytes_done)} of {_size(progress.bytes_total)}, "
                          f"{(progress.rate_bps or 0) / 1e6:.1f} MB/s{eta}")
        self.stream.flush()
        self._live = True
