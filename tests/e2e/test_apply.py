"""Issue 3's must-show list, end to end: real sandbox pods, sshd, tmux, files; the CLI as a user runs it."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def pod_status(project) -> str:
    return project.pod()["desiredStatus"]


def wait_for_line(stream, pattern: str, timeout: float = 60) -> str:
    """Read a Popen text stream until a line matches `pattern`."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r}; saw:\n{''.join(seen)}")


def test_first_apply_trains_and_the_pod_stops_itself(project):
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("EXIT_CODE=0")
    assert "training succeeded" in result.stderr
    wait_until(lambda: pod_status(project) == "EXITED")
    assert project.current_log().rstrip().endswith("EXIT_CODE=0")
    assert project.status()["state"] == "succeeded"
    assert project.status()["stop_wait"]["followers"] == "read", "the runner waited for apply to read the end"
    after = project.cli("plan", "--detailed-exitcode")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "succeeded" in after.stdout and "No changes." in after.stdout


def test_preempted_training_resumes_from_the_latest_complete_checkpoint(project):
    project.edit("configs/tiny.yaml", max_steps=60, step_seconds=0.15)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    ckpts = project.checkpoints()
    wait_until(lambda: (ckpts / "checkpoint-20" / "trainer_state.json").exists(), timeout=30)
    project.sandbox.cli("preempt", project.pod()["id"])
    wait_until(lambda: pod_status(project) == "EXITED")
    latest = max(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*") if (p / "trainer_state.json").exists())
    (ckpts / "checkpoint-999").mkdir()  # a save cut short: no trainer_state.json
    plan = project.cli("plan")
    assert "start pod" in plan.stdout
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"resume from checkpoint-{latest}" in result.stdout
    assert "checkpoint-999" in project.current_log()  # the runner says it skipped the incomplete one
    first_step = re.search(r"^step (\d+) ", project.current_log(), re.M)
    assert first_step and int(first_step.group(1)) == latest + 1, "training continues from the checkpoint's step"
    assert "attempt 2" in project.train_log() and project.current_log().rstrip().endswith("EXIT_CODE=0")


def test_force_restart_ignores_checkpoints(project):
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: pod_status(project) == "EXITED")
    plan = project.cli("plan", "--force-restart")
    assert "FORCE RESTART" in plan.stdout
    result = project.cli("apply", "--yes", "--force-restart")
    assert result.returncode == 0, result.stderr
    assert "FORCE RESTART: checkpoints ignored" in result.stdout
    assert re.search(r"^step 1 ", project.current_log(), re.M)


def test_ctrl_c_detaches_and_training_goes_on(project):
    # Long enough that training is still running when the signal lands on a loaded machine.
    project.edit("configs/tiny.yaml", max_steps=60, step_seconds=0.2)
    apply = project.popen("apply", "--yes")
    wait_for_line(apply.stderr, "following the training log")
    apply.send_signal(signal.SIGINT)
    out, err = apply.communicate(timeout=30)
    assert apply.returncode == 0, err
    assert "detached" in err and "podreconcile logs --follow" in err
    wait_until(lambda: pod_status(project) == "EXITED", timeout=60)
    assert project.current_log().rstrip().endswith("EXIT_CODE=0")


def test_failing_training_stops_the_pod_and_exits_3(project):
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "TINY_FAIL_AT_STEP": "5"})
    result = project.cli("apply", "--yes")
    assert result.returncode == 3, result.stderr
    assert "EXIT_CODE=1" in result.stdout
    wait_until(lambda: pod_status(project) == "EXITED")
    plan = project.cli("plan")
    assert "launch run" in plan.stdout and "exit code 1" in plan.stdout


def test_failing_setup_stops_the_pod_and_exits_3(project):
    project.edit("podspec.yaml", run__setup="echo setting up; exit 7")
    result = project.cli("apply", "--yes")
    assert result.returncode == 3, result.stderr
    assert "EXIT_CODE=7" in result.stdout
    wait_until(lambda: pod_status(project) == "EXITED")
    assert "exit code 7" in project.cli("plan").stdout


def test_apply_killed_after_create_is_adopted_never_duplicated(project):
    apply = project.popen("apply", "--yes")
    wait_for_line(apply.stderr, "created pod")
    apply.kill()
    apply.wait()
    assert len(project.pods()) == 1
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    assert len(project.pods()) == 1
    wait_until(lambda: pod_status(project) == "EXITED")
    project.state_path().unlink()
    again = project.cli("plan")
    assert "adopt pod" in again.stdout and "create pod" not in again.stdout
    assert project.cli("apply", "--yes").returncode == 0
    assert len(project.pods()) == 1


