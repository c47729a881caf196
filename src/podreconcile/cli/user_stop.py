"""What `podreconcile stop` remembers: that it stopped a run under way, so the next plan says the
attempt was stopped (by the user), not that it failed with exit code 143.

The run is looked at over SSH just before the stop (one probe, best effort: a pod that does not
answer is stopped all the same). Without that look, a run last seen under way counts as stopped.
"""

from __future__ import annotations

from podreconcile.cli import wiring
from podreconcile.core.errors import PodreconcileError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.run_observation import RunFacts
from podreconcile.core.state import STOPPED, LastRun
from podreconcile.engine import pod_steps
from podreconcile.engine.observe import paths
from podreconcile.engine.project import Project
from podreconcile.engine.state_file import now

PROBE_DEADLINE = 10.0  # a stop must not wait long for a pod that does not answer


def run_before_stop(project: Project, pod: PodFacts) -> RunFacts | None:
    """The run on the pod about to be stopped, or None when the pod does not answer."""
    if pod.status is not PodStatus.RUNNING or pod.ssh is None:
        return None
    conn = wiring.connection(project, persist_host_key=False)
    try:
        session = conn.session(pod, deadline=PROBE_DEADLINE)
        return pod_steps.probe(session, paths(project), project.spec.run.venv)
    except (PodreconcileError, ValueError):  # unreachable, or a probe that printed nothing useful
        return None
    finally:
        conn.close()


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
