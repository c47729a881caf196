"""The pure planner as a decision table: hand-built facts in, the exact plan out. No I/O, no mocks.

The grid crosses the pod's state, the run's state, the checkpoints on the volume and
`--force-restart`; the rows after it pin the cases the grid cannot express (which pod is ours,
replacements, a refused start, code sync).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from podreconcile.core.desired import Desired
from podreconcile.core.observation import (
    CodeFacts,
    Endpoint,
    Observation,
    PodFacts,
    PodStatus,
    VolumeFacts,
    env_digest,
)
from podreconcile.core.plan import (
    Contingency,
    Expect,
    Fact,
    FieldChange,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)
from podreconcile.core.planner import Options, plan
from podreconcile.core.run_observation import Checkpoint, RunFacts, RunState, RunStatus
from podreconcile.core.state import LastRun, State

NAME = "podreconcile-demo"
RUN = "demo"
NV = "nv-abc123"
GPUS = ("NVIDIA A40", "NVIDIA RTX A6000")
IMAGE = "runpod/pytorch:2.4.0"
POD = "pod-ours"

C, S, R, ST, L, AD, SY = (Kind.CREATE_POD, Kind.START_POD, Kind.REPLACE_POD, Kind.STOP_POD,
                          Kind.LAUNCH_RUN, Kind.ADOPT_POD, Kind.SYNC_CODE)
UP = Kind.UPDATE_POD


# ---- fact constructors ----

def desired(*, network_volume: str | None = NV, stop_pod_when_done: bool = True, image: str = IMAGE,
            gpu_count: int = 1, gpu_types: tuple[str, ...] = GPUS, volume_gb: int = 20,
            env: dict | None = None, ports: list | None = None, container_disk_gb: int = 30) -> Desired:
    config = {"image": image, "gpu_count": gpu_count, "cloud": "SECURE", "interruptible": False,
              "bid_per_gpu": None, "network_volume": network_volume, "volume_mount_path": "/workspace",
              "container_disk_gb": container_disk_gb, "volume_gb": None if network_volume else volume_gb,
              "ports": ports or ["22/tcp"], "env": {k: env_digest(v) for k, v in (env or {}).items()}}
    return Desired(pod_name=NAME, run_name=RUN, gpu_types=gpu_types, pod_config=config,
                   has_network_volume=network_volume is not None, stop_pod_when_done=stop_pod_when_done)


def pod(pod_id: str = POD, status: PodStatus = PodStatus.RUNNING, *, name: str = NAME, booting: bool = False,
        image: str = IMAGE, gpu_type_id: str = GPUS[0], gpu_count: int = 1,
        network_volume: str | None = NV) -> PodFacts:
    running = status is PodStatus.RUNNING
    return PodFacts(id=pod_id, name=name, status=status, last_status_change="Exited by user" if not running else "",
                    image=image, gpu_type_id=gpu_type_id, gpu_count=gpu_count, interruptible=False,
                    network_volume_id=network_volume,
                    ssh=Endpoint("203.0.113.7", 40022) if running and not booting else None)


def recorded(d: Desired, gpu: str = GPUS[0], **overrides) -> dict:
    """What apply writes to the state file at create: the spec's immutable fields plus the GPU type."""
    return {**d.pod_config, "gpu_type_id": gpu, **overrides}


def state(d: Desired | None = None, *, pod_id: str | None = POD, last_run: LastRun | None = None,
          **config_overrides) -> State:
    d = d or desired()
    return State(pod_id=pod_id, pod_name=NAME, pod_config=recorded(d, **config_overrides) if pod_id else None,
                 last_run=last_run)


def status(state_: RunState, attempt: int = 2, exit_code: int | None = None, launch_id: str | None = "L2") -> RunStatus:
    return RunStatus(run=RUN, state=state_, attempt=attempt, exit_code=exit_code, started_at=None,
                     ended_at=None, resumed_from=None, revision="abc1234", launch_id=launch_id)


def ckpt(step: int, complete: bool = True) -> Checkpoint:
    return Checkpoint(name=f"checkpoint-{step}", step=step, complete=complete)


def run(st: RunStatus | None = None, *, alive: bool = False, tmux: bool | None = None,
        checkpoints: tuple[Checkpoint, ...] = (), launch_id: str | None = None) -> RunFacts:
    return RunFacts(status=st, tmux_alive=alive if tmux is None else tmux, runner_alive=alive,
                    checkpoints=checkpoints, revision="abc1234", log_tail=None, has_rsync=True,
                    launch_id=launch_id if launch_id is not None else (st.launch_id if st else None))


def code(files: int | None = 2, size: int | None = 4096, delete: int | None = 0, *, remote: str | None = "0ld0ld0",
         revision: str = "abc1234") -> CodeFacts:
    return CodeFacts(revision=revision, dirty=False, files_to_send=files, bytes_to_send=size,
                     files_to_delete=delete, remote_revision=remote)


def obs(*pods: PodFacts, run_: RunFacts | None = None, code_: CodeFacts | None = None,
        start_refused: bool = False) -> Observation:
    return Observation(pods=pods, run=run_, code=code_ if code_ is not None else code(), start_refused=start_refused)


