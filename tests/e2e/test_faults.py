"""Issue 13's faults, each injected against the sandbox with its expected outcome asserted.

The numbers in the test names' docstrings are the issue's items. What the sandbox cannot fake
(a kill at a step boundary, an SSH drop) is done for real: SIGKILL of the `podreconcile` process,
sshd sessions killed on the pod.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from podreconcile.sandbox import daemon
from tests.e2e.test_apply import wait_for_line
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def no_fault_outlives_its_test(sandbox):
    """The sandbox is the session's: a fault armed for more calls than a test made must not reach the next."""
    yield
    sandbox.cli("fault-clear")


def fault(project, operation: str, error: str, times: int = 1, *extra: str) -> None:
    project.sandbox.cli("fault", operation, "--times", str(times), "--error", error, *extra)


def calls(project) -> dict[str, int]:
    return json.loads(project.sandbox.cli("calls").stdout)


def status_of(project, pod_id: str) -> str | None:
    pod = project.pod_by_id(pod_id)
    return pod and pod["desiredStatus"]


def terminate(project, pod_id: str) -> None:
    daemon.graphql(project.sandbox.running, f'mutation {{ podTerminate(input: {{podId: "{pod_id}"}}) }}')


def long_run(project, steps: int = 60, seconds: float = 0.15) -> None:
    project.edit("configs/tiny.yaml", max_steps=steps, step_seconds=seconds)


def wait_for_checkpoint(project, step: int = 20) -> None:
    wait_until(lambda: (project.checkpoints() / f"checkpoint-{step}" / "trainer_state.json").exists(), timeout=60)


def assert_one_clean_run(project) -> None:
    """One pod, one attempt in the run's log, ended well."""
    assert len(project.pods()) == 1
    assert project.train_log().count("=== podreconcile run") == 1, project.train_log()
    assert project.current_log().rstrip().endswith("EXIT_CODE=0")


# ---- 1. apply killed ----

@pytest.mark.parametrize("at", [r"created pod", r"==> upload data", r"==> launch run"])
def test_apply_killed_at_a_step_boundary_is_converged_by_the_next_apply(project, at):
    """1 (and 7: a kill in the middle of the launch): one pod, readable state, never two trainings."""
    apply = project.popen("apply", "--yes")
    wait_for_line(apply.stderr, at)
    apply.kill()
    apply.communicate()
    json.loads(project.state_path().read_text())  # readable: the last good state
    again = project.cli("apply", "--yes")
    assert again.returncode == 0, again.stderr
    assert_one_clean_run(project)
    assert not list(project.state_path().parent.glob(".state*.tmp"))


WRITER = """
import sys
from pathlib import Path
from podreconcile.core.state import State
from podreconcile.engine.state_file import StateFile
states = StateFile(Path(sys.argv[1]), "spec")
i = 0
while True:
    i += 1
    states.write(State(pod_id=f"pod{i}", pod_name="podreconcile-spec", extra={"pad": "x" * 20000}))
"""


def test_a_state_write_killed_midway_leaves_the_last_good_state_and_its_temp_is_swept(tmp_path):
    """1: SIGKILL of a writer at random points of its writes; the file always parses, the next write sweeps temps."""
    from podreconcile.core.state import State
    from podreconcile.engine.state_file import StateFile

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    states, left_temps = StateFile(tmp_path, "spec"), 0
    for i in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
        wait_until(lambda: states.path.exists(), timeout=30, interval=0.01)
        time.sleep(0.05 + 0.013 * i)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert states.read().pod_id.startswith("pod")
        left_temps += len(list(states.folder.glob(".state*.tmp")))
    states.write(State(pod_id="final"))
    assert states.read().pod_id == "final"
    assert not list(states.folder.glob(".state*.tmp")), f"{left_temps} temp files were left by killed writers"


# ---- 2. create answered with an error although it worked ----

def test_create_answered_502_with_an_html_page_although_made_is_adopted_by_name(project):
    """2: the pod exists although create said 502: found by name, never created twice."""
    fault(project, "v2.pods.create", "http-502", 1, "--applied", "--body", "html")
    before = calls(project).get("v2.pods.create", 0)
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert len(project.pods()) == 1 and calls(project)["v2.pods.create"] - before == 1


# ---- 3 and 4. the pod vanished or was killed ----

