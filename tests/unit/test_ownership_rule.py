"""The rule for which pod is ours, as a decision table: state, pods, legacy POD_ID, --adopt -> the outcome.

Every command (plan, apply, status, logs, stop, destroy, sync-data, tensorboard) asks this one rule,
so this table is what they all agree on.
"""

from __future__ import annotations

import pytest

from podreconcile.core.errors import UserError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import Kind
from podreconcile.core.pod_commands import (
    destroy_plan,
    stop_after_visit,
    stop_plan,
    visit_plan,
)
from podreconcile.core.state import State

OURS = "podreconcile-demo"
R, X, T = PodStatus.RUNNING, PodStatus.EXITED, PodStatus.TERMINATED


def pod(pod_id: str, name: str = OURS, status: PodStatus = R) -> PodFacts:
    return PodFacts(id=pod_id, name=name, status=status)


def state(pod_id: str | None = None, pod_name: str | None = OURS) -> State:
    return State(pod_id=pod_id, pod_name=pod_name if pod_id else None)


# (case, state, pods, legacy POD_ID, --adopt) -> (acted-on pod, adopt?, foreign pod, stray ids)
TABLE = [
    ("nothing anywhere: none", state(), [], None, None, (None, False, None, ())),
    ("the state's pod", state("a"), [pod("a")], None, None, ("a", False, None, ())),
    ("the state's pod, another with our name is a stray", state("a"), [pod("a"), pod("b")], None, None,
     ("a", False, None, ("b",))),
    ("the state's pod terminated: found by name", state("a"), [pod("a", status=T), pod("b")], None, None,
     ("b", True, None, ())),
    ("no state: one pod with our name is adopted", state(), [pod("b")], None, None, ("b", True, None, ())),
    ("no state: two with our name, none picked", state(), [pod("b"), pod("c")], None, None,
     (None, False, None, ("b", "c"))),
    ("another spec's pod is never ours", state(), [pod("o", "podreconcile-other")], None, None,
     (None, False, None, ())),
    ("the state's pod renamed behind our back: foreign", state("a"), [pod("a", "my-pod")], None, None,
     (None, False, "a", ())),
    ("explicitly adopted under its own name: ours", state("a", "my-pod"), [pod("a", "my-pod")], None, None,
     ("a", False, None, ())),
    ("adopted under its own name, then renamed: foreign", state("a", "my-pod"), [pod("a", "again")], None, None,
     (None, False, "a", ())),
    ("an adopted pod renamed to our name is ours", state("a", "my-pod"), [pod("a")], None, None,
     ("a", False, None, ())),
    ("legacy POD_ID with our name: adopted (by name)", state(), [pod("l")], "l", None, ("l", True, None, ())),
    ("legacy POD_ID with another name: foreign", state(), [pod("l", "shell-script-pod")], "l", None,
     (None, False, "l", ())),
    ("legacy POD_ID loses to a pod with our name", state(), [pod("l", "x"), pod("b")], "l", None,
     ("b", True, None, ())),
    ("legacy POD_ID of a gone pod: none", state(), [pod("l", "x", T)], "l", None, (None, False, None, ())),
    ("stale state id + legacy POD_ID: the state file wins, none", state("gone"), [pod("l", "x")], "l", None,
     (None, False, None, ())),
    ("--adopt a foreign pod", state(), [pod("l", "x")], "l", "l", ("l", True, None, ())),
    ("--adopt the state's renamed pod", state("a"), [pod("a", "my-pod")], None, "a", ("a", True, None, ())),
    ("--adopt the pod already adopted: nothing to adopt", state("a", "x"), [pod("a", "x")], None, "a",
     ("a", False, None, ())),
]


@pytest.mark.parametrize("case, st, pods, legacy, adopt, expected", TABLE, ids=[row[0] for row in TABLE])
def test_which_pod_is_ours(case, st, pods, legacy, adopt, expected) -> None:
    owner = identify_pod(OURS, st, pods, legacy, adopt)
    got = (owner.pod.id if owner.pod else None, owner.adopt, owner.foreign.id if owner.foreign else None,
           tuple(p.id for p in owner.strays))
    assert got == expected, case
    assert (owner.blocker is not None) == (owner.foreign is not None)


def test_a_foreign_pod_blocks_with_the_exact_adopt_command() -> None:
    owner = identify_pod(OURS, state(), [pod("l", "shell-script-pod")], "l")
    assert owner.blocker.endswith("`podreconcile apply --adopt l`.") and "POD_ID=l in .runpod.env" in owner.blocker
    renamed = identify_pod(OURS, state("a"), [pod("a", "my-pod")])
    assert "renamed from 'podreconcile-demo'" in renamed.blocker and "--adopt a" in renamed.blocker


def test_adopting_a_pod_that_does_not_exist_is_refused() -> None:
    owner = identify_pod(OURS, state(), [pod("l", "x")], None, "nope")
    assert owner.pod is None and "nope" in owner.blocker


def test_a_stale_state_says_why_the_legacy_pod_id_is_not_used() -> None:
    owner = identify_pod(OURS, state("gone"), [pod("l", "x")], "l")
    assert "POD_ID=l" in owner.note and "--adopt l" in owner.note


# ---- the day-2 plans follow the same rule ----

def test_stop_and_destroy_refuse_a_foreign_pod_in_one_sentence() -> None:
    owner = identify_pod(OURS, state("a"), [pod("a", "my-pod")])
    for make in (lambda: stop_plan(owner, OURS), lambda: destroy_plan(owner, OURS, None),
                 lambda: visit_plan(owner, OURS, "logs")):
        with pytest.raises(UserError, match=r"^Pod a .*`podreconcile apply --adopt a`\.$"):
            make()


def test_stop_destroy_and_a_visit_act_on_our_pod_only() -> None:
    owner = identify_pod(OURS, state("a"), [pod("a", status=X), pod("o", "podreconcile-other")])
    assert stop_plan(owner, OURS).actions == () and "already stopped" in stop_plan(owner, OURS).summary
    (terminate,) = destroy_plan(owner, OURS, "nv-1").actions
    assert terminate.kind is Kind.TERMINATE_POD and terminate.pod_id == "a" and "nv-1 is kept" in terminate.reason
    visit = visit_plan(owner, OURS, "`logs --start`")
    assert [(a.kind, a.pod_id) for a in visit.actions] == [(Kind.START_POD, "a")]
    assert [(a.kind, a.pod_id) for a in stop_after_visit(visit).actions] == [(Kind.STOP_POD, "a")]
    running = identify_pod(OURS, state("a"), [pod("a")])
    assert [a.pod_id for a in stop_plan(running, OURS).actions] == ["a"]
    assert visit_plan(running, OURS, "x").actions == () and stop_after_visit(visit_plan(running, OURS, "x")).actions == ()


def test_no_pod_and_ambiguous_pods_are_refused() -> None:
    with pytest.raises(UserError, match="`podreconcile apply` creates it"):
        stop_plan(identify_pod(OURS, state(), []), OURS)
    with pytest.raises(UserError, match="will not pick one"):
        destroy_plan(identify_pod(OURS, state(), [pod("b"), pod("c")]), OURS, None)
