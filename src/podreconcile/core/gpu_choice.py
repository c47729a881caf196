"""Which GPU type a new pod gets: the spec's candidates in order, as RunPod's catalog shows them.

v2's create places exactly one GPU type and never falls back, so the plan reads the catalog once
(with the data center a network volume pins) and shows every candidate of `pod.gpu_types` with its
stock and price. Apply tries them in that order, one create each, skipping those the plan showed
without stock. Pure: the offers come from the engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from podreconcile.core.plan import Action, GpuCandidate, Kind, Plan
from podreconcile.core.ports import GpuOffer

NEW_POD = (Kind.CREATE_POD, Kind.REPLACE_POD)


def with_candidates(plan: Plan, offers: Mapping[str, GpuOffer]) -> Plan:
    """The plan with each new pod's GPU candidates priced and stocked (unchanged without offers)."""
    if not offers:
        return plan
    actions = tuple(_annotated(a, offers) if a.kind in NEW_POD else a for a in plan.actions)
    return replace(plan, actions=actions)


def candidates(gpu_types: tuple[str, ...], offers: Mapping[str, GpuOffer]) -> tuple[GpuCandidate, ...]:
    """Each GPU type with the catalog's stock and price; a type the catalog lacks has no stock."""
    found = []
    for gpu in gpu_types:
        offer = offers.get(gpu)
        found.append(GpuCandidate(gpu, offer.stock.value if offer else "NONE",
                                  offer.price_per_gpu if offer else None))
    return tuple(found)


def _annotated(action: Action, offers: Mapping[str, GpuOffer]) -> Action:
    return replace(action, candidates=candidates(action.gpu_types, offers))


def without_stock(plan: Plan) -> bool:
    """A new pod is planned and none of its candidates has stock: apply would have nothing to try."""
    return any(a.kind in NEW_POD and a.candidates and not a.gpus_to_try for a in plan.actions)
