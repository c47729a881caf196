"""What `podreconcile status` shows: the pod, the run, and what plan would do."""

from __future__ import annotations

import json

from podreconcile.cli.render import plan_json
from podreconcile.core.observation import Observation
from podreconcile.core.ownership import Ownership
from podreconcile.core.plan import Plan
from podreconcile.core.spec import format_duration
from podreconcile.core.state import State
from podreconcile.engine.project import Project


STALLED_AFTER_S = 1800  # `status --stalled-after` default: no log line or checkpoint for 30 minutes


def status_dict(project: Project, state: State, obs: Observation, plan: Plan, owner: Ownership,
                stalled_after_s: float = STALLED_AFTER_S) -> dict:
    pod = owner.pod or owner.foreign
    shown = _pod(pod)
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


def _pod(pod) -> dict | None:
    if pod is None:
        return None
    return {
        "id": pod.id,
        "name": pod.name,
        "state": pod.status.value,
        "last_status_change": pod.last_status_change,
        "gpu": f"{pod.gpu_count} x {pod.gpu_display_name or pod.gpu_type_id or '?'}",
        "cost_per_hr": pod.cost_per_hr,
        "uptime_seconds": pod.uptime_seconds if pod.ssh else None,
        "ssh": f"ssh root@{pod.ssh.host} -p {pod.ssh.port}" if pod.ssh else None,
    }


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
        "latest_checkpoint": latest.name if latest else None,
        "latest_step": latest.step if latest else None,
        "last_log_line": run.log_tail,
        "revision": run.revision,
        "quiet_seconds": None if run.quiet_seconds is None else int(run.quiet_seconds),
        "stalled": run.stalled(stalled_after_s),
        "stalled_after_seconds": int(stalled_after_s),
    }


def status_text(info: dict) -> str:
    lines = []
    pod = info["pod"]
    if pod is None:
        lines.append("Pod:  none (apply creates it)")
    else:
        lines.append(f"Pod:  {pod['id']} {pod['state']}  {pod['gpu']}  ${pod['cost_per_hr']}/h")
        if pod["adopt"]:
            lines.append(f"      not adopted: {pod['adopt']}")
        if pod["last_status_change"]:  # GraphQL's free text; v2 has none
            lines.append(f"      {pod['last_status_change']}")
        if pod["ssh"]:
            lines.append(f"      {pod['ssh']}  (up {pod['uptime_seconds']} s)")
    run = info["run"]
    if not run["observed"]:
        last = run["last_seen"]
        seen = f"last seen {last['state']} (attempt {last['attempt']}, exit code {last['exit_code']})" if last else "unknown"
        lines.append(f"Run:  {run['name']}: {seen}; the pod is not reachable")
    else:
        lines.append(f"Run:  {run['name']}: {run['state']}{' (alive)' if run['alive'] else ''}, attempt {run['attempt']}, "
                     f"exit code {run['exit_code']}")
        checkpoint = f"{run['latest_checkpoint']} (step {run['latest_step']})" if run["latest_checkpoint"] else "none"
        lines.append(f"      latest complete checkpoint: {checkpoint}")
        if run["last_log_line"]:
            lines.append(f"      last log line: {run['last_log_line']}")
        if run["stalled"]:
            lines.append(f"      STALLED: alive, but no new log line or checkpoint for {format_duration(max(1, run['quiet_seconds']))} "
                         f"(--stalled-after {format_duration(run['stalled_after_seconds'])}); left running: podreconcile "
                         "never kills a run on an unknown. Look with `podreconcile logs`, stop it with `podreconcile stop`.")
    plan = info["plan"]
    actions = ", ".join(a["kind"].replace("_", " ") for a in plan["actions"]) or "nothing"
    lines.append(f"Plan: {actions}. {plan['summary']}")
    return "\n".join(lines)
