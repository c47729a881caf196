"""`plan` on a converged pod: the handshake to the last known endpoint begins before the arguments are
parsed, the read-only look runs on it while the API answers, and the idle guard is armed only when the
probe finds it unarmed or armed with other settings (issue 14: one SSH connection, nothing redone)."""

from __future__ import annotations

import json
import socket

import pytest

from podreconcile.sandbox import daemon


def _logins(project, pod_id: str) -> int:
    log = project.sandbox.home / "run" / pod_id / "pod.log"  # pod_init's and sshd's output
    return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0


def _api_calls(project) -> int:
    calls = daemon.admin(project.sandbox.running, "calls", {})
    calls = calls.get("calls", calls)
    return sum(v for k, v in calls.items() if isinstance(v, int) and not k.startswith("s3"))


def _guard_file(project, pod_id: str):
    return project.sandbox.home / "pods" / pod_id / "container" / "rootfs" / "run" / "podreconcile" / "idle-guard.json"


@pytest.fixture
def training(project):
    """A run that stays alive (stalled at step 3) on a pod that does not stop: plan has nothing to do."""
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "TINY_STALL_AT_STEP": "3"},
                 run__stop_pod_when_done=False)
    project.edit("configs/tiny.yaml", max_steps=50, save_steps=100, step_seconds=0.05)
    applied = project.cli("apply", "--yes", "--detach")
    assert applied.returncode == 0, applied.stderr
    return project


def test_a_converged_plan_uses_one_connection_and_leaves_an_armed_guard_alone(training):
    pod_id = training.state["pod_id"]
    guard = _guard_file(training, pod_id)
    armed_at = guard.stat().st_mtime_ns
    before, calls = _logins(training, pod_id), _api_calls(training)
    result = training.cli("plan")
    assert result.returncode == 0, result.stderr
    assert "No changes." in result.stdout and "nothing to do" in result.stdout
    assert _logins(training, pod_id) == before + 1
    assert _api_calls(training) == calls + 1  # the pods; no network volume in the spec, so no volume listing
    assert guard.stat().st_mtime_ns == armed_at  # armed with these settings already: not armed again


def test_a_changed_idle_timeout_is_carried_to_the_running_guard(training):
    pod_id = training.state["pod_id"]
    training.edit("podspec.yaml", pod__idle_timeout="20m")
    result = training.cli("plan")
    assert result.returncode == 0, result.stderr
    assert json.loads(_guard_file(training, pod_id).read_text())["timeout_s"] == 1200


def test_a_stale_endpoint_in_the_state_costs_nothing_but_the_guess(training):
    """The state remembers a port nothing listens on: the early handshake fails, the regular one connects."""
    pod_id = training.state["pod_id"]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead_port = free.getsockname()[1]
    path = training.state_path()
    state = json.loads(path.read_text())
    state["ssh_endpoint"] = f"127.0.0.1:{dead_port}"
    path.write_text(json.dumps(state))
    before = _logins(training, pod_id)
    result = training.cli("plan")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert _logins(training, pod_id) == before + 1


def test_a_no_op_apply_looks_once(training):
    """Its plan's look is the applier's first one: one listing of the pods, one connection."""
    pod_id = training.state["pod_id"]
    before, calls = _logins(training, pod_id), _api_calls(training)
    result = training.cli("apply", "--yes", "--detach")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert _logins(training, pod_id) == before + 1
    assert _api_calls(training) == calls + 1


def test_a_pod_found_up_whose_sshd_is_gone_fails_in_seconds_not_a_boots_wait(training):
    """`logs` (a visit) lists the pod up with its port, then sshd refuses: as when the run ends and the
    pod stops between the listing and the connect. The visit gives up after 30 s, not a boot's 10 minutes."""
    training.cli("ssh", "--", "pkill -x sshd")
    result = training.cli("logs", "--tail", "1", timeout=120)
    assert result.returncode == 1
    assert "SSH not ready yet" in result.stderr and "Traceback" not in result.stderr
