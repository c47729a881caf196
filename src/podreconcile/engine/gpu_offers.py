"""RunPod's GPU catalog for a plan: one read, only when the plan rents a pod.

The catalog (v2, with availability, for the data center a network volume pins) gives every GPU
type's stock and price: the plan shows each candidate with them, the cost uses the first with
stock, and preflight checks the names against it. A spot spec's prices come from GraphQL while
RunPod serves it; once GraphQL is gone that read fails with the sentence saying how to switch.
"""

from __future__ import annotations

from dataclasses import replace

from podreconcile.core import cost, gpu_choice
from podreconcile.core.errors import UserError
from podreconcile.core.plan import Plan
from podreconcile.core.ports import ApiRetiredError, GpuOffer, Provider
from podreconcile.core.spec import Spec
from podreconcile.engine import retry


def read(provider: Provider, spec: Spec, plan: Plan) -> dict[str, GpuOffer]:
    """GPU type id -> offer, for the plan's cloud, GPU count and pinned data center; {} when it rents nothing."""
    if not any(a.kind in cost.RENTING for a in plan.actions):
        return {}
    pod = spec.pod
    data_center = next((a.data_center for a in plan.actions if a.kind in gpu_choice.NEW_POD and a.data_center), None)
    offers = {o.id: o for o in retry.call(lambda: provider.gpu_catalog(data_center, pod.cloud, pod.gpu_count))}
    if not pod.interruptible:
        return offers
    try:
        spot = retry.call(lambda: provider.gpu_prices(pod.cloud, True))
    except ApiRetiredError as error:
        raise UserError(f"{spec.source.where('pod', 'interruptible')}: {error}") from None
    return {gpu: replace(offer, price_per_gpu=spot.get(gpu)) for gpu, offer in offers.items()}


def spot_note(spec: Spec) -> tuple[str, ...]:
    """While RunPod still rents spot pods: say that it is retiring them, and what to do then."""
    if not spec.pod.interruptible:
        return ()
    return ("pod.interruptible: spot pods exist only in RunPod's GraphQL API, which RunPod is retiring (early 2027); "
            "once it is gone this spec fails until it is switched to on-demand (pod.interruptible: false, no "
            "pod.bid_per_gpu)",)
