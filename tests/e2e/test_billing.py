"""No pod is left billing: apply killed or interrupted at many points after create, preflight before create.

Each interruption point is a line apply writes on stderr. Ctrl+C (SIGINT) and SIGTERM let apply stop
the pod it created or started, and say so; SIGKILL leaves it to the pod's idle guard, armed by the
first SSH connection, which stops the pod once `pod.idle_timeout` (a few seconds here) passes with
no live run. Either way, within the guard's time no pod of the project runs without a live run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.e2e.test_apply import wait_for_line
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

IDLE_TIMEOUT = 5  # seconds; the spec says "5s"
# The guard stops the pod within idle_timeout plus a poll and the stop itself; generous for a loaded machine.
GUARD_DEADLINE = IDLE_TIMEOUT + 40
LIVE_STATES = ("setup", "running")


@pytest.fixture
def guarded(project):
    project.edit("podspec.yaml", pod__idle_timeout=f"{IDLE_TIMEOUT}s")
    return project


def _run_alive(project, pod: dict) -> bool:
    """The run on this pod's volume is live (its status.json says so)."""
    volume = (project.sandbox.home / "volumes" / pod["networkVolumeId"] if pod["networkVolumeId"]
              else project.sandbox.home / "pods" / pod["id"] / "volume")
    status = volume / ".podreconcile" / "runs" / "tiny_run" / "status.json"
    try:
        return json.loads(status.read_text()).get("state") in LIVE_STATES
    except (OSError, ValueError):
        return False


def _billing_without_run(project) -> list[str]:
    return [p["id"] for p in project.pods() if p["desiredStatus"] == "RUNNING" and not _run_alive(project, p)]


def _assert_nothing_left_billing(project) -> None:
    """Within the guard's time no pod runs without a live run; then (the tiny run ends) none runs at all."""
    wait_until(lambda: not _billing_without_run(project), timeout=GUARD_DEADLINE, interval=0.5)
    wait_until(lambda: all(p["desiredStatus"] != "RUNNING" for p in project.pods()), timeout=GUARD_DEADLINE,
               interval=0.5)