def last(state_: str, attempt: int = 2, exit_code: int | None = None, run_name: str = RUN) -> LastRun:
    return LastRun(run_name, state_, attempt, exit_code, "2026-11-29T08:00:00+00:00")


def check_reasons(result: Plan) -> None:
    for action in result.actions:
        assert action.reason.strip() and action.code is not None, action


# ---- the grid ----

POD_CASES = ("none", "running", "booting", "exited", "exited_succeeded")
RUN_CASES = ("no_status", "alive", "dead", "failed", "succeeded")
CKPT_CASES = ("none", "3_20_and_incomplete_30")

RUN_STATUS = {
    "no_status": None,
    "alive": status(RunState.RUNNING),
    "dead": status(RunState.RUNNING),  # status.json still says running: the pod stopped or was preempted
    "failed": status(RunState.FAILED, exit_code=3),
    "succeeded": status(RunState.SUCCEEDED, exit_code=0),
}
# Listed out of numeric order on purpose: "checkpoint-3" > "checkpoint-20" as text.
CHECKPOINTS = {"none": (), "3_20_and_incomplete_30": (ckpt(20), ckpt(3), ckpt(30, complete=False))}

# What a running pod whose run is known needs, by run state: (without --force-restart, with it).
RUNNING_KNOWN = {
    "no_status": ("launch", "launch"),
    "alive": ("nothing", "blocked"),  # never a second training, even when forced
    "dead": ("launch", "launch"),
    "failed": ("launch", "launch"),
    "succeeded": ("stop", "launch"),
}


def grid_world(pod_case: str, run_case: str, ckpt_case: str) -> tuple[State, Observation]:
    """The run's facts reach the planner only from a running pod that answers over SSH."""
    facts = run(RUN_STATUS[run_case], alive=run_case == "alive", checkpoints=CHECKPOINTS[ckpt_case])
    if pod_case == "none":
        return State(), obs()
    if pod_case == "running":
        return state(last_run=last("running")), obs(pod(), run_=facts)
    if pod_case == "booting":
        return state(), obs(pod(booting=True))
    if pod_case == "exited":
        return state(), obs(pod(status=PodStatus.EXITED))
    return state(last_run=last("succeeded", exit_code=0)), obs(pod(status=PodStatus.EXITED))


def expected(pod_case: str, run_case: str, ckpt_case: str, force: bool):
    """(kinds, launch mode, checkpoint, step, blocked)."""
    unknown_mode = LaunchMode.FORCE_RESTART if force else LaunchMode.AUTO
    if pod_case == "none":
        return [C, SY, L], unknown_mode, None, None, False
    if pod_case == "booting":
        return [SY, L], unknown_mode, None, None, False
    if pod_case == "exited":
        return [S, SY, L], unknown_mode, None, None, False
    if pod_case == "exited_succeeded":
        return ([S, SY, L], LaunchMode.FORCE_RESTART, None, None, False) if force else ([], None, None, None, False)
    outcome = RUNNING_KNOWN[run_case][force]
    if outcome == "nothing":
        return [], None, None, None, False
    if outcome == "blocked":
        return [], None, None, None, True
    if outcome == "stop":
        return [ST], None, None, None, False
    if force:
        return [SY, L], LaunchMode.FORCE_RESTART, None, None, False
    if ckpt_case == "none":
        return [SY, L], LaunchMode.FRESH, None, None, False
    return [SY, L], LaunchMode.RESUME, "checkpoint-20", 20, False


GRID = list(itertools.product(POD_CASES, RUN_CASES, CKPT_CASES, (False, True)))


@pytest.mark.parametrize("pod_case,run_case,ckpt_case,force", GRID,
                         ids=[f"{p}-{r}-ckpt_{c}-{'force' if f else 'noforce'}" for p, r, c, f in GRID])
def test_decision_grid(pod_case: str, run_case: str, ckpt_case: str, force: bool) -> None:
    st, ob = grid_world(pod_case, run_case, ckpt_case)
    result = plan(desired(), st, ob, Options(force_restart=force))

    kinds, mode, checkpoint, step, blocked = expected(pod_case, run_case, ckpt_case, force)
    assert result.kinds() == kinds
    assert (result.blocker is not None) == blocked
    check_reasons(result)
    launches = [a for a in result.actions if a.kind is L]
    if launches:
        (launch,) = launches
        assert (launch.mode, launch.checkpoint, launch.step) == (mode, checkpoint, step)
    for action in result.actions:
        if action.kind in (S, ST):
            assert action.pod_id == POD
    if pod_case == "running" and ckpt_case != "none":
        assert any("checkpoint-30" in n and "incomplete" in n for n in result.notes)
    else:
        assert not any("incomplete" in n for n in result.notes)
    assert result.summary


# ---- reasons and summaries the grid does not look at ----

def test_failed_run_relaunch_says_the_exit_code() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.FAILED, attempt=4, exit_code=3))))
    assert "attempt 4 failed with exit code 3" in result.actions[-1].reason


def test_dead_run_relaunch_says_it_is_no_longer_alive() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.RUNNING), checkpoints=(ckpt(5),))))
    assert "no longer alive" in result.actions[-1].reason
    assert "preempted" in result.actions[-1].reason