def test_a_second_apply_while_one_follows_the_log_starts_nothing(project):
    """The follower holds no lock (issue 8): a second apply finds the run alive and leaves it alone."""
    # The run stays alive after step 5 however slow the machine is (examples/tiny's TINY_STALL_AT_STEP).
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "TINY_STALL_AT_STEP": "5"})
    project.edit("configs/tiny.yaml", max_steps=60, step_seconds=0.1)
    first = project.popen("apply", "--yes")
    wait_for_line(first.stderr, "following the training log")
    second = project.cli("apply", "--yes", "--detach")
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout and "launch run" not in second.stdout
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    assert project.current_log().count("=== podreconcile run") == 1


class TestFaults:
    def test_429_and_500_are_retried(self, project):
        project.sandbox.cli("fault", "v2.pods.list", "--times", "2", "--error", "http-429")
        project.sandbox.cli("fault", "v2.pods.create", "--times", "1", "--error", "http-500")
        result = project.cli("apply", "--yes")
        assert result.returncode == 0, result.stderr
        assert len(project.pods()) == 1

    def test_timed_out_create_is_found_by_name_not_repeated(self, project):
        project.sandbox.cli("fault", "v2.pods.create", "--times", "1", "--error", "http-500", "--applied")
        result = project.cli("apply", "--yes")
        assert result.returncode == 0, result.stderr
        assert len(project.pods()) == 1

    def test_no_capacity_falls_through_to_the_next_gpu_type(self, project):
        project.sandbox.cli("fault", "v2.pods.create", "--times", "1", "--error", "no-capacity")
        result = project.cli("apply", "--yes")
        assert result.returncode == 0, result.stderr
        assert "no capacity for NVIDIA GeForce RTX 4090" in result.stderr
        assert project.pod()["machine"]["gpuTypeId"] == "NVIDIA RTX A6000"

    def test_host_gpus_busy_replaces_the_pod_on_its_network_volume(self, project):
        volume = project.sandbox.cli("volume", "create", "tiny", "--size-gb", "5").stdout.strip()
        project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
        project.edit("configs/tiny.yaml", max_steps=60, step_seconds=0.15)
        assert project.cli("apply", "--yes", "--detach").returncode == 0
        old = project.pod()["id"]
        ckpts = project.checkpoints()
        wait_until(lambda: (ckpts / "checkpoint-20" / "trainer_state.json").exists(), timeout=30)
        project.sandbox.cli("preempt", old)
        project.sandbox.cli("fault", "v2.pods.action", "--times", "1", "--error", "host-gpus-busy")
        result = project.cli("apply", "--yes")
        assert result.returncode == 0, result.stderr
        new = project.pod()
        assert new["id"] != old and new["networkVolumeId"] == volume
        assert re.search(r"resume from checkpoint-(2|3|4|5)0", result.stdout)


def test_two_pods_with_the_name_are_stopped_and_listed_never_picked(project, sdk):
    name = f"podreconcile-{project.name}"
    ids = {sdk.create_pod(name, "img", "NVIDIA GeForce RTX 4090", ports="22/tcp", volume_in_gb=1)["id"] for _ in range(2)}
    result = project.cli("apply", "--yes")
    assert result.returncode == 1 and "will not pick one" in result.stderr
    assert all(pod_id in result.stderr for pod_id in ids)
    assert {p["id"]: p["desiredStatus"] for p in project.pods()} == {pod_id: "EXITED" for pod_id in ids}


def test_the_follower_reconnects_when_ssh_drops(project, sdk):
    project.edit("configs/tiny.yaml", max_steps=80, step_seconds=0.1)
    apply = project.popen("apply", "--yes")
    wait_for_line(apply.stderr, "following the training log")
    from tests.helpers import ssh_run, wait_for_ssh_port

    port = wait_for_ssh_port(sdk, project.pod()["id"])
    # End every other SSH session on the pod (apply's), as a network drop would.
    ssh_run(port, project.ssh_key, "for p in $(pgrep -f 'sshd: root'); do [ $p != $PPID ] && kill $p; done; true")
    out, err = apply.communicate(timeout=90)
    assert apply.returncode == 0, err
    assert "reconnecting" in err
    assert out.rstrip().endswith("EXIT_CODE=0")
    assert out.count("step 1 loss") == 1 and out.count("=== podreconcile run") == 1, "nothing printed twice"


def test_max_runtime_stops_the_pod_whatever_training_does(project):
    project.edit("configs/tiny.yaml", max_steps=400, step_seconds=0.1)
    project.edit("podspec.yaml", run__max_runtime="3s")
    result = project.cli("apply", "--yes")
    assert result.returncode == 3, result.stderr
    assert "EXIT_CODE=124" in result.stdout
    wait_until(lambda: pod_status(project) == "EXITED")
    assert project.status()["stopped_reason"] == "max_runtime"