def _interrupt(project, at: str, sig: signal.Signals) -> str:
    """Start `apply --yes`, send `sig` once stderr shows a line matching `at`; returns all of stderr."""
    apply = project.popen("apply", "--yes")
    try:
        seen = wait_for_line(apply.stderr, at)
        apply.send_signal(sig)
        _, rest = apply.communicate(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.communicate()
    if sig is not signal.SIGKILL:
        assert apply.returncode == 130, seen + rest
    return seen + rest


# Before the first SSH connection there is no guard yet: Ctrl+C there must stop the pod itself.
@pytest.mark.parametrize("at", [
    r"created pod",      # right after create returns
    r"==> sync code",    # waiting for the new pod to boot and open SSH
    r"synced \d+ file",  # after the code sync, before the data
    r"==> upload data",  # during the data upload
])
def test_ctrl_c_stops_the_pod_this_apply_created(guarded, at):
    err = _interrupt(guarded, at, signal.SIGINT)
    assert "which this apply created, because apply was interrupted (Ctrl+C); the volume keeps everything" in err
    assert all(p["desiredStatus"] == "EXITED" for p in guarded.pods()), err
    assert len(guarded.pods()) == 1


def _change_code(project) -> None:
    """A new commit, so the next apply syncs the code (a pod that already has it skips the sync)."""
    (project.root / "notes.txt").write_text(f"{time.time_ns()}\n")
    project.commit()


def test_ctrl_c_stops_a_pod_this_apply_started_and_sigterm_is_ctrl_c(guarded):
    _interrupt(guarded, r"synced \d+ file", signal.SIGINT)
    (pod,) = guarded.pods()
    _change_code(guarded)
    err = _interrupt(guarded, r"==> sync code", signal.SIGINT)  # the start happened; the sync has not
    assert f"stopped pod {pod['id']}, which this apply started, because apply was interrupted (Ctrl+C)" in err
    _change_code(guarded)
    err = _interrupt(guarded, r"synced \d+ file", signal.SIGTERM)
    assert "which this apply started, because apply was terminated (SIGTERM)" in err
    assert guarded.pod()["desiredStatus"] == "EXITED"


def test_ctrl_c_just_before_launch_leaves_no_pod_without_a_run(guarded):
    """Between the upload and the launch: stopped by apply, or launched and stopped by its runner."""
    err = _interrupt(guarded, r"uploaded \d+ file", signal.SIGINT)
    assert "stopped pod" in err or "a run was being launched" in err, err
    _assert_nothing_left_billing(guarded)


@pytest.mark.parametrize("at", [
    r"synced \d+ file",     # after the code sync
    r"==> upload data",     # during the data upload
    r"uploaded \d+ file",   # just before the launch
    r"==> launch run",      # during the launch
])
def test_kill_9_leaves_the_pod_to_its_idle_guard(guarded, at):
    _interrupt(guarded, at, signal.SIGKILL)
    _assert_nothing_left_billing(guarded)


def test_kill_9_before_ssh_is_caught_by_the_next_command(guarded):
    """No SSH connection yet, so no guard: the next command that connects (here `plan`) arms it."""
    _interrupt(guarded, r"created pod", signal.SIGKILL)
    wait_until(lambda: guarded.pod()["desiredStatus"] == "RUNNING")
    plan = guarded.cli("plan")
    assert plan.returncode == 0 and "SSH did not answer" not in plan.stdout, plan.stdout + plan.stderr
    _assert_nothing_left_billing(guarded)
    log = (guarded.volume() / ".podreconcile" / "idle-guard.log").read_text()
    assert "no live run and no SSH session for 5s (pod.idle_timeout); stopping the pod" in log


def test_a_second_ctrl_c_leaves_the_pod_running_and_says_how_to_stop_it(guarded, sandbox):
    # The stop (REST v2's pod action; this apply's first, as it creates the pod) hangs like a RunPod
    # gateway timeout, so the second Ctrl+C lands while it is under way.
    sandbox.cli("fault", "v2.pods.action", "--times", "1", "--error", "timeout", "--hang", "15", "--not-applied")
    apply = guarded.popen("apply", "--yes")
    try:
        wait_for_line(apply.stderr, r"synced \d+ file")
        apply.send_signal(signal.SIGINT)
        wait_for_line(apply.stderr, r"==> stopping pod")
        time.sleep(0.5)  # into the stop call
        apply.send_signal(signal.SIGINT)
        _, err = apply.communicate(timeout=60)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.communicate()
    assert apply.returncode == 130
    assert "is left RUNNING and billing; stop it with: podreconcile stop" in err, err
    assert guarded.pod()["desiredStatus"] == "RUNNING"
    _assert_nothing_left_billing(guarded)  # the guard, armed at the code sync, stops it


def test_a_run_that_starts_later_resets_the_guard(guarded):
    """A run longer than idle_timeout, with nobody connected, is never stopped by the guard; the runner
    stops the pod at its end."""
    guarded.edit("configs/tiny.yaml", max_steps=40, step_seconds=0.3)  # ~12 s, over twice the idle_timeout
    result = guarded.cli("apply", "--yes", "--detach")
    assert result.returncode == 0 and "detached" in result.stderr, result.stderr
    _assert_nothing_left_billing(guarded)
    assert guarded.current_log().rstrip().endswith("EXIT_CODE=0")
    log = guarded.volume() / ".podreconcile" / "idle-guard.log"
    assert not log.exists(), log.read_text()


# ---- preflight: what would fail after a create fails before it ----


def test_a_folder_that_is_not_a_git_repository_is_blocked_before_any_create(guarded, sandbox):
    subprocess.run(["rm", "-rf", str(guarded.root / ".git")], check=True)
    plan = guarded.cli("plan")
    assert plan.returncode == 0
    assert "Blocked:" in plan.stdout and "not a folder inside a git repository" in plan.stdout
    assert "git init" in plan.stdout
    creates = _creates(sandbox)
    apply = guarded.cli("apply", "--yes")
    assert apply.returncode == 1 and "Nothing was changed" in apply.stderr, apply.stderr
    assert "Traceback" not in apply.stderr
    assert _creates(sandbox) == creates
    assert guarded.pods() == []


def test_an_unknown_gpu_type_or_a_missing_data_file_stops_apply_before_any_create(guarded, sandbox):
    guarded.edit("podspec.yaml", pod__gpu_types=["NVIDIA GeForce RTX 4909"])
    plan = guarded.cli("plan", "--json")
    blocker = json.loads(plan.stdout)["blocker"]
    assert "'NVIDIA GeForce RTX 4909' is not a GPU type RunPod knows" in blocker
    assert "did you mean 'NVIDIA GeForce RTX 4090'" in blocker and "podspec.yaml:" in blocker
    creates = _creates(sandbox)
    assert guarded.cli("apply", "--yes").returncode == 1
    assert _creates(sandbox) == creates
    guarded.edit("podspec.yaml", pod__gpu_types=["NVIDIA GeForce RTX 4090"])
    (guarded.root / "data" / "tiny.txt").unlink()
    for command in (("plan",), ("apply", "--yes")):
        result = guarded.cli(*command)
        assert result.returncode == 1 and "data[0].from: data/tiny.txt does not exist" in result.stderr
    assert _creates(sandbox) == creates and guarded.pods() == []


def _creates(sandbox) -> int:
    calls = json.loads(sandbox.cli("calls").stdout)
    return calls.get("v2.pods.create", 0) + calls.get("podFindAndDeployOnDemand", 0) + calls.get("podRentInterruptable", 0)