def test_alive_and_forced_is_a_blocker_never_a_second_training() -> None:
    facts = run(status(RunState.RUNNING), alive=True, checkpoints=(ckpt(20),))
    result = plan(desired(), state(), obs(pod(), run_=facts), Options(force_restart=True))
    assert result.actions == ()
    assert "never starts a second one" in result.blocker
    assert not result.empty


def test_succeeded_run_without_stop_when_done_proposes_nothing() -> None:
    d = desired(stop_pod_when_done=False)
    result = plan(d, state(d), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))))
    assert result.empty
    assert "succeeded" in result.summary and "Nothing to do" in result.summary


def test_succeeded_run_stops_the_idle_pod() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))))
    assert result.kinds() == [ST]
    assert result.actions[0].pod_id == POD and "idle" in result.actions[0].reason


@pytest.mark.parametrize("last_state,exit_code", [("running", None), ("failed", 1), ("setup", None)])
def test_stopped_pod_whose_run_did_not_succeed_is_started_and_relaunched(last_state: str, exit_code) -> None:
    result = plan(desired(), state(last_run=last(last_state, attempt=3, exit_code=exit_code)),
                  obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [S, SY, L]
    assert result.actions[-1].mode is LaunchMode.AUTO
    expected = "attempt 3 failed with exit code 1" if exit_code else f"last seen {last_state} (attempt 3)"
    assert expected in result.actions[-1].reason
    check_reasons(result)


def test_stopped_pod_succeeded_under_another_run_name_is_started() -> None:
    st = state(last_run=last("succeeded", exit_code=0, run_name="an-older-run"))
    result = plan(desired(), st, obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [S, SY, L]


def test_new_pod_without_network_volume_launches_fresh() -> None:
    d = desired(network_volume=None)
    result = plan(d, State(), obs(code_=code(None, None, None, remote=None)))
    assert result.kinds() == [C, SY, L]
    assert result.actions[0].gpu_types == GPUS
    assert result.actions[-1].mode is LaunchMode.FRESH
    assert result.actions[0].reason == "no pod exists for this spec"


def test_pod_that_did_not_answer_over_ssh() -> None:
    result = plan(desired(), state(), obs(pod()))  # running with an SSH port, but no run facts
    assert result.kinds() == [SY, L]
    assert "did not answer over SSH" in result.actions[0].reason
    assert result.actions[1].mode is LaunchMode.AUTO


def test_pod_in_an_unknown_status_is_a_blocker() -> None:
    result = plan(desired(), state(), obs(pod(status=PodStatus.UNKNOWN)))
    assert result.actions == () and "UNKNOWN" in result.blocker


# ---- rung 1: which pod is ours ----

def test_pod_found_by_name_without_state_is_adopted_first() -> None:
    facts = run(status(RunState.RUNNING), checkpoints=(ckpt(3), ckpt(20)))
    result = plan(desired(), State(), obs(pod(), run_=facts))
    assert result.kinds() == [AD, SY, L]
    assert result.actions[0].pod_id == POD
    assert "found by its name" in result.actions[0].reason
    assert (result.actions[-1].mode, result.actions[-1].checkpoint) == (LaunchMode.RESUME, "checkpoint-20")


def test_stopped_pod_found_by_name_is_adopted_then_started() -> None:
    result = plan(desired(), State(), obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [AD, S, SY, L]


def test_alive_pod_found_by_name_is_adopted_and_left_alone() -> None:
    result = plan(desired(), State(), obs(pod(), run_=run(status(RunState.RUNNING), alive=True)))
    assert result.kinds() == [AD]
    assert result.blocker is None


def test_legacy_pod_id_with_our_name_is_adopted() -> None:
    result = plan(desired(), State(), obs(pod("pod-legacy"), run_=run(None)), Options(legacy_pod_id="pod-legacy"))
    assert result.kinds() == [AD, SY, L]
    assert result.actions[0].pod_id == "pod-legacy"


def test_legacy_pod_id_with_another_name_is_proposed_for_explicit_adoption() -> None:
    legacy = pod("pod-legacy", name="my-old-pod")
    result = plan(desired(), State(), obs(legacy, run_=run(None)), Options(legacy_pod_id="pod-legacy"))
    assert result.kinds() == [] and "proposed for adoption" in result.summary
    assert "`podreconcile apply --adopt pod-legacy`" in result.blocker and "POD_ID" in result.blocker
    adopted = plan(desired(), State(), obs(legacy, run_=run(None)),
                   Options(legacy_pod_id="pod-legacy", adopt_pod_id="pod-legacy"))
    assert adopted.kinds() == [AD, SY, L] and "--adopt" in adopted.actions[0].reason


def test_a_renamed_state_pod_is_not_acted_on_nor_replaced_by_a_new_one() -> None:
    result = plan(desired(), state(), obs(pod(name="renamed-in-the-console", status=PodStatus.EXITED)))
    assert result.kinds() == [] and "`podreconcile apply --adopt pod-ours`" in result.blocker
    assert "renamed" in result.blocker


def test_a_pod_with_our_name_wins_over_the_legacy_pod_id() -> None:
    result = plan(desired(), State(), obs(pod("pod-legacy", name="my-old-pod"), pod(), run_=run(None)),
                  Options(legacy_pod_id="pod-legacy"))
    assert result.actions[0].kind is AD and result.actions[0].pod_id == POD


def test_legacy_pod_id_of_a_pod_that_is_gone_creates() -> None:
    result = plan(desired(), State(), obs(), Options(legacy_pod_id="pod-gone"))
    assert result.kinds() == [C, SY, L]


@pytest.mark.parametrize("gone", ["missing", "terminated"])
def test_state_pod_gone_creates_a_new_one(gone: str) -> None:
    pods = () if gone == "missing" else (pod(status=PodStatus.TERMINATED),)
    result = plan(desired(), state(last_run=last("running")), obs(*pods))
    assert result.kinds() == [C, SY, L]
    assert result.actions[0].reason == "the pod in the state file no longer exists"
    assert result.actions[-1].mode is LaunchMode.AUTO  # the network volume may hold checkpoints


def test_state_pod_gone_but_one_named_pod_is_adopted_not_duplicated() -> None:
    result = plan(desired(), state(pod_id="pod-gone"), obs(pod("pod-other", status=PodStatus.EXITED)))
    assert result.kinds() == [AD, S, SY, L]
    assert result.actions[0].pod_id == "pod-other"


def test_two_pods_with_the_name_and_no_state_are_stopped_never_adopted() -> None:
    pods = (pod("pod-a"), pod("pod-b"), pod("pod-c", status=PodStatus.EXITED))
    result = plan(desired(), State(), obs(*pods, run_=run(None)))
    assert result.kinds() == [ST, ST]
    assert [a.pod_id for a in result.actions] == ["pod-a", "pod-b"]
    assert AD not in result.kinds() and C not in result.kinds()
    assert result.blocker and all(p in result.blocker for p in ("pod-a", "pod-b", "pod-c"))
    check_reasons(result)


def test_two_stopped_pods_with_the_name_block_without_actions() -> None:
    pods = (pod("pod-a", status=PodStatus.EXITED), pod("pod-b", status=PodStatus.EXITED))
    result = plan(desired(), State(), obs(*pods))
    assert result.actions == () and result.blocker


def test_stray_pod_with_our_name_beside_the_state_pod_is_stopped() -> None:
    facts = run(status(RunState.RUNNING), alive=True)
    result = plan(desired(), state(), obs(pod(), pod("pod-stray"), run_=facts))
    assert result.kinds() == [ST]
    assert result.actions[0].pod_id == "pod-stray"
    assert "state file does not name" in result.actions[0].reason
    assert result.blocker is None


def test_stray_stop_comes_before_our_pod_actions() -> None:
    result = plan(desired(), state(), obs(pod(status=PodStatus.EXITED), pod("pod-stray")))
    assert result.kinds() == [ST, S, SY, L]
    assert [a.pod_id for a in result.actions[:2]] == ["pod-stray", POD]


def test_stopped_stray_is_left_alone() -> None:
    facts = run(status(RunState.RUNNING), alive=True)
    result = plan(desired(), state(), obs(pod(), pod("pod-stray", status=PodStatus.EXITED), run_=facts))
    assert result.empty


# ---- rung 2: can the pod serve the spec ----

REPLACES = "forces a replacement"
IN_PLACE = "changed in place"
REPLACEMENTS = [
    # (what the spec now says, what the state recorded, the expected change)
    ("gpu_count", dict(gpu_count=2), {}, FieldChange("gpu_count", 1, 2, REPLACES)),
    ("network_volume", dict(network_volume="nv-new"), {}, FieldChange("network_volume", NV, "nv-new", REPLACES)),
    ("gpu_type", {}, dict(gpu="NVIDIA H100 80GB HBM3"),
     FieldChange("gpu_type", "NVIDIA H100 80GB HBM3", list(GPUS), REPLACES)),
]


@pytest.mark.parametrize("field,spec_now,recorded_with,change", REPLACEMENTS, ids=[r[0] for r in REPLACEMENTS])
@pytest.mark.parametrize("pod_status", [PodStatus.RUNNING, PodStatus.EXITED])
def test_immutable_field_change_replaces_the_pod(field, spec_now, recorded_with, change, pod_status) -> None:
    d = desired(**spec_now)
    st = State(pod_id=POD, pod_name=NAME, pod_config=recorded(desired(), **recorded_with), last_run=last("running"))
    facts = run(status(RunState.RUNNING), checkpoints=(ckpt(20),)) if pod_status is PodStatus.RUNNING else None
    result = plan(d, st, obs(pod(status=pod_status), run_=facts))
    assert result.kinds() == [R, SY, L]
    replace = result.actions[0]
    assert replace.pod_id == POD
    assert replace.changes == (change,)
    assert replace.gpu_types == d.gpu_types
    assert change.field in replace.reason and "cannot change in place" in replace.reason
    check_reasons(result)


def test_replacement_without_network_volume_warns_the_data_goes() -> None:
    d = desired(network_volume=None, gpu_count=2)
    st = State(pod_id=POD, pod_config=recorded(desired(network_volume=None)))
    result = plan(d, st, obs(pod(network_volume=None)))
    assert result.kinds() == [R, SY, L]
    assert "data go with it" in result.actions[0].reason
    assert result.actions[-1].mode is LaunchMode.FRESH


def test_several_changes_are_all_listed_with_their_policies() -> None:
    d = desired(image="new:1", gpu_count=4)
    result = plan(d, state(), obs(pod()))
    assert result.kinds()[0] is R
    assert {(c.field, c.policy) for c in result.actions[0].changes} == {("image", IN_PLACE), ("gpu_count", REPLACES)}


def test_second_gpu_type_of_the_list_is_not_a_change() -> None:
    result = plan(desired(), state(gpu=GPUS[1]), obs(pod(gpu_type_id=GPUS[1]), run_=run(None, alive=True)))
    assert result.empty


def test_volume_gb_is_ignored_with_a_network_volume() -> None:
    st = state(volume_gb=100)  # the pod has no volume disk of its own: nothing to compare
    result = plan(desired(), st, obs(pod(), run_=run(status(RunState.FAILED, exit_code=1))))
    assert R not in result.kinds() and not result.deferred


def test_adopted_pod_is_compared_by_what_runpod_reports() -> None:
    result = plan(desired(), State(), obs(pod(image="runpod/pytorch:2.1.0", gpu_type_id="NVIDIA L4")))
    assert result.kinds() == [AD, R, SY, L]
    assert result.actions[1].changes == (
        FieldChange("gpu_type", "NVIDIA L4", list(GPUS), REPLACES),
        FieldChange("image", "runpod/pytorch:2.1.0", IMAGE, IN_PLACE),
    )


def test_state_pod_without_recorded_config_is_compared_by_what_runpod_reports() -> None:
    st = State(pod_id=POD, pod_name=NAME, pod_config=None)  # what adopt writes
    result = plan(desired(), st, obs(pod(network_volume=None)))
    assert result.kinds() == [R, SY, L]
    assert result.actions[0].changes == (FieldChange("network_volume", None, NV, REPLACES),)


def test_recorded_config_wins_over_what_runpod_reports() -> None:
    # RunPod may report the image with a digest; the state's record of the create is what counts.
    facts = run(status(RunState.RUNNING), alive=True)
    result = plan(desired(), state(), obs(pod(image=IMAGE + "@sha256:0123"), run_=facts))
    assert result.empty


def test_refused_start_with_network_volume_replaces_on_the_same_volume() -> None:
    result = plan(desired(), state(), obs(pod(status=PodStatus.EXITED), start_refused=True))
    assert result.kinds() == [R, SY, L]
    replace = result.actions[0]
    assert replace.pod_id == POD and replace.changes == ()
    assert "no free GPU" in replace.reason and "network volume" in replace.reason
    assert result.actions[-1].mode is LaunchMode.AUTO
    check_reasons(result)


def test_refused_start_without_network_volume_is_a_blocker() -> None:
    d = desired(network_volume=None)
    result = plan(d, state(d), obs(pod(status=PodStatus.EXITED, network_volume=None), start_refused=True))
    assert result.actions == ()
    assert "no free GPU" in result.blocker


def test_refused_start_of_an_adopted_pod_keeps_the_adopt() -> None:
    result = plan(desired(), State(), obs(pod(status=PodStatus.EXITED), start_refused=True))
    assert result.kinds() == [AD, R, SY, L]


# ---- code sync ----

def test_unchanged_code_at_the_same_revision_is_not_synced() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.FAILED, exit_code=1)),
                                         code_=code(0, 0, 0, remote="abc1234")))
    assert result.kinds() == [L]


