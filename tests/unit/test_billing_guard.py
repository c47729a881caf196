"""BillingGuard's decision, against a fake of the Provider protocol and a real state file.

The end-to-end proof (apply interrupted or killed at many points) is tests/e2e/test_billing.py;
these cover the cases that are hard to produce there: a pod that was already running, a create cut
off before it answered, a stop that fails, and a second interrupt during the stop.
"""

from __future__ import annotations

import pytest

from podreconcile.core.errors import PermanentError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.plan import Kind
from podreconcile.engine.billing_guard import BillingGuard, Terminated
from podreconcile.engine.state_file import StateFile

NAME = "podreconcile-t"


class FakeProvider:
    def __init__(self, pods=(), stop_error: BaseException | None = None) -> None:
        self.pods = list(pods)
        self.stopped: list[str] = []
        self.stop_error = stop_error

    def list_pods(self):
        return self.pods

    def stop_pod(self, pod_id: str) -> None:
        if self.stop_error:
            raise self.stop_error
        self.stopped.append(pod_id)

    def get_pod(self, pod_id: str):
        """A stopped pod reads as gone here: either way the guard's stop is seen done."""
        return None if pod_id in self.stopped else next((p for p in self.pods if p.id == pod_id), None)


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(message)

    def warn(self, message: str) -> None:
        self.lines.append("warning: " + message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_guarded(tmp_path, began, error, *, pod_id="p1", before=None, provider=None, pending=None):
    states = StateFile(tmp_path, "guarded")
    states.write(states.read().with_(pod_id=pod_id, create_pending=pending))
    provider = provider or FakeProvider()
    report = Lines()
    guard = BillingGuard(provider, states, report, lambda: list(began), before, "podreconcile stop")
    with pytest.raises(type(error)):
        with guard:
            raise error
    return provider, report


def test_a_pod_this_apply_created_is_stopped_when_it_fails(tmp_path):
    provider, report = run_guarded(tmp_path, [Kind.CREATE_POD, Kind.SYNC_CODE], PermanentError("boom"))
    assert provider.stopped == ["p1"]
    assert "stopped pod p1, which this apply created, because apply failed (the error follows); " \
           "the volume keeps everything" in report.text


def test_sigterm_is_named_and_a_started_pod_is_said_started(tmp_path):
    before = PodFacts("p1", NAME, PodStatus.EXITED)
    provider, report = run_guarded(tmp_path, [Kind.START_POD], Terminated(), before=before)
    assert provider.stopped == ["p1"]
    assert "which this apply started, because apply was terminated (SIGTERM)" in report.text


def test_a_pod_that_was_running_before_the_apply_is_left_alone(tmp_path):
    before = PodFacts("p1", NAME, PodStatus.RUNNING)
    provider, report = run_guarded(tmp_path, [Kind.SYNC_CODE, Kind.UPLOAD_DATA], KeyboardInterrupt(), before=before)
    assert provider.stopped == [] and report.lines == []


def test_a_running_pod_this_apply_restarted_to_update_it_is_stopped_but_a_stopped_one_is_not(tmp_path):
    running = PodFacts("p1", NAME, PodStatus.RUNNING)
    provider, report = run_guarded(tmp_path, [Kind.UPDATE_POD, Kind.SYNC_CODE], PermanentError("boom"), before=running)
    assert provider.stopped == ["p1"] and "which this apply restarted" in report.text
    stopped = PodFacts("p1", NAME, PodStatus.EXITED)
    provider, report = run_guarded(tmp_path, [Kind.UPDATE_POD], KeyboardInterrupt(), before=stopped)
    assert provider.stopped == [] and report.lines == []


def test_once_a_launch_began_the_pod_is_left_to_its_runner(tmp_path):
    provider, report = run_guarded(tmp_path, [Kind.CREATE_POD, Kind.LAUNCH_RUN], KeyboardInterrupt())
    assert provider.stopped == []
    assert "left pod p1 running: a run was being launched" in report.text


def test_a_create_cut_off_before_it_answered_is_found_by_name_and_stopped(tmp_path):
    provider = FakeProvider([PodFacts("new", NAME, PodStatus.RUNNING), PodFacts("other", "x", PodStatus.RUNNING)])
    provider, _ = run_guarded(tmp_path, [Kind.CREATE_POD], KeyboardInterrupt(), pod_id=None,
                                   provider=provider, pending=NAME)
    assert provider.stopped == ["new"]


def test_a_failed_stop_says_the_pod_may_bill_and_how_to_stop_it(tmp_path):
    provider = FakeProvider(stop_error=PermanentError("RunPod said no"))
    _, report = run_guarded(tmp_path, [Kind.CREATE_POD], KeyboardInterrupt(), provider=provider)
    assert "could not stop pod p1" in report.text and "stop it with: podreconcile stop" in report.text


def test_a_second_interrupt_during_the_stop_leaves_the_pod_and_says_how_to_stop_it(tmp_path):
    provider = FakeProvider(stop_error=KeyboardInterrupt())
    _, report = run_guarded(tmp_path, [Kind.CREATE_POD], KeyboardInterrupt(), provider=provider)
    assert "pod p1 is left RUNNING and billing; stop it with: podreconcile stop" in report.text
