"""Issue 11's pure parts: the plan of a pod that is not running when its volume was read through S3,
the default selection of `pull`, volume keys, and the probe's facts rebuilt from a listing."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core.observation import (
    CodeFacts,
    DataFacts,
    Observation,
    PodStatus,
    VolumeFacts,
)
from podreconcile.core.plan import Kind, LaunchMode
from podreconcile.core.planner import Options, plan
from podreconcile.core.ports import RemoteObject
from podreconcile.core.pull_selection import (
    default_selection,
    latest_complete_checkpoint,
)
from podreconcile.core.run_observation import RunFacts, RunState
from podreconcile.engine.volume_access import volume_key, volume_prefix
from podreconcile.engine.volume_observe import checkpoints, last_line
from tests.unit.test_planner import NV, ckpt, desired, pod, state, status

VOLUMES = (VolumeFacts(NV, "data", 50, "EU-RO-1"),)


def volume_run(state_: RunState | None, *checkpoints_, attempt: int = 1) -> RunFacts:
    return RunFacts(status=status(state_, attempt=attempt) if state_ else None, tmux_alive=False,
                    runner_alive=False, checkpoints=tuple(checkpoints_), revision="abc1234", log_tail=None,
                    has_rsync=False, source="s3")


def s3_obs(run: RunFacts, *pods, data: DataFacts | None = None, code: CodeFacts | None = None) -> Observation:
    return Observation(pods=pods, volumes=VOLUMES, run=run, data=data,
                       code=code or CodeFacts("abc1234", False, 0, 0, 0, "abc1234", source="s3"))


def test_a_stopped_pod_whose_run_succeeded_on_the_volume_needs_nothing_and_names_the_checkpoint():
    result = plan(desired(), state(), s3_obs(volume_run(RunState.SUCCEEDED, ckpt(10), ckpt(20)),
                                             pod(status=PodStatus.EXITED)))
    assert result.actions == () and "succeeded" in result.summary and "read from the volume" in result.summary
    assert "latest complete checkpoint on the volume: checkpoint-20" in result.notes


def test_a_stopped_pod_resumes_from_the_volumes_checkpoint_after_the_s3_upload():
    data = DataFacts(5, 500, 2, 200, source="s3", rate_bps=100.0, rate_measured=True)
    obs = s3_obs(volume_run(RunState.RUNNING, ckpt(10), ckpt(20), ckpt(30, complete=False)),
                 pod(status=PodStatus.EXITED), data=data)
    result = plan(desired(), state(), obs)
    # The code on the volume matches (s3_obs), so no sync: apply checks it again over SSH before launching.
    assert result.kinds() == [Kind.UPLOAD_DATA, Kind.START_POD, Kind.LAUNCH_RUN]
    upload, launch = result.actions[0], result.actions[-1]
    assert upload.via == "s3" and upload.files == 2 and "about 2 GPU second(s)" in upload.reason
    assert "measured" in upload.reason
    assert (launch.mode, launch.checkpoint, launch.step) == (LaunchMode.RESUME, "checkpoint-20", 20)
    assert "checkpoint-30 is incomplete (no trainer_state.json) and is skipped" in result.notes


def test_force_restart_on_a_volume_that_says_succeeded_launches_again():
    result = plan(desired(), state(), s3_obs(volume_run(RunState.SUCCEEDED, ckpt(10)), pod(status=PodStatus.EXITED)),
                  Options(force_restart=True))
    assert result.kinds()[-1] is Kind.LAUNCH_RUN and result.actions[-1].mode is LaunchMode.FORCE_RESTART


def test_no_pod_on_a_volume_with_checkpoints_uploads_then_creates_and_resumes():
    data = DataFacts(1, 10 * 60 * 25_000_000, 1, 10 * 60 * 25_000_000, source="s3", rate_bps=25e6)
    result = plan(desired(), state(pod_id=None), s3_obs(volume_run(RunState.FAILED, ckpt(40)), data=data))
    assert result.kinds() == [Kind.UPLOAD_DATA, Kind.CREATE_POD, Kind.SYNC_CODE, Kind.LAUNCH_RUN]
    assert "about 10.0 GPU minute(s) (estimate at 25 MB/s, assumed)" in result.actions[0].reason
    assert result.actions[-1].checkpoint == "checkpoint-40"


def test_a_running_pod_uploads_through_s3_when_the_data_was_compared_there():
    data = DataFacts(3, 30, 1, 10, source="s3")
    run = replace(volume_run(RunState.FAILED, ckpt(10)), source="ssh")
    result = plan(desired(), state(), Observation(pods=(pod(),), volumes=VOLUMES, run=run, data=data,
                                                  code=CodeFacts("abc1234", False, 0, 0, 0, "abc1234")))
    upload = next(a for a in result.actions if a.kind is Kind.UPLOAD_DATA)
    assert upload.via == "s3" and upload.reason.startswith("1 of 3 data file(s)")


def test_without_a_volume_reading_the_stopped_pod_plan_is_unchanged():
    result = plan(desired(), state(), Observation(pods=(pod(status=PodStatus.EXITED),), volumes=VOLUMES))
    assert result.kinds()[:1] == [Kind.START_POD] and result.actions[-1].mode is LaunchMode.AUTO


def test_volume_keys_are_paths_relative_to_the_mount():
    assert volume_key("/workspace", "/workspace/tiny/outputs") == "tiny/outputs"
    assert volume_key("/workspace/", "/workspace") == ""
    assert volume_key("/workspace", "/workspace2/x") is None and volume_key("/workspace", "/etc/passwd") is None
    assert volume_prefix("/workspace", "/workspace/a/../b") == "b/" and volume_prefix("/workspace", "/workspace") == ""


def test_checkpoints_from_one_listing_match_what_the_probe_reports():
    objects = [RemoteObject(key, 1, "e", float(i)) for i, key in enumerate([
        "out/checkpoint-10/trainer_state.json", "out/checkpoint-10/model.bin", "out/checkpoint-2/trainer_state.json",
        "out/checkpoint-30/", "out/checkpoint-20/model.bin", "out/checkpoint-5", "out/final_model.json"])]
    found = checkpoints(objects, "out/")
    assert [(c["name"], c["complete"]) for c in found] == [
        ("checkpoint-2", True), ("checkpoint-10", True), ("checkpoint-20", False), ("checkpoint-30", False)]
    assert found[1]["mtime"] == 1.0


def test_last_line_is_what_a_terminal_shows():
    assert last_line("a\nstep 1\rstep 2\r\n\n") == "step 2" and last_line("") is None


names = st.lists(st.sampled_from(["checkpoint-1", "checkpoint-2", "checkpoint-10", "final", "logs"]), max_size=5)
leaves = st.sampled_from(["trainer_state.json", "model.bin", "x/y.bin"])


@given(st.lists(st.tuples(names.map("/".join), leaves), max_size=20))
def test_the_default_pull_is_the_latest_complete_checkpoint_and_everything_outside_checkpoints(pairs):
    paths = [f"{folder}/{leaf}".lstrip("/") for folder, leaf in pairs]
    chosen = default_selection(paths)
    latest = latest_complete_checkpoint(paths)
    for path in paths:
        head = path.split("/")[0]
        in_checkpoint = head.startswith("checkpoint-")
        assert (path in chosen) == (not in_checkpoint or head == latest)
    if latest:
        assert f"{latest}/trainer_state.json" in chosen
        steps = [int(p.split("/")[0].split("-")[1]) for p in paths
                 if p.startswith("checkpoint-") and p.split("/")[1:] == ["trainer_state.json"]]
        assert int(latest.split("-")[1]) == max(steps)