def test_changed_code_is_synced_with_counts() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.FAILED, exit_code=1)),
                                         code_=code(7, 12345, 2, remote="abc1234")))
    assert result.kinds() == [SY, L]
    sync = result.actions[0]
    assert (sync.files, sync.bytes) == (7, 12345)
    assert "7 changed file(s), 2 to delete" == sync.reason


@pytest.mark.parametrize("files,delete,remote", [(0, 3, "abc1234"), (0, 0, "0ld0ld0"), (0, 0, None)])
def test_deletions_or_another_revision_are_synced(files, delete, remote) -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(None), code_=code(files, 0, delete, remote=remote)))
    assert result.kinds() == [SY, L]


def test_code_that_could_not_be_compared_is_synced() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(None), code_=code(None, None, None)))
    assert result.kinds() == [SY, L]
    assert "could not be compared" in result.actions[0].reason


def test_alive_run_with_changed_code_is_not_synced() -> None:
    # Syncing under a live training would change its code mid-run.
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.RUNNING), alive=True)))
    assert result.empty


# ---- a launch whose runner has not taken the lock yet ----

def test_launch_whose_runner_is_still_starting_is_not_launched_again() -> None:
    # apply observes right after a launch: the tmux session exists, launch.json names the new launch,
    # but the runner has not taken the lock or written its status yet. A second launch would kill it.
    facts = run(status(RunState.FAILED, exit_code=1, launch_id="L2"), alive=False, tmux=True, launch_id="L3")
    result = plan(desired(), state(), obs(pod(), run_=facts))
    assert result.empty
    assert "starting" in result.summary


