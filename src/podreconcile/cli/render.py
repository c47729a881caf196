"""Turning plans and progress into text for a person: a terminal (colour only on a tty, NO_COLOR
honoured) or Markdown for a pull-request comment. The core never prints."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, SpinnerColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

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
STYLES = {"+": "green", "=": "cyan", "^": "green", "-/+": "magenta", "~": "yellow", ">": "blue", "v": "red", "-": "red"}
VERBS = {
    Kind.ADOPT_POD: "to adopt", Kind.CREATE_POD: "to create", Kind.START_POD: "to start",
    Kind.REPLACE_POD: "to replace", Kind.UPDATE_POD: "to update", Kind.SYNC_CODE: "to sync", Kind.UPLOAD_DATA: "to upload",
    Kind.LAUNCH_RUN: "to launch", Kind.STOP_POD: "to stop", Kind.TERMINATE_POD: "to terminate",
}
UNKNOWN = "(known after apply)"


def use_colour(stream=sys.stdout) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def plan_text(plan: Plan, heading: str, colour: bool = False, now: float | None = None) -> str:
    """The plan for a terminal: the same characters with or without colour (rich styles on a tty)."""
    lines = [Text(heading, style="bold"), Text()]
    for action in plan.actions:
        symbol = SYMBOLS[action.kind]
        lines.append(Text.assemble("  ", (f"{symbol:>3}", STYLES[symbol]), " ",
                                   (f"{title(action):<12}", "bold"), f" {action.reason}"))
        lines.extend(Text(f"        {detail}") for detail in details(action, now))
    if plan.actions:
        lines.append(Text())
    lines.extend(Text(f"  note: {note}") for note in plan.notes)
    lines.extend(Text(f"  deferred: {line}") for line in deferred_lines(plan))
    if plan.summary:
        lines.append(Text(plan.summary))
    if plan.cost:
        lines.append(Text(cost_line(plan)))
    if plan.blocker:
        lines.append(Text(f"Blocked: {plan.blocker}", style="red"))
    lines.append(Text(summary_line(plan), style="bold"))
    return "\n".join(ansi(line) if colour else line.plain for line in lines)


def ansi(text: Text) -> str:
    """A styled line as ANSI codes, unwrapped (the terminal wraps)."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=1_000_000,
                      no_color=False, legacy_windows=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(text, end="")
    return captured.get()


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
    if change.field == "env":  # `env.HF_TOKEN: (changed)`: the names only, never a value
        return "; ".join(f"pod.env.{name}: (changed)" for name in change.names or ("*",)) + policy
    return f"pod.{change.field}: {shown(change.old)} -> {shown(change.new)}{policy}"


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
        found.append(f"{action.files} file(s), {_size(action.bytes)}" if action.files is not None else _unknown_files(action))
    if action.kind is Kind.LAUNCH_RUN:
        found.append(_launch_detail(action, now))
    if action.contingency is not None:
        found.append(CONTINGENCY_TEXT[action.contingency])
    if action.command:
        found.append(f"command: {action.command}")
    return found


def shown(value: object) -> str:
    """A spec value as podspec.yaml spells it: no Python reprs (None, True, quotes) in the wording."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def _unknown_files(action: Action) -> str:
    if action.local_files is None:
        return f"files: {UNKNOWN}"
    return (f"local data: {action.local_files} file(s), {_size(action.local_bytes)}; "
            f"what the volume lacks of it is {UNKNOWN}")


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


class Progress:
    """The Reporter apply talks to: a line per step on stderr. On a terminal, waits (a spinner with
    the time waited), retries and transfers (files, bytes, rate, time left) are drawn live by rich
    and vanish when the next line comes; through a pipe they stay plain lines, retries at most one
    every 15 s so a log shows the wait without a line per attempt."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_retry_line = float("-inf")

    def _line(self, text: str) -> None:
        if self.tty:
            _live.stop()
            _live.console(self.stream).print(Text(text), soft_wrap=True)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def step(self, message: str) -> None:
        self._line(f"==> {message}")

    def info(self, message: str) -> None:
        self._line(f"    {message}")

    def warn(self, message: str) -> None:
        self._line(f"    warning: {message}")

    def retrying(self, message: str) -> None:
        """A transient failure being retried: drawn live on a terminal, else a line every 15 s."""
        if self.tty:
            self.waiting(message)
            return
        now = time.monotonic()
        if now - self._last_retry_line >= 15:
            self._last_retry_line = now
            self.stream.write(f"    ... {message}\n")
            self.stream.flush()

    def waiting(self, message: str) -> None:
        if self.tty:
            _live.wait(self.stream, message)

    def transfer(self, progress) -> None:
        """Upload progress: files, bytes, rate and time left."""
        if self.tty and progress.bytes_total:
            _live.transfer(self.stream, progress)


class _Live:
    """The one live display of the process (rich allows one per terminal), shared by every Progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._consoles: dict[int, Console] = {}
        self._bar: RichProgress | None = None
        self._kind: str | None = None
        self._task = None

    def console(self, stream) -> Console:
        key = id(stream)
        if key not in self._consoles:
            self._consoles[key] = Console(file=stream, highlight=False, markup=False, emoji=False)
        return self._consoles[key]

    def wait(self, stream, message: str) -> None:
        with self._lock:
            if self._kind != "wait":
                self._start(stream, "wait", SpinnerColumn(), TextColumn("{task.description}"),
                            TextColumn("[dim]{task.elapsed:.0f} s"), description=message)
            self._bar.update(self._task, description=message)

    def transfer(self, stream, progress) -> None:
        with self._lock:
            if self._kind != "transfer":
                self._start(stream, "transfer", BarColumn(bar_width=24),
                            TextColumn("{task.fields[files]} files,"), DownloadColumn(), TextColumn("[dim]{task.fields[rate]}"),
                            TextColumn("{task.fields[eta]}"), total=progress.bytes_total)
            eta = f"{progress.eta_s:.0f} s left" if progress.eta_s is not None else ""
            self._bar.update(self._task, total=progress.bytes_total, completed=progress.bytes_done,
                             files=f"{progress.files_done}/{progress.files_total}",
                             rate=f"{(progress.rate_bps or 0) / 1e6:.1f} MB/s", eta=eta)

    def _start(self, stream, kind: str, *columns, total: float | None = None, description: str = "") -> None:
        self._stop()
        # Output on stdout while the display runs: printed above it when stdout is the same terminal;
        # never redirected when stdout is a file or a pipe (`logs > file` must keep the log in the file).
        self._bar = RichProgress(*columns, console=self.console(stream), transient=True,
                                 redirect_stdout=sys.stdout.isatty(), redirect_stderr=False)
        self._task = self._bar.add_task(description, total=total, files="", rate="", eta="")
        self._kind = kind
        self._bar.start()

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = self._kind = None


_live = _Live()


def finish() -> None:
    """End any live display, so that what follows (an error, the shell prompt) starts clean."""
    _live.stop()
