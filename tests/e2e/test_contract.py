"""Issue 8 end to end: the plan is the contract. A saved plan's start is never silently turned into a
replacement; a live run is never killed by surprise (and `--replace-now` says what it kills and resumes
from the checkpoint it named); a run that ended unwatched is not launched again; a field change is
shown with its policy."""

from __future__ import annotations

import json

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def detach_and_stall(project, stall_at: int) -> None:
    """A detached run that saves checkpoint-10.. and then hangs alive after `stall_at`."""
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt",
                                           "TINY_STALL_AT_STEP": str(stall_at)})
    project.edit("configs/tiny.yaml", max_steps=stall_at + 10, step_seconds=0.05)
    result = project.cli("apply", "--yes", "--detach")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: (project.checkpoints() / f"checkpoint-{stall_at}" / "trainer_state.json").exists(), timeout=60)
    wait_until(lambda: "stalling after step" in project.current_log(), timeout=30)


def test_a_saved_plan_whose_start_would_now_need_a_replace_is_refused_naming_it(project, tmp_path):
    detach_and_stall(project, stall_at=10)
    pod_id = project.pod()["id"]
    project.sandbox.cli("preempt", pod_id)
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=30)

    saved = tmp_path / "plan.json"
    assert project.cli("plan", "--out", str(saved)).returncode == 0
    actions = json.loads(saved.read_text())["plan"]["actions"]
    assert [a["kind"] for a in actions] == ["start_pod", "sync_code", "upload_data", "launch_run"]
    assert "contingency" not in actions[0], "no network volume: no replacement branch"

    project.sandbox.cli("fault", "v2.pods.action", "--times", "1", "--error", "host-gpus-busy")
    refused = project.cli("apply", str(saved))
    assert refused.returncode == 1, refused.stdout
    assert f"Pod {pod_id} cannot start: its host has no free GPU" in refused.stderr
    assert f"replace pod {pod_id}" in refused.stderr and f"the saved plan {saved} does not include" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert [p["id"] for p in project.pods()] == [pod_id] and project.pod()["desiredStatus"] == "EXITED"


def test_an_image_change_under_a_live_run_waits_and_replace_now_resumes_from_the_named_checkpoint(project):
    volume = project.sandbox.cli("volume", "create", "contract", "--size-gb", "5").stdout.strip()
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
    detach_and_stall(project, stall_at=20)
    old = project.pod()["id"]
    project.edit("podspec.yaml", pod__image="runpod/pytorch:2.5.0-py3.11-cuda12.4.1-devel-ubuntu22.04")

    waiting = project.cli("plan", "--detailed-exitcode")
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr
    assert "has not started" not in waiting.stdout and "replace pod" not in waiting.stdout
    assert "the replacement waits for the end of run tiny_run" in waiting.stdout
    assert "step 20" in waiting.stdout and "latest checkpoint checkpoint-20" in waiting.stdout
    assert "No changes now; 1 deferred." in waiting.stdout
    document = json.loads(project.cli("plan", "--json").stdout)
    assert document["deferred_code"] == "run_alive" and document["deferred"][0]["field"] == "image"

    forced = json.loads(project.cli("plan", "--json", "--replace-now").stdout)
    replace, launch = forced["actions"][0], forced["actions"][-1]
    assert (replace["kind"], replace["code"]) == ("replace_pod", "replace_now")
    assert "is killed and resumes on the new pod from checkpoint-20" in replace["reason"]
    assert (launch["mode"], launch["checkpoint"]) == ("resume", "checkpoint-20")

    applied = project.cli("apply", "--yes", "--replace-now")
    assert applied.returncode == 0, applied.stderr
    new = project.pod()
    assert new["id"] != old and new["networkVolumeId"] == volume
    assert "resume from checkpoint-20" in applied.stdout and "EXIT_CODE=0" in applied.stdout
    assert project.status()["resumed_from"] == "checkpoint-20"


def test_a_detached_run_that_succeeded_unwatched_is_not_relaunched_and_volume_gb_shows_its_policy(project):
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=60)  # it ended while nobody watched

    plan = project.cli("plan")
    assert "launch run?" in plan.stdout and "launch only if the run has not succeeded" in plan.stdout
    assert "outcome is unknown until the pod's volume can be read" in plan.stdout

    applied = project.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "skipped launch run: run tiny_run already succeeded (attempt 1)" in applied.stderr
    assert "stopping pod" in applied.stderr
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=30)
    assert project.status()["attempt"] == 1 and project.cli("plan", "--detailed-exitcode").returncode == 0

    project.edit("podspec.yaml", pod__volume_gb=6)
    changed = project.cli("plan")
    assert "deferred: pod.volume_gb: 5 -> 6 (forces a replacement); waits for the next run" in changed.stdout
    forced = project.cli("plan", "--force-restart")
    assert "replace pod" in forced.stdout and "pod.volume_gb: 5 -> 6 (forces a replacement)" in forced.stdout