def test_first_launch_whose_runner_is_still_starting_is_not_launched_again() -> None:
    facts = run(None, alive=False, tmux=True, launch_id="L1")
    result = plan(desired(), state(), obs(pod(), run_=facts))
    assert result.empty


def test_leftover_tmux_session_of_a_finished_attempt_does_not_block_a_launch() -> None:
    facts = run(status(RunState.FAILED, exit_code=1, launch_id="L2"), alive=False, tmux=True, launch_id="L2")
    result = plan(desired(), state(), obs(pod(), run_=facts))
    assert result.kinds() == [SY, L]


def test_starting_launch_and_force_restart_is_a_blocker() -> None:
    facts = run(None, alive=False, tmux=True, launch_id="L1")
    result = plan(desired(), state(), obs(pod(), run_=facts), Options(force_restart=True))
    assert result.actions == () and result.blocker


def test_a_succeeded_run_is_not_replaced_for_a_changed_field() -> None:
    d = desired(gpu_count=2)
    running = plan(d, state(), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))))
    assert running.kinds() == [ST] and "gpu_count changed" in running.notes[0]
    stopped = plan(d, state(last_run=last("succeeded", exit_code=0)), obs(pod(status=PodStatus.EXITED)))
    assert stopped.empty and "gpu_count changed" in stopped.notes[0]
    forced = plan(d, state(), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))), Options(force_restart=True))
    assert forced.kinds()[0] is R


