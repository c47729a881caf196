"""The GPU candidates of a new pod: the catalog's stock and price in the plan, and what apply tries (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core import cost, gpu_choice
from podreconcile.core.desired import Desired
from podreconcile.core.plan import Action, Kind, Plan
from podreconcile.core.ports import GpuOffer, StockLevel

GPUS = ("NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000", "NVIDIA L40S")
DESIRED = Desired(pod_name="podreconcile-demo", run_name="demo", gpu_types=GPUS, pod_config={"gpu_count": 2},
                  has_network_volume=False, stop_pod_when_done=True, max_runtime_s=7200)


def offer(gpu: str, stock: StockLevel, price: float | None = 0.5) -> GpuOffer:
    return GpuOffer(gpu, gpu, 24, price, stock)


def create_plan(gpus=GPUS) -> Plan:
    return Plan((Action(Kind.CREATE_POD, "no pod exists for this spec", gpu_types=gpus),
                 Action(Kind.SYNC_CODE, "a new pod has no code")))


@given(levels=st.lists(st.sampled_from(list(StockLevel)), min_size=len(GPUS), max_size=len(GPUS)))
def test_apply_tries_the_candidates_with_stock_in_the_spec_s_order(levels) -> None:
    offers = {gpu: offer(gpu, level) for gpu, level in zip(GPUS, levels)}
    create = gpu_choice.with_candidates(create_plan(), offers).actions[0]
    assert [c.gpu for c in create.candidates] == list(GPUS)
    assert create.gpus_to_try == tuple(g for g, level in zip(GPUS, levels) if level is not StockLevel.NONE)
    assert gpu_choice.without_stock(Plan((create,))) == (not create.gpus_to_try)


def test_a_type_the_catalog_lacks_has_no_stock_and_no_price() -> None:
    create = gpu_choice.with_candidates(create_plan(), {GPUS[0]: offer(GPUS[0], StockLevel.LOW, 0.69)}).actions[0]
    assert [(c.stock, c.price_per_gpu) for c in create.candidates] == [("LOW", 0.69), ("NONE", None), ("NONE", None)]


def test_without_a_catalog_every_type_is_tried_and_other_actions_are_untouched() -> None:
    plan = create_plan()
    assert gpu_choice.with_candidates(plan, {}) == plan
    assert plan.actions[0].gpus_to_try == GPUS
    annotated = gpu_choice.with_candidates(plan, {g: offer(g, StockLevel.HIGH) for g in GPUS})
    assert annotated.actions[1] == plan.actions[1]


def test_the_cost_is_the_first_candidate_with_stock() -> None:
    offers = {GPUS[0]: offer(GPUS[0], StockLevel.NONE, 0.69), GPUS[1]: offer(GPUS[1], StockLevel.LOW, 0.76),
              GPUS[2]: offer(GPUS[2], StockLevel.HIGH, 1.0)}
    plan = gpu_choice.with_candidates(create_plan(), offers)
    prices = {g: o.price_per_gpu for g, o in offers.items()}
    estimate = cost.estimate(plan, DESIRED, (), prices)
    assert (estimate.gpu, estimate.gpu_count, estimate.per_hour) == (GPUS[1], 2, 1.52)
