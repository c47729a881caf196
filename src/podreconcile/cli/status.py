"""What `podreconcile status` shows: the pod (with what this start has cost so far), how to reach it,
the run with its last log lines, and what plan would do.

`status_dict` is the data (also `status --json`); `status_text` renders it as a two-column table,
coloured on a terminal, plain text through a pipe.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import time
from datetime import datetime, timezone

from rich.console import Console
from rich.table import Table
from rich.text import Text

from podreconcile.cli.render import plan_json
from podreconcile.core.observation import Observation, PodFacts, PodStatus
from podreconcile.core.ownership import Ownership
from podreconcile.core.plan import Plan
from podreconcile.core.spec import format_duration
from podreconcile.core.state import State
from podreconcile.core.terminal_text import printable
from podreconcile.engine.project import Project

_TRAILING = re.compile(r" +((?:\033\[[0-9;]*m)*)$")
POD_STATES = {PodStatus.RUNNING: "running", PodStatus.EXITED: "stopped", PodStatus.TERMINATED: "terminated",
              PodStatus.PROVISIONING: "provisioning", PodStatus.STARTING: "starting"}


STALLED_AFTER_S = 1800  # `status --stalled-after` default: no log line or checkpoint for 30 minutes


def status_dict(project: Project, state: State, obs: Observation, plan: Plan, owner: Ownership,
                now: float | None = None, stalled_after_s: float = STALLED_AFTER_S) -> dict:
    pod = owner.pod or owner.foreign
    shown = _pod(pod, project.settings.ssh_key_path, time.time() if now is None else now)
    if shown is not None:
        # A pod whose name is not ours is shown, never acted on: `adopt` says how to take it.
        shown["ours"] = owner.pod is not None
        shown["adopt"] = owner.blocker if owner.foreign else None
    return {
        "spec": project.spec.name,
        "pod": shown,
        "run": _run(project, obs, state, stalled_after_s),
        "plan": json.loads(plan_json(plan)),
    }


def _pod(pod: PodFacts | None, key, now: float) -> dict | None:
    if pod is None:
        return None
    running = pod.status is PodStatus.RUNNING
    since = _seconds_since(pod.started_at, now) if running else None
    spend = round(pod.cost_per_hr * since / 3600, 2) if since is not None and pod.cost_per_hr else None
    return {
        "id": pod.id,
        "name": pod.name,
        "state": pod.status.value,
        "last_status_change": printable(pod.last_status_change) if pod.last_status_change else None,
        "gpu": f"{pod.gpu_count} x {pod.gpu_display_name or pod.gpu_type_id or 'unknown GPU'}",
        "cost_per_hr": pod.cost_per_hr,
        "started_at": pod.started_at if running else None,
        "uptime_seconds": since,
        # What this start has cost at RunPod's rate: the API reports the rate and the start, not the bill.
        "spend_this_start_usd": spend,
        "ssh": ssh_line(pod, key) if pod.ssh else None,
    }


def ssh_line(pod: PodFacts, key) -> str:
    """An OpenSSH command that works when pasted (`podreconcile ssh` also checks the host key)."""
    identity = f"-i {shlex.quote(str(key))} " if key else ""
    return f"ssh {identity}-p {pod.ssh.port} root@{pod.ssh.host}"


def _seconds_since(started_at: str | None, now: float) -> int | None:
    if not started_at:
        return None
    try:
        started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return max(0, int(now - started.timestamp()))


def _run(project: Project, obs: Observation, state: State, stalled_after_s: float) -> dict:
    run = obs.run
    if run is None:
        last = state.last_run if state.last_run and state.last_run.run_name == project.run_name else None
        return {"name": project.run_name, "observed": False,
                "last_seen": {"state": last.state, "attempt": last.attempt, "exit_code": last.exit_code,
                              "at": last.observed_at} if last else None}
    status, latest = run.status, run.latest_complete_checkpoint
    return {
        "name": project.run_name,
        "observed": True,
        "state": status.state.value if status else "not started",
        "alive": run.runner_alive,
        "attempt": status.attempt if status else None,
        "exit_code": status.exit_code if status else None,
        "stopped_reason": status.stopped_reason if status else None,
        "latest_checkpoint": latest.name if latest else None,
        "latest_step": latest.step if latest else None,
        # Log lines come from the pod: escape sequences other than colours are dropped.
        "last_log_line": printable(run.log_tail) if run.log_tail else None,
        "log_lines": [printable(line) for line in (list(run.log_lines) or ([run.log_tail] if run.log_tail else []))],
        "revision": run.revision,
        "quiet_seconds": None if run.quiet_seconds is None else int(run.quiet_seconds),
        "stalled": run.stalled(stalled_after_s),
        "stalled_after_seconds": int(stalled_after_s),
    }


# ---- the table ----

def status_text(info: dict, colour: bool = False, width: int = 100) -> str:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, lines in (("Pod", _pod_lines(info["pod"])), ("Run", _run_lines(info["run"])),
                         ("Log", _log_lines(info["run"])), ("Plan", _plan_lines(info["plan"]))):
        for i, line in enumerate(lines):
            table.add_row(label if i == 0 else "", line)
    console = Console(file=io.StringIO(), width=width, force_terminal=colour, no_color=not colour,
                      color_system="standard" if colour else None, highlight=False, legacy_windows=False)
    with console.capture() as captured:
        console.print(table)
    # Cells are padded to the column's width, inside their style: drop that padding at line ends.
    return "\n".join(_TRAILING.sub(r"\1", line) for line in captured.get().rstrip("\n").split("\n"))


def _pod_lines(pod: dict | None) -> list:
    if pod is None:
        return ["none yet (`podreconcile apply` creates it)"]
    state = POD_STATES.get(PodStatus.parse(pod["state"]), pod["state"].lower())
    rate = f"  ${pod['cost_per_hr']:.2f}/h" if pod["cost_per_hr"] else ""
    lines = [Text.assemble((pod["id"], "cyan"), "  ", (state, "green" if state == "running" else "yellow"),
                           f"  {pod['gpu']}{rate}")]
    if pod.get("adopt"):
        lines.append(Text(f"not adopted: {pod['adopt']}", style="yellow"))
    if pod["last_status_change"]:
        lines.append(Text(pod["last_status_change"], style="dim"))
    if pod["uptime_seconds"] is not None:
        spent = (f"; about ${pod['spend_this_start_usd']:.2f} at ${pod['cost_per_hr']:.2f}/h since this start "
                 "(RunPod's billing has the exact amount)") if pod["spend_this_start_usd"] is not None else ""
        lines.append(Text(f"up {duration(pod['uptime_seconds'])}{spent}"))
    if pod["ssh"]:
        lines.append(Text.assemble(("podreconcile ssh", "bold"), f"  (or: {pod['ssh']})"))
    return lines


def _run_lines(run: dict) -> list:
    name = run["name"]
    if not run["observed"]:
        last = run["last_seen"]
        seen = f"; last seen {_outcome(last['state'], last['attempt'], last['exit_code'])}" if last else ""
        return [f"{name}: not reachable while the pod is not running{seen}"]
    alive = " (its runner is alive)" if run["alive"] else ""
    lines = [Text.assemble(f"{name}: ", (_outcome(run["state"], run["attempt"], run["exit_code"]), "bold"), alive)]
    if run["latest_checkpoint"]:
        lines.append(f"latest complete checkpoint: {run['latest_checkpoint']} (step {run['latest_step']})")
    else:
        lines.append("no complete checkpoint yet")
    if run.get("stalled"):
        quiet, limit = format_duration(max(1, run["quiet_seconds"])), format_duration(run["stalled_after_seconds"])
        lines.append(Text(f"STALLED: alive, but no new log line or checkpoint for {quiet} (--stalled-after {limit}); "
                          "left running: podreconcile never kills a run on an unknown. Look with `podreconcile logs`, "
                          "stop it with `podreconcile stop`.", style="bold yellow"))
    return lines


def _outcome(state: str, attempt: int | None, exit_code: int | None) -> str:
    parts = [state]
    if attempt is not None:
        parts.append(f"attempt {attempt}")
    if exit_code is not None and state not in ("running", "setup"):
        parts.append(f"exit code {exit_code}")
    return ", ".join(parts)


def _log_lines(run: dict) -> list:
    lines = run.get("log_lines") or []
    return [Text(line, style="dim") for line in lines] or ["nothing to show (the pod is not reachable)"
                                                           if not run["observed"] else "no log yet"]


def _plan_lines(plan: dict) -> list:
    actions = ", ".join(a["kind"].replace("_", " ") for a in plan["actions"])
    first = f"{actions} (`podreconcile plan` shows why)" if actions else "nothing to do"
    return [first] + ([plan["summary"]] if plan["summary"] else [])


def duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