def test_an_unknown_network_volume_blocks_before_any_create() -> None:
    volumes = (VolumeFacts("other", "o", 10, "US-KS-2"),)
    result = plan(desired(), State(), replace(obs(), volumes=volumes))
    assert result.actions == () and NV in result.blocker and "other (o, US-KS-2)" in result.blocker


def test_a_new_pod_is_pinned_to_its_network_volumes_data_center() -> None:
    volumes = (VolumeFacts(NV, "data", 50, "EU-RO-1"),)
    result = plan(desired(), State(), replace(obs(), volumes=volumes))
    assert result.actions[0].kind is C and result.actions[0].data_center == "EU-RO-1"
    refused = plan(desired(), state(), replace(obs(pod(status=PodStatus.EXITED), start_refused=True), volumes=volumes))
    assert refused.actions[0].kind is R and refused.actions[0].data_center == "EU-RO-1"


def test_an_ended_run_whose_runner_is_stopping_the_pod_is_not_called_alive() -> None:
    ended = replace(status(RunState.SUCCEEDED, exit_code=0, launch_id="L2"), pod_stop="requested")
    facts = run(ended, alive=True, launch_id="L2")
    result = plan(desired(), state(), obs(pod(), run_=facts))
    assert result.empty and "stopping itself" in result.summary
    forced = plan(desired(), state(), obs(pod(), run_=facts), Options(force_restart=True))
    assert forced.actions == () and "once it has stopped" in forced.blocker


# ---- a live run is never killed by surprise ----

def alive_run(*checkpoints: int, log_tail: str | None = "step 42 loss 0.1") -> RunFacts:
    return replace(run(status(RunState.RUNNING), alive=True, checkpoints=tuple(ckpt(c) for c in checkpoints)),
                   log_tail=log_tail)


LIVE_CHANGES = [
    # (spec now, recorded, network volume, field)
    (dict(image="runpod/pytorch:2.5.0"), {}, NV, "image"),
    ({}, dict(gpu="NVIDIA H100 80GB HBM3"), NV, "gpu_type"),
    (dict(volume_gb=50, network_volume=None), {}, None, "volume_gb"),
]


@pytest.mark.parametrize("spec_now,recorded_with,nv,field", LIVE_CHANGES, ids=[c[3] for c in LIVE_CHANGES])
def test_a_change_under_a_live_run_waits_for_its_end_and_says_so(spec_now, recorded_with, nv, field) -> None:
    d = desired(**spec_now)
    st = state(desired(network_volume=nv), **recorded_with)
    result = plan(d, st, obs(pod(network_volume=nv), run_=alive_run(20)))
    assert result.actions == () and result.blocker is None
    assert [c.field for c in result.deferred] == [field] and result.deferred_code is Reason.RUN_ALIVE
    assert "has not started" not in result.summary
    assert "step 42" in result.summary and "latest checkpoint checkpoint-20" in result.summary
    (note,) = result.notes
    assert f"pod.{field} changed" in note and "waits for the end of run" in note and "--replace-now" in note


def test_replace_now_kills_the_live_run_and_resumes_from_the_named_checkpoint() -> None:
    d = desired(gpu_count=2)
    result = plan(d, state(), obs(pod(), run_=alive_run(10, 20)), Options(replace_now=True))
    assert result.kinds() == [R, SY, L]
    replace_, launch = result.actions[0], result.actions[-1]
    assert replace_.code is Reason.REPLACE_NOW
    assert "running training" in replace_.reason and "is killed" in replace_.reason
    assert "resumes on the new pod from checkpoint-20" in replace_.reason
    assert (launch.mode, launch.checkpoint, launch.step) == (LaunchMode.RESUME, "checkpoint-20", 20)
    assert Expect(Fact.LATEST_CHECKPOINT, "checkpoint-20") in launch.expects
    assert "killed" in result.summary
    check_reasons(result)


