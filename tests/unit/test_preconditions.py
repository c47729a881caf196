"""What apply checks before each reviewed step: already done (skipped, said so) or the world moved
(stop, naming the difference). Hand-built facts in, a sentence or None out."""

from __future__ import annotations

from dataclasses import replace

from podreconcile.core import preconditions
from podreconcile.core.observation import PodStatus
from podreconcile.core.plan import (
    Action,
    Expect,
    Fact,
    FieldChange,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)
from podreconcile.core.run_observation import RunState
from podreconcile.core.state import State
from tests.unit.test_planner import (
    IN_PLACE,
    NAME,
    POD,
    RUN,
    ckpt,
    obs,
    pod,
    run,
    state,
    status,
)

START = Action(Kind.START_POD, "stopped", pod_id=POD, expects=(Expect(Fact.POD_STATUS, "EXITED"),))
RESUME = Action(Kind.LAUNCH_RUN, "interrupted", mode=LaunchMode.RESUME, checkpoint="checkpoint-20", step=20,
                expects=(Expect(Fact.RUN_NOT_ALIVE), Expect(Fact.LATEST_CHECKPOINT, "checkpoint-20")))
CREATE = Action(Kind.CREATE_POD, "none", expects=(Expect(Fact.NO_POD),))


def differs(action, world, st=None) -> str | None:
    return preconditions.difference(action, world, st or state(), NAME, RUN)


def test_a_start_of_a_pod_already_running_is_done() -> None:
    assert preconditions.already_done(START, obs(pod()), state(), Plan()) == f"pod {POD} is already running"
    assert preconditions.already_done(START, obs(pod(status=PodStatus.EXITED)), state(), Plan()) is None


def test_a_start_of_a_pod_that_v2_reports_starting_is_done_not_a_moved_world() -> None:
    starting = obs(pod(status=PodStatus.STARTING))
    assert preconditions.already_done(START, starting, state(), Plan()) == f"pod {POD} is already starting"


def test_a_pod_v2_reports_starting_meets_an_expected_running() -> None:
    stop = Action(Kind.STOP_POD, "idle", pod_id=POD, expects=(Expect(Fact.POD_STATUS, "RUNNING"),))
    assert differs(stop, obs(pod(status=PodStatus.STARTING))) is None
    assert differs(stop, obs(pod(status=PodStatus.EXITED))) == f"pod {POD} is EXITED, not RUNNING as when the plan was made"


def test_an_update_is_done_when_the_fresh_plan_has_neither_an_update_nor_an_in_place_deferral() -> None:
    update = Action(Kind.UPDATE_POD, "image", pod_id=POD, restart=False,
                    changes=(FieldChange("image", "a", "b", IN_PLACE),))
    assert preconditions.already_done(update, obs(pod()), state(), Plan()) == f"pod {POD} already has the changes"
    assert preconditions.already_done(update, obs(pod()), state(), Plan((update,))) is None
    waiting = Plan(deferred=update.changes, deferred_code=Reason.RUN_ALIVE)
    assert preconditions.already_done(update, obs(pod()), state(), waiting) is None


def test_a_start_of_a_pod_that_is_gone_names_it() -> None:
    assert differs(START, obs()) == f"pod {POD} no longer exists"


def test_a_resume_whose_checkpoint_is_no_longer_the_latest_names_both() -> None:
    newer = obs(pod(), run_=run(status(RunState.RUNNING), checkpoints=(ckpt(20), ckpt(30))))
    assert differs(RESUME, newer) == ("the latest complete checkpoint is now checkpoint-30, not checkpoint-20 as "
                                      "reviewed, so the launch would not start from the reviewed point")
    same = obs(pod(), run_=run(status(RunState.RUNNING), checkpoints=(ckpt(20), ckpt(30, complete=False))))
    assert differs(RESUME, same) is None


def test_a_launch_while_the_run_is_alive_is_refused() -> None:
    alive = obs(pod(), run_=run(status(RunState.RUNNING), alive=True, checkpoints=(ckpt(20),)))
    assert "is alive now (attempt 2)" in differs(RESUME, alive)


def test_a_create_when_a_pod_with_our_name_appeared_is_refused() -> None:
    assert "now exists" in differs(CREATE, obs(pod()), State())
    assert differs(CREATE, obs(), State()) is None


def test_adopting_the_state_files_pod_after_a_rename_is_not_done_until_the_name_is_recorded() -> None:
    adopt = Action(Kind.ADOPT_POD, "--adopt", pod_id=POD)
    renamed = obs(pod(name="renamed-in-the-console"))
    assert preconditions.already_done(adopt, renamed, state(), Plan()) is None
    assert preconditions.already_done(adopt, renamed, replace(state(), pod_name="renamed-in-the-console"),
                                      Plan()) == f"pod {POD} is already in the state file"
    assert preconditions.already_done(adopt, obs(pod()), state(pod_id=None), Plan()) is None


def test_a_sync_the_fresh_plan_no_longer_needs_is_done() -> None:
    sync = Action(Kind.SYNC_CODE, "changed")
    world = obs(pod(), run_=run(status(RunState.FAILED, exit_code=1)))
    assert preconditions.already_done(sync, world, state(), Plan((Action(Kind.LAUNCH_RUN, "x"),))) is not None
    assert preconditions.already_done(sync, world, state(), Plan((sync,))) is None
    assert preconditions.already_done(sync, replace(world, run=None), state(), Plan()) is None  # unknown: not done


def test_run_succeeded_only_when_the_volume_says_so() -> None:
    assert preconditions.run_succeeded(obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))), RUN)
    assert not preconditions.run_succeeded(obs(pod(), run_=run(status(RunState.FAILED, exit_code=1))), RUN)
    assert not preconditions.run_succeeded(obs(pod()), RUN)
