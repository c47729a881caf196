"""The plans of the day-2 commands that change the pod: `stop`, `destroy`, and the short visit that
`logs --start` and `sync-data` pay to a stopped pod (start it, then stop it again).

Pure, like the planner: which pod they act on comes from `core.ownership`, the rule every command
shares, so `destroy` can never terminate a pod that `plan` does not consider ours.
"""

from __future__ import annotations

from podreconcile.core.errors import UserError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.ownership import Ownership
from podreconcile.core.plan import Action, Kind, Plan, Reason


def our_pod(owner: Ownership, pod_name: str) -> PodFacts:
    """The pod a day-2 command may act on, or a UserError saying in one sentence why there is none."""
    if owner.blocker:
        raise UserError(owner.blocker)
    if owner.pod is None and len(owner.strays) > 1:
        ids = ", ".join(p.id for p in owner.strays)
        raise UserError(f"Several pods are named {pod_name} ({ids}); podreconcile will not pick one. "
                        "Terminate the extra ones in the RunPod console, then try again.")
    if owner.pod is None:
        raise UserError(f"No pod exists for {pod_name}; `podreconcile apply` creates it.")
    return owner.pod


def stop_plan(owner: Ownership, pod_name: str) -> Plan:
    pod = our_pod(owner, pod_name)
    if pod.status is PodStatus.EXITED:
        return Plan(summary=f"Pod {pod.id} is already stopped.")
    stop = Action(Kind.STOP_POD, "`podreconcile stop`: the volume keeps code, data, checkpoints and logs",
                  code=Reason.USER_STOP, pod_id=pod.id)
    return Plan((stop,), summary=f"Pod {pod.id} stops; `podreconcile apply` starts it and resumes training.")


def destroy_plan(owner: Ownership, pod_name: str, network_volume: str | None) -> Plan:
    pod = our_pod(owner, pod_name)
    kept = (f"network volume {network_volume} is kept, with its data" if network_volume
            else "its volume disk, with the checkpoints on it, goes too")
    terminate = Action(Kind.TERMINATE_POD, f"`podreconcile destroy`: {kept}", code=Reason.USER_DESTROY, pod_id=pod.id)
    return Plan((terminate,), summary=f"Pod {pod.id} is terminated for good and the state file cleared.")


def visit_plan(owner: Ownership, pod_name: str, why: str) -> Plan:
    """Start the pod for `why` if it is stopped (`stop_after_visit` stops it again afterwards)."""
    pod = our_pod(owner, pod_name)
    if pod.status.is_up:
        return Plan(summary=f"Pod {pod.id} is running.")
    if pod.status is not PodStatus.EXITED:
        raise UserError(f"Pod {pod.id} reports status {pod.status.value}; check it in the RunPod console, then try again.")
    return Plan((Action(Kind.START_POD, why, code=Reason.VISIT, pod_id=pod.id),), summary=f"Pod {pod.id} starts for a moment.")


def stop_after_visit(visit: Plan) -> Plan:
    """The pods a visit started are stopped again: it leaves the pod as it found it."""
    return Plan(tuple(Action(Kind.STOP_POD, "leaving the pod stopped, as it was found", code=Reason.VISIT, pod_id=a.pod_id)
                      for a in visit.actions if a.kind is Kind.START_POD))