def test_replace_now_without_a_network_volume_says_the_run_starts_afresh() -> None:
    d = desired(network_volume=None, gpu_count=2)
    st = state(desired(network_volume=None))
    result = plan(d, st, obs(pod(network_volume=None), run_=alive_run(20)), Options(replace_now=True))
    assert result.kinds() == [R, SY, L]
    assert "starts afresh" in result.actions[0].reason and result.actions[-1].mode is LaunchMode.FRESH


def test_replace_now_without_a_live_run_changes_nothing() -> None:
    result = plan(desired(), state(), obs(pod(), run_=alive_run(20)), Options(replace_now=True))
    assert result.empty


def test_a_change_while_ssh_does_not_answer_and_the_run_was_last_seen_running_waits() -> None:
    result = plan(desired(image="new:1"), state(last_run=last("running")), obs(pod()))
    assert result.actions == () and result.deferred_code is Reason.RUN_ALIVE


def test_volume_gb_change_without_network_volume_replaces_and_names_its_policy() -> None:
    d = desired(network_volume=None, volume_gb=50)
    st = state(desired(network_volume=None))
    result = plan(d, st, obs(pod(network_volume=None), run_=run(status(RunState.FAILED, exit_code=1))))
    assert result.kinds() == [R, SY, L]
    assert result.actions[0].changes == (FieldChange("volume_gb", 20, 50, REPLACES),)
    assert result.actions[0].code is Reason.FIELD_CHANGED


# ---- fields RunPod changes in place: update pod ----

def test_an_image_change_on_a_stopped_pod_updates_it_before_the_start_without_a_restart() -> None:
    d = desired(image="runpod/pytorch:2.5.0")
    result = plan(d, state(last_run=last("failed", exit_code=1)), obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [UP, S, SY, L]
    update = result.actions[0]
    assert (update.code, update.restart, update.pod_id) == (Reason.FIELD_CHANGED_IN_PLACE, False, POD)
    assert update.changes == (FieldChange("image", IMAGE, "runpod/pytorch:2.5.0", IN_PLACE),)
    assert update.expects == (Expect(Fact.POD_STATUS, "EXITED"),)
    assert "next start" in update.reason
    check_reasons(result)


def test_an_env_change_on_a_running_pod_without_a_live_run_restarts_it_and_names_only_the_variables() -> None:
    d = desired(env={"TOKEN": "new-secret"})
    st = state(env={"TOKEN": "old-secret"})
    result = plan(d, st, obs(pod(), run_=run(status(RunState.FAILED, exit_code=1), checkpoints=(ckpt(20),))))
    assert result.kinds() == [UP, SY, L]
    update = result.actions[0]
    assert update.restart is True and update.changes == (FieldChange("env", None, None, IN_PLACE, ("TOKEN",)),)
    assert Expect(Fact.RUN_NOT_ALIVE) in update.expects
    assert "secret" not in str(result.to_dict())
    check_reasons(result)


def test_an_in_place_change_under_a_live_run_waits_and_replace_now_restarts_and_resumes() -> None:
    d = desired(ports=["22/tcp", "8888/http"])
    waiting = plan(d, state(), obs(pod(), run_=alive_run(10, 20)))
    assert waiting.actions == () and waiting.deferred_code is Reason.RUN_ALIVE
    assert [c.policy for c in waiting.deferred] == [IN_PLACE]
    assert "restarts it" in waiting.notes[0] and "--replace-now" in waiting.notes[0]
    now = plan(d, state(), obs(pod(), run_=alive_run(10, 20)), Options(replace_now=True))
    assert now.kinds() == [UP, SY, L]
    update, launch = now.actions[0], now.actions[-1]
    assert (update.code, update.restart) == (Reason.REPLACE_NOW, True)
    assert "kills the running training" in update.reason and "checkpoint-20" in update.reason
    assert (launch.mode, launch.checkpoint) == (LaunchMode.RESUME, "checkpoint-20")
    check_reasons(now)


def test_an_in_place_change_after_a_succeeded_run_updates_the_idle_pod_after_its_stop_without_a_restart() -> None:
    d = desired(container_disk_gb=50)
    running = plan(d, state(), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))))
    assert running.kinds() == [ST, UP] and running.actions[1].restart is False
    assert running.actions[1].expects == (Expect(Fact.POD_STATUS, "EXITED"),)
    check_reasons(running)
    stopped = plan(d, state(last_run=last("succeeded", exit_code=0)), obs(pod(status=PodStatus.EXITED)))
    assert stopped.kinds() == [UP] and stopped.actions[0].restart is False


def test_an_in_place_change_on_a_pod_kept_running_after_its_run_succeeded_waits_for_the_next_run() -> None:
    d = replace(desired(container_disk_gb=50), stop_pod_when_done=False)
    result = plan(d, state(), obs(pod(), run_=run(status(RunState.SUCCEEDED, exit_code=0))))
    assert result.actions == () and result.deferred_code is Reason.RUN_DONE
    assert [c.field for c in result.deferred] == ["container_disk_gb"] and "run is done" in result.notes[0]