def test_a_pod_terminated_during_training_is_replaced_on_its_volume_and_resumes(project):
    """3 and 4: terminated through the API mid-run (stopped pods vanish too): the plan says so, a new pod
    on the network volume resumes the same run from its latest checkpoint."""
    volume = project.sandbox.cli("volume", "create", "vanish", "--size-gb", "5").stdout.strip()
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
    long_run(project)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    old = project.pod()["id"]
    wait_for_checkpoint(project)
    terminate(project, old)
    plan = project.cli("plan")
    assert "create pod" in plan.stdout and "the pod in the state file no longer exists" in plan.stdout, plan.stdout
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    new = project.pod()
    assert new["id"] != old and new["networkVolumeId"] == volume
    assert project.read_state()["pod_id"] == new["id"]
    assert "resume from checkpoint-" in result.stdout and "attempt 2" in project.train_log()
    assert project.current_log().rstrip().endswith("EXIT_CODE=0")


def test_401_403_and_5xx_never_clear_the_state(project):
    """3: errors that say nothing about the pod leave the state file as it was, byte for byte."""
    assert project.cli("apply", "--yes").returncode == 0
    before = project.state_path().read_bytes()
    wrong_key = project.env(RUNPOD_API_KEY="rpa_" + "0" * 40)
    assert project.cli("apply", "--yes", env=wrong_key).returncode == 1
    fault(project, "v2.pods.list", "http-403")
    assert project.cli("apply", "--yes").returncode == 1
    fault(project, "v2.pods.list", "http-500", 5)
    assert project.cli("apply", "--yes").returncode == 1
    assert project.state_path().read_bytes() == before


# ---- 5. slow boots ----

def test_an_sshd_that_answers_late_is_waited_for(project):
    """5 and 15: the port is published while sshd refuses connections for a while; apply waits it out."""
    image = f"sandbox/late-sshd:{project.name}"
    project.sandbox.cli("image", image, "--sshd-delay", "6")
    project.edit("podspec.yaml", pod__image=image)
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert_one_clean_run(project)


def test_an_image_that_never_starts_sshd_ends_in_a_clear_timeout(project):
    """5 and 15: a deadline message naming the image and PUBLIC_KEY; the pod this apply made is stopped."""
    image = f"sandbox/no-sshd:{project.name}"
    project.sandbox.cli("image", image, "--no-sshd")
    project.edit("podspec.yaml", pod__image=image)
    started = time.monotonic()
    result = project.cli("apply", "--yes", env=project.env(PODRECONCILE_SSH_TIMEOUT="6"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert image in result.stderr and "PUBLIC_KEY" in result.stderr and "within 6 s" in result.stderr
    assert time.monotonic() - started < 120
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=30)


def test_a_running_pod_whose_runtime_is_briefly_null_is_not_a_stopped_pod(project):
    """15: the telemetry lookup fails for a moment; the plan still sees the live run and proposes nothing."""
    long_run(project, steps=200, seconds=0.1)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    fault(project, "v2.pods.list", "runtime-null", 5)
    fault(project, "v2.pods.get", "runtime-null", 5)
    plan = project.cli("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "start pod" not in plan.stdout and "launch run" not in plan.stdout
    assert project.pod()["desiredStatus"] == "RUNNING"
    assert project.cli("stop").returncode == 0


# ---- 6. a stop that did not happen ----

def test_a_stop_answered_ok_but_not_done_is_asked_again_until_seen(project):
    """6: RunPod says OK and the pod runs on: read back, asked again, stopped."""
    long_run(project, steps=200, seconds=0.1)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    pod_id = project.pod()["id"]
    fault(project, "v2.pods.action", "ignored", 2)
    before = calls(project).get("v2.pods.action", 0)
    result = project.cli("stop")
    assert result.returncode == 0, result.stderr
    assert status_of(project, pod_id) == "EXITED"
    assert calls(project)["v2.pods.action"] - before == 3
    assert "asking again" in result.stderr


# ---- 8. the self-stop fails ----

def test_a_refused_runpodctl_hands_the_self_stop_to_the_api(project):
    """8: runpodctl's GraphQL stop is refused: v2's stop (the fallback) stops the pod."""
    fault(project, "podStop", "unauthorized", 1)
    before = calls(project)
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=60)
    after = calls(project)
    assert after["podStop"] - before.get("podStop", 0) == 1, "runpodctl tried (and was refused)"
    assert after["v2.pods.action"] - before.get("v2.pods.action", 0) == 1, "then v2's stop did it"
    assert project.status()["pod_stop"] == "api_v2"


def test_when_every_self_stop_fails_the_next_plan_stops_the_finished_pod(project):
    """8: runpodctl, v2 and GraphQL all refused: the pod runs on; the next plan notices and stops it."""
    fault(project, "podStop", "unauthorized", 50)
    fault(project, "v2.pods.action", "unauthorized", 50)
    result = project.cli("apply", "--yes", "--detach")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: project.status().get("pod_stop") not in (None, "requested"), timeout=120, interval=0.5)
    assert project.status()["state"] == "succeeded" and project.status()["pod_stop"] in ("failed", "unverified")
    assert project.pod()["desiredStatus"] == "RUNNING"
    fault(project, "v2.pods.action", "ignored", 1)  # the API is back, but its first stop is not carried out
    plan = project.cli("plan")
    assert "stop pod" in plan.stdout, plan.stdout
    assert project.cli("apply", "--yes").returncode == 0
    assert project.pod()["desiredStatus"] == "EXITED"


