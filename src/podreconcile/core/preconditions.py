"""Does a reviewed action still fit the world? Pure checks apply makes before each step.

Each reviewed action carries what it assumes (`Action.expects`). Before carrying it out, apply
observes again and asks two questions of the fresh facts: is the step already done (then it is
skipped, and apply says so), and does the world still match what the step assumed (if not, apply
stops and names the difference in one sentence).
"""

from __future__ import annotations

from podreconcile.core.field_policy import Policy
from podreconcile.core.observation import Observation, PodFacts, PodStatus
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import Action, Expect, Fact, Kind, Plan
from podreconcile.core.planner import run_alive
from podreconcile.core.run_observation import RunState
from podreconcile.core.state import State


def already_done(action: Action, obs: Observation, state: State, fresh: Plan) -> str | None:
    """Why `action` needs doing no more, in words; None when it still has to be done."""
    pod = _pod(obs, action.pod_id)
    # Adopting the state file's own pod after a rename records its new name: done only once both match.
    adopted = state.pod_id == action.pod_id and pod is not None and pod.name == state.pod_name
    if action.kind is Kind.ADOPT_POD and adopted:
        return f"pod {action.pod_id} is already in the state file"
    # STARTING (or PROVISIONING) is a start under way, as RunPod shows one for a while: done, SSH is waited for next.
    if action.kind is Kind.START_POD and pod is not None and pod.status.is_up:
        return f"pod {action.pod_id} is already {'running' if pod.status is PodStatus.RUNNING else 'starting'}"
    if action.kind is Kind.STOP_POD and pod is not None and pod.status is PodStatus.EXITED:
        return f"pod {action.pod_id} is already stopped"
    if action.kind is Kind.UPDATE_POD and pod is not None and Kind.UPDATE_POD not in fresh.kinds() \
            and not any(c.policy == Policy.IN_PLACE.value for c in fresh.deferred):
        return f"pod {action.pod_id} already has the changes"
    if action.kind in (Kind.SYNC_CODE, Kind.UPLOAD_DATA) and obs.run is not None and action.kind not in fresh.kinds():
        return "the pod already has the code" if action.kind is Kind.SYNC_CODE else "the volume already holds the data"
    return None


def difference(action: Action, obs: Observation, state: State, pod_name: str, run_name: str,
               legacy_pod_id: str | None = None) -> str | None:
    """The first assumption of `action` the world no longer matches, as one sentence; None if all hold."""
    for expect in action.expects:
        found = _check(expect, action, obs, state, pod_name, run_name, legacy_pod_id)
        if found:
            return found
    return None


def run_succeeded(obs: Observation, run_name: str) -> bool:
    """The pod's volume says the run succeeded (a conditional launch is then skipped)."""
    status = obs.run.status if obs.run else None
    return bool(status and status.run in (None, run_name) and status.state is RunState.SUCCEEDED
                and not run_alive(obs.run))


def _check(expect: Expect, action: Action, obs: Observation, state: State, pod_name: str, run_name: str,
           legacy_pod_id: str | None) -> str | None:
    if expect.fact is Fact.POD_STATUS:
        pod = _pod(obs, action.pod_id)
        if pod is None:
            return f"pod {action.pod_id} no longer exists"
        # v2 reports a pod on its way up as PROVISIONING or STARTING: for a plan, that is running.
        up = expect.value == PodStatus.RUNNING.value and pod.status.is_up
        if pod.status.value != expect.value and not up:
            return f"pod {action.pod_id} is {pod.status.value}, not {expect.value} as when the plan was made"
    if expect.fact is Fact.NO_POD:
        owner = identify_pod(pod_name, state, obs.pods, legacy_pod_id)
        if owner.pod is not None or owner.strays:
            found = owner.pod or owner.strays[0]
            return f"pod {found.id} ({found.name}) now exists, so creating one would make a second"
    if expect.fact is Fact.RUN_NOT_ALIVE and obs.run is not None and run_alive(obs.run):
        attempt = obs.run.status.attempt if obs.run.status else "?"
        return f"run {run_name} is alive now (attempt {attempt}), and a launch would start a second training"
    if expect.fact is Fact.LATEST_CHECKPOINT and obs.run is not None:
        latest = obs.run.latest_complete_checkpoint
        now = latest.name if latest else None
        if now != expect.value:
            was = expect.value or "none"
            return (f"the latest complete checkpoint is now {now or 'none'}, not {was} as reviewed, so the "
                    "launch would not start from the reviewed point")
    return None


def _pod(obs: Observation, pod_id: str | None) -> PodFacts | None:
    live = [p for p in obs.pods if p.status is not PodStatus.TERMINATED]
    return next((p for p in live if p.id == pod_id), None)