def test_gpu_count_change_forces_a_replacement() -> None:
    d = desired(gpu_count=2)
    result = plan(d, state(last_run=last("failed", exit_code=1)), obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [R, SY, L]
    assert result.actions[0].changes == (FieldChange("gpu_count", 1, 2, REPLACES),)


def test_bid_change_of_a_spot_pod_rides_on_the_next_start() -> None:
    d = desired()
    spot = replace(d, pod_config={**d.pod_config, "interruptible": True, "bid_per_gpu": 0.3})
    st = State(pod_id=POD, pod_name=NAME, pod_config={**spot.pod_config, "bid_per_gpu": 0.2, "gpu_type_id": GPUS[0]},
               last_run=last("failed", exit_code=1))
    result = plan(spot, st, obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [S, SY, L]
    assert result.actions[0].changes == (FieldChange("bid_per_gpu", 0.2, 0.3, "applied at the next start"),)


# ---- adopted pods are compared on every field RunPod reports ----

def test_adopted_pod_is_compared_on_disks_ports_mount_and_env_by_digest() -> None:
    d = desired(env={"TOKEN": "s3cret", "MODE": "fast"})
    reported = replace(pod(), container_disk_gb=10, volume_mount_path="/data", ports=("22/tcp", "8888/http"),
                       env_digests={"TOKEN": env_digest("other"), "MODE": env_digest("fast"),
                                    "PUBLIC_KEY": env_digest("ssh-ed25519 AAA"), "RUNPOD_POD_ID": env_digest("x")})
    result = plan(d, State(), obs(reported))
    changes = {c.field: c for c in result.actions[1].changes}
    assert set(changes) == {"container_disk_gb", "volume_mount_path", "ports", "env"}
    assert changes["env"].names == ("TOKEN",) and changes["env"].old is None and changes["env"].new is None
    assert "s3cret" not in str(result.to_dict())


def test_adopted_pod_with_the_same_ports_in_another_order_is_not_a_change() -> None:
    d = replace(desired(), pod_config={**desired().pod_config, "ports": ["22/tcp", "6006/http"]})
    reported = replace(pod(), ports=("6006/http", "22/tcp"))
    result = plan(d, State(), obs(reported, run_=alive_run()))
    assert result.kinds() == [AD]


# ---- a run's outcome is not guessed ----

@pytest.mark.parametrize("last_run", [last("running"), last("setup"), None], ids=["running", "setup", "never"])
def test_stopped_pod_whose_run_ended_unwatched_launches_only_if_it_has_not_succeeded(last_run) -> None:
    result = plan(desired(), state(last_run=last_run), obs(pod(status=PodStatus.EXITED)))
    assert result.kinds() == [S, SY, L]
    launch = result.actions[-1]
    assert launch.contingency is Contingency.SKIP_IF_RUN_SUCCEEDED and launch.code is Reason.RUN_OUTCOME_UNKNOWN
    assert "outcome is unknown until the pod's volume can be read" in result.summary


def test_stopped_pod_whose_run_is_known_failed_launches_unconditionally() -> None:
    result = plan(desired(), state(last_run=last("failed", exit_code=1)), obs(pod(status=PodStatus.EXITED)))
    launch = result.actions[-1]
    assert launch.contingency is None and launch.code is Reason.RUN_FAILED


# ---- contingencies and preconditions are part of the plan ----

def test_start_with_a_network_volume_shows_the_replacement_branch() -> None:
    result = plan(desired(), state(last_run=last("failed", exit_code=1)), obs(pod(status=PodStatus.EXITED)))
    start = result.actions[0]
    assert start.contingency is Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU
    assert start.expects == (Expect(Fact.POD_STATUS, "EXITED"),)
    d = desired(network_volume=None)
    plain = plan(d, state(d, last_run=last("failed", exit_code=1)), obs(pod(status=PodStatus.EXITED, network_volume=None)))
    assert plain.actions[0].contingency is None


def test_every_launch_assumes_the_run_is_not_alive_and_a_resume_its_checkpoint() -> None:
    result = plan(desired(), state(), obs(pod(), run_=run(status(RunState.RUNNING), checkpoints=(ckpt(3), ckpt(20)))))
    launch = result.actions[-1]
    assert launch.expects == (Expect(Fact.RUN_NOT_ALIVE), Expect(Fact.LATEST_CHECKPOINT, "checkpoint-20"))
    assert launch.code is Reason.RUN_INTERRUPTED


def test_the_plan_document_round_trips_codes_expectations_and_contingencies() -> None:
    result = plan(desired(image="new:1"), state(), obs(pod(), run_=alive_run(20)))
    assert Plan.from_dict(result.to_dict()) == result
    started = plan(desired(), state(), obs(pod(status=PodStatus.EXITED)))
    document = started.to_dict()
    assert document["format_version"] == 2
    assert document["actions"][0]["code"] == "pod_stopped"
    assert document["actions"][0]["contingency"] == "replace_if_host_has_no_free_gpu"
    assert document["actions"][-1]["contingency"] == "skip_if_run_succeeded"
    assert Plan.from_dict(document) == started
