"""`podreconcile stop`: the stop plan, a last look at the run, the stop, and what the state remembers.

The state remembers that the stop ended a run under way, so the next plan says the attempt was
stopped (by the user), not that it failed with exit code 143. The run is looked at over SSH just
before the stop (one probe, best effort: a pod that does not answer is stopped all the same).
Without that look, a run last seen under way counts as stopped.
"""

from __future__ import annotations

from podreconcile.core.errors import PodreconcileError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.plan import Plan
from podreconcile.core.pod_commands import stop_plan
from podreconcile.core.ports import Provider
from podreconcile.core.run_observation import RunFacts
from podreconcile.core.state import STOPPED, LastRun
from podreconcile.engine import day2, pod_steps, retry
from podreconcile.engine.apply import Reporter
from podreconcile.engine.observe import Connection, paths
from podreconcile.engine.project import Project
from podreconcile.engine.state_file import now

PROBE_DEADLINE = 10.0  # a stop must not wait long for a pod that does not answer


def stop(project: Project, provider: Provider, conn: Connection, report: Reporter) -> Plan:
    """Stop our pod (the plan comes from one listing); returns the plan it carried out (no actions:
    nothing to stop, its summary says why)."""
    owner = day2.ownership(project, retry.call(provider.list_pods))
    plan = stop_plan(owner, project.spec.pod_name)
    if not plan.actions:
        return plan
    # A run under way is looked at first, so the next plan calls its end a stop, not a failure.
    run = run_before_stop(project, conn, owner.pod) if owner.pod else None
    conn.close()  # the stop ends the pod's sshd; nothing else goes over this connection
    day2.execute(project, provider, conn, report, plan)
    record_user_stop(project, run)
    return plan


def run_before_stop(project: Project, conn: Connection, pod: PodFacts) -> RunFacts | None:
    """The run on the pod about to be stopped, or None when the pod does not answer."""
    if pod.status is not PodStatus.RUNNING or pod.ssh is None:
        return None
    try:
        session = conn.session(pod, deadline=PROBE_DEADLINE)
        return pod_steps.probe(session, paths(project), project.spec.run.venv)
    except (PodreconcileError, ValueError):  # unreachable, or a probe that printed nothing useful
        return None


def record_user_stop(project: Project, run: RunFacts | None) -> None:
    """Remember the attempt the stop ended, if one was under way."""
    state = project.state_file.read()
    status = run.status if run else None
    if status is not None and status.run == project.run_name:
        if not (run.runner_alive and status.active):
            return
        stopped = LastRun(project.run_name, STOPPED, status.attempt, None, now(), status.revision)
    else:
        last = state.last_run
        if not (last and last.run_name == project.run_name and last.state in ("setup", "running")):
            return
        stopped = LastRun(last.run_name, STOPPED, last.attempt, None, now(), last.revision)
    project.state_file.write(state.with_(last_run=stopped))
