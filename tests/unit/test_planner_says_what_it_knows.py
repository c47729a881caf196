"""Issue 12: the plan says what it knows: the local data an upload of unknown size starts from, a
changed code or config that takes effect only on the next run, and a stopped attempt as a stop."""

from __future__ import annotations

from dataclasses import replace

from podreconcile.core.desired import Desired
from podreconcile.core.observation import DataFacts, PodStatus
from podreconcile.core.plan import Kind
from podreconcile.core.planner import Options, plan
from podreconcile.core.run_observation import RunState
from podreconcile.core.state import STOPPED, LastRun
from tests.unit.test_planner import (
    RUN,
    code,
    desired,
    last,
    obs,
    pod,
    run,
    state,
    status,
)


def with_data() -> Desired:
    return replace(desired(), has_data=True)


def test_an_upload_on_a_new_or_stopped_pod_carries_the_local_data() -> None:
    local = DataFacts(files_total=300, bytes_total=52_000_000)
    for facts, st in ((replace(obs(), data=local), state(pod_id=None)),
                      (replace(obs(pod(status=PodStatus.EXITED)), data=local), state())):
        (upload,) = [a for a in plan(with_data(), st, facts).actions if a.kind is Kind.UPLOAD_DATA]
        assert (upload.files, upload.local_files, upload.local_bytes) == (None, 300, 52_000_000)


def test_a_change_after_a_finished_run_is_named_with_the_flag_that_applies_it_now() -> None:
    done = replace(status(RunState.SUCCEEDED, exit_code=0), revision="abc1234")
    changed = obs(pod(), run_=run(done), code_=code(revision="def5678"))
    result = plan(desired(), state(), changed)
    assert result.kinds() == [Kind.STOP_POD]
    (note,) = result.notes
    assert "changed since run demo ran (abc1234 -> def5678)" in note and "--force-restart" in note
    unchanged = obs(pod(), run_=run(done), code_=code(revision="abc1234"))
    assert plan(desired(), state(), unchanged).notes == ()

    finished = LastRun(RUN, RunState.SUCCEEDED.value, 1, 0, "2026-11-29T08:00:00+00:00", "abc1234")
    stopped = obs(pod(status=PodStatus.EXITED), code_=code(revision="def5678"))
    result = plan(desired(), state(last_run=finished), stopped)
    assert result.empty and "--force-restart" in result.notes[0]
    assert plan(desired(), state(last_run=finished), stopped, Options(force_restart=True)).kinds()[0] is Kind.START_POD


def test_an_attempt_ended_by_a_pod_stop_is_a_stop_not_a_failure() -> None:
    ended = replace(status(RunState.FAILED, attempt=1, exit_code=143), stopped_reason="signal", signal="SIGTERM")
    result = plan(desired(), state(), obs(pod(), run_=run(ended)))
    launch = result.actions[-1]
    assert launch.kind is Kind.LAUNCH_RUN and "attempt 1 was stopped (SIGTERM)" in launch.reason
    assert "`podreconcile stop`" in launch.reason and "failed" not in launch.reason
    assert "attempt 1: stopped" in result.summary

    after_stop = plan(desired(), state(last_run=last(STOPPED, attempt=1, exit_code=143)), obs(pod(status=PodStatus.EXITED)))
    assert "attempt 1 was stopped with its pod" in after_stop.actions[-1].reason

    crashed = replace(status(RunState.FAILED, attempt=1, exit_code=1), stopped_reason="training_failed")
    assert "failed with exit code 1" in plan(desired(), state(), obs(pod(), run_=run(crashed))).actions[-1].reason


def test_a_status_without_numbers_reads_as_words() -> None:
    odd = replace(status(RunState.FAILED), attempt=None, exit_code=None)
    result = plan(desired(), state(), obs(pod(), run_=run(odd)))
    text = " ".join([result.summary] + [a.reason for a in result.actions])
    assert "None" not in text and "the last attempt failed with an unknown exit code" in text