# ---- 9. a stalled training ----

def test_a_stalled_training_is_reported_by_status_and_never_killed(project):
    """9: alive, no new log line or checkpoint for --stalled-after: status says so; plan leaves it running."""
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "TINY_STALL_AT_STEP": "10"})
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    wait_for_checkpoint(project, 10)
    assert "STALLED" not in project.cli("status", "--stalled-after", "1h").stdout
    status = wait_until(lambda: (r := project.cli("status", "--stalled-after", "3s")).returncode == 0
                        and "STALLED" in r.stdout and r, timeout=60, interval=1)
    assert "left running" in status.stdout
    plan = project.cli("plan", "--detailed-exitcode")
    assert plan.returncode == 0 and "nothing to do" in plan.stdout, plan.stdout
    assert project.pod()["desiredStatus"] == "RUNNING" and project.status()["state"] == "running"
    assert project.cli("stop").returncode == 0


# ---- 10 and 15. how RunPod's errors are told apart ----

def test_429_retry_after_is_honoured_and_an_html_502_is_transient(project):
    """10: the wait is never shorter than Retry-After; a gateway's HTML 502 is retried like any 5xx."""
    fault(project, "v2.pods.list", "http-429", 1, "--retry-after", "3")
    started = time.monotonic()
    assert project.cli("plan").returncode == 0
    assert time.monotonic() - started >= 3
    fault(project, "v2.pods.list", "http-502", 2, "--body", "html")
    plan = project.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert "HTML page" in plan.stderr  # the retry says what it saw


def test_something_went_wrong_is_tried_three_times_then_reported_with_what_was_sent(project):
    """15 and 10: RunPod's catch-all is permanent as often as not: a bounded few tries, not minutes."""
    fault(project, "v2.pods.create", "http-500", 20)
    before, started = calls(project).get("v2.pods.create", 0), time.monotonic()
    result = project.cli("apply", "--yes")
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 60
    assert calls(project)["v2.pods.create"] - before == 3, result.stderr
    error = result.stderr.splitlines()[-1]
    assert "Something went wrong" in error and "tried 3 times" in error
    assert "runpod/pytorch" in error and "TINY_DATA_FILE" in error and "/workspace/data" not in error
    assert project.pods() == []


@pytest.mark.parametrize("status, says", [
    ("403", "give the key read and write access"),
    ("410", "HTTP 410, an HTML page"),
])
def test_an_html_error_page_is_classified_by_its_status(project, status, says):
    """15: 403 and 410 with an HTML body are what their status says, not "not JSON"; neither is retried."""
    fault(project, "v2.pods.list", f"http-{status}", 5, "--body", "html")
    before = calls(project).get("v2.pods.list", 0)
    result = project.cli("plan")
    assert result.returncode == 1 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert calls(project)["v2.pods.list"] - before == 1


def test_a_restricted_key_is_told_to_get_the_permission_over_v2(project):
    """15: v2 answers a restricted key 403; the message names the key's permissions, no retry."""
    fault(project, "v2.pods.list", "unauthorized", 5)
    result = project.cli("plan")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "give the key read and write access" in result.stderr and "HTTP 403" in result.stderr


def test_graphql_unauthorized_and_validation_errors_are_not_retried(sandbox, monkeypatch):
    """10 and 15: GraphQL's HTTP-200 "Unauthorized" names the key's permissions; a validation error is
    permanent; each is one call."""
    from podreconcile.adapters.runpod_graphql import RunPod
    from podreconcile.core.errors import PermanentError, UserError
    from podreconcile.engine import retry

    monkeypatch.setenv("RUNPOD_API_BASE_URL", sandbox.running.url)
    provider = RunPod(sandbox.running.api_key, sandbox.running.url)
    count = lambda op: json.loads(sandbox.cli("calls").stdout).get(op, 0)  # noqa: E731
    sandbox.cli("fault", "myself", "--times", "5", "--error", "unauthorized")
    before = count("myself")
    with pytest.raises(UserError, match="permission") as refused:
        retry.call(provider.list_pods)
    assert "give the key read and write access" in str(refused.value) and count("myself") - before == 1
    sandbox.cli("fault", "myself", "--times", "1", "--error", "http-500")  # replaces the armed fault
    retry.call(provider.list_pods)
    before = count("nope")
    with pytest.raises(PermanentError):
        retry.call(lambda: provider._call("nope", "query { nope { id } }"))
    assert count("nope") - before == 1
