"""What a plan costs: the hourly price of the pod it would run, and the most max_runtime allows.

Pure: prices come from observation (RunPod's list of GPU types, or a stopped pod's own costPerHr).
"""

from __future__ import annotations

from podreconcile.core.desired import Desired
from podreconcile.core.observation import PodFacts
from podreconcile.core.plan import Cost, Kind, Plan

RENTING = (Kind.CREATE_POD, Kind.REPLACE_POD, Kind.START_POD)


def estimate(plan: Plan, desired: Desired, pods: tuple[PodFacts, ...], prices: dict[str, float]) -> Cost | None:
    """The cost of the first action that rents a GPU, or None when the plan rents none."""
    action = next((a for a in plan.actions if a.kind in RENTING), None)
    if action is None:
        return None
    count = int(desired.pod_config.get("gpu_count", 1))
    if action.kind is Kind.START_POD:
        pod = next((p for p in pods if p.id == action.pod_id), None)
        if pod and pod.cost_per_hr:
            return Cost(pod.gpu_display_name or pod.gpu_type_id or "?", pod.gpu_count or count,
                        pod.cost_per_hr, desired.max_runtime_s)
        gpus = (pod.gpu_type_id,) if pod and pod.gpu_type_id else desired.gpu_types
    else:
        gpus = action.gpus_to_try  # the first candidate with stock (every type when the catalog was not read)
    priced = [g for g in gpus if prices.get(g) is not None]
    if not priced:
        return None
    return Cost(priced[0], count, round(prices[priced[0]] * count, 3), desired.max_runtime_s)
