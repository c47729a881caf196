"""Issue 10 end to end: RunPod's REST v2 alone. Most tests run against the session sandbox whose
GraphQL API is gone (`sandbox up --graphql gone`): the whole flow, in-place updates, GPU candidates
with stock and price, 429's Retry-After, spot's one sentence, the runner's self-stop without runpodctl.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

FIRST, SECOND = "NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000"
NEW_IMAGE = "runpod/pytorch:2.5.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
NO_RUNPODCTL = "rm -f /usr/local/bin/runpodctl && cat requirements.txt"  # run.setup: a pod without runpodctl


def stopped(project) -> bool:
    return project.pod()["desiredStatus"] == "EXITED"


def complete(checkpoints, step: int) -> bool:
    return (checkpoints / f"checkpoint-{step}" / "trainer_state.json").exists()


def stop_notes(project) -> str:
    """What the runner wrote about stopping the pod: its diary, runner.log, in the run's folder on the volume."""
    return (project.volume() / ".podreconcile" / "runs" / "tiny_run" / "runner.log").read_text()


@pytest.fixture
def no_stock_for_the_first_gpu(sandbox_gone):
    sandbox_gone.cli("stock", FIRST, "--level", "NONE")
    yield
    sandbox_gone.cli("stock", FIRST, "--level", "HIGH")


def test_the_whole_flow_with_graphql_gone(project_gone, no_stock_for_the_first_gpu):
    project = project_gone
    project.edit("configs/tiny.yaml", max_steps=40, step_seconds=0.1)

    # Create: the plan lists every candidate with its stock and price and skips the one without stock.
    plan = project.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert f"gpu 1: {FIRST} (stock NONE, $0.69/GPU-h): skipped, no stock" in plan.stdout
    assert re.search(rf"gpu 2: {SECOND} \(stock HIGH, \$\d+\.\d\d/GPU-h\)\n", plan.stdout)
    assert f"(1 x {SECOND})" in plan.stdout, "the cost is the first candidate with stock"
    document = json.loads(project.cli("plan", "--json").stdout)
    assert [c["stock"] for c in document["actions"][0]["candidates"]] == ["NONE", "HIGH"]

    # Sync, train (detached), preempt.
    created = project.cli("apply", "--yes", "--detach")
    assert created.returncode == 0, created.stderr
    assert f"skipping {FIRST}: no stock" in created.stderr and f"({SECOND})" in created.stderr
    pod_id = project.pod()["id"]
    assert project.pod()["machine"]["gpuTypeId"] == SECOND
    checkpoints = project.checkpoints()
    wait_until(lambda: complete(checkpoints, 20), timeout=60)
    project.sandbox.cli("preempt", pod_id)
    wait_until(lambda: stopped(project), timeout=30)
    latest = max(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").exists())

    # An image change on the stopped pod is an in-place update: same pod, same volume disk, resumed.
    project.edit("podspec.yaml", pod__image=NEW_IMAGE)
    plan = project.cli("plan")
    assert "~ update pod" in plan.stdout and "replace pod" not in plan.stdout
    assert f"pod.image: runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04 -> {NEW_IMAGE}" in plan.stdout
    assert "restart: no, the stopped pod takes them at its next start" in plan.stdout
    applied = project.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert f"pod {pod_id} takes the changes at its next start" in applied.stderr
    assert f"resume from checkpoint-{latest}" in applied.stdout and "EXIT_CODE=0" in applied.stdout
    assert [p["id"] for p in project.pods()] == [pod_id] and project.v2_pod()["image"] == NEW_IMAGE
    assert complete(checkpoints, 10), "the checkpoints on the pod's volume disk survived the update"

    # Self-stop without GraphQL; then nothing is left to do, and destroy goes through v2.
    wait_until(lambda: stopped(project), timeout=30)
    assert re.search(rf"pod {pod_id} is EXITED \(stopped via (runpodctl|api_v2)\)", stop_notes(project))
    assert project.cli("plan", "--detailed-exitcode").returncode == 0
    status = project.cli("status")
    assert status.returncode == 0 and pod_id in status.stdout
    destroyed = project.cli("destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    assert project.pods() == []


def test_a_busy_host_replaces_the_pod_on_its_network_volume_with_graphql_gone(project_gone):
    project = project_gone
    volume = project.sandbox.cli("volume", "create", "v2only", "--size-gb", "5").stdout.strip()
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
    project.edit("configs/tiny.yaml", max_steps=20, step_seconds=0.05)
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project), timeout=30)
    old = project.pod()["id"]

    project.sandbox.cli("fault", "v2.pods.action", "--times", "1", "--error", "host-gpus-busy")
    replaced = project.cli("apply", "--yes", "--force-restart")
    assert replaced.returncode == 0, replaced.stderr
    assert "as the plan foresaw, if its host has no free GPU: replace it" in replaced.stderr
    new = project.pod()
    assert new["id"] != old and new["networkVolumeId"] == volume and "EXIT_CODE=0" in replaced.stdout
    wait_until(lambda: stopped(project), timeout=30)


def test_a_misspelt_gpu_type_fails_at_plan_with_the_closest_names(project_gone):
    project = project_gone
    project.edit("podspec.yaml", pod__gpu_types=["NVIDIA GeForce RTX 4909", SECOND])
    plan = project.cli("plan")
    assert "'NVIDIA GeForce RTX 4909' is not a GPU type RunPod knows" in plan.stdout
    assert f"did you mean '{FIRST}'" in plan.stdout and "podspec.yaml:" in plan.stdout
    refused = project.cli("apply", "--yes")
    assert refused.returncode == 1 and "Nothing was changed" in refused.stderr
    assert project.pods() == []


def test_a_429_waits_as_long_as_retry_after_says(project_gone):
    project = project_gone
    project.sandbox.cli("fault", "v2.pods.list", "--times", "1", "--error", "http-429", "--retry-after", "2")
    started = time.monotonic()
    plan = project.cli("plan")
    waited = time.monotonic() - started
    assert plan.returncode == 0, plan.stderr
    notice = re.search(r"retrying in (\d+\.\d) s", plan.stderr)
    assert notice, plan.stderr
    assert float(notice.group(1)) == 2.0 and waited >= 2.0


def test_a_spot_spec_says_spot_is_gone_and_how_to_switch(project_gone):
    project = project_gone
    project.edit("podspec.yaml", pod__interruptible=True, pod__bid_per_gpu=0.3)
    for command in (("plan",), ("apply", "--yes")):
        result = project.cli(*command)
        assert result.returncode == 1
        assert ("RunPod has retired its GraphQL API, the only API that rents spot pods, so pod.interruptible: true "
                "can no longer be served; switch to on-demand: set pod.interruptible: false and remove "
                "pod.bid_per_gpu.") in result.stderr
        assert "podspec.yaml:" in result.stderr and "Traceback" not in result.stderr
    assert project.pods() == []


def test_a_spot_plan_warns_that_runpod_is_retiring_spot(project):
    project.edit("podspec.yaml", pod__interruptible=True, pod__bid_per_gpu=0.3)
    plan = project.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert "spot pods exist only in RunPod's GraphQL API, which RunPod is retiring" in plan.stdout


def test_the_runner_stops_the_pod_without_runpodctl_over_v2(project_gone):
    project = project_gone
    project.edit("podspec.yaml", run__setup=NO_RUNPODCTL)
    project.edit("configs/tiny.yaml", max_steps=10, step_seconds=0.05)
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project), timeout=30)
    notes = stop_notes(project)
    assert "runpodctl not found; using the API" in notes and "(stopped via api_v2)" in notes


def test_the_runner_stops_the_pod_when_v2_refuses_the_pod_key(project):
    project.edit("podspec.yaml", run__setup=NO_RUNPODCTL)
    project.edit("configs/tiny.yaml", max_steps=10, step_seconds=0.05)
    project.sandbox.cli("fault", "v2.pods.action", "--times", "1", "--error", "http-403", "--pod-key")
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project), timeout=30)
    notes = stop_notes(project)
    assert "runpodctl not found" in notes and "403" in notes and "(stopped via graphql)" in notes


def test_an_env_change_under_a_live_run_waits_and_replace_now_restarts_the_same_pod(project_gone):
    project = project_gone
    env = {"TINY_DATA_FILE": "/workspace/data/tiny.txt", "TINY_STALL_AT_STEP": "20"}
    project.edit("podspec.yaml", pod__env=env)
    project.edit("configs/tiny.yaml", max_steps=30, step_seconds=0.05)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    wait_until(lambda: complete(project.checkpoints(), 20), timeout=60)
    wait_until(lambda: "stalling after step 20" in project.current_log(), timeout=30)
    pod_id = project.pod()["id"]
    status = json.loads(project.cli("status", "--json").stdout)
    assert status["run"]["alive"] and status["pod"]["state"] == "RUNNING"
    assert "stalling after step 20" in project.cli("logs", "--tail", "3").stdout

    project.edit("podspec.yaml", pod__env={**env, "TINY_FAIL_AT_STEP": "25"})
    waiting = project.cli("plan", "--detailed-exitcode")
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr
    assert "updating the pod restarts it, so the update waits for the end of run tiny_run" in waiting.stdout
    (line,) = [line for line in waiting.stdout.splitlines() if "TINY_FAIL_AT_STEP" in line and "deferred" in line]
    assert "pod.env.TINY_FAIL_AT_STEP: (changed)" in line and "25" not in line, "the name only, never a value"

    now = project.cli("apply", "--yes", "--replace-now")
    assert now.returncode == 3, now.stderr  # the new env reached the restarted pod: training fails at step 25
    assert f"restarted pod {pod_id} to take the changes" in now.stderr
    assert "resume from checkpoint-20" in now.stdout and "failing at step 25" in now.stdout
    assert [p["id"] for p in project.pods()] == [pod_id]
    wait_until(lambda: stopped(project), timeout=30)
    visit = project.cli("logs", "--start", "--tail", "2")  # start and stop again, over v2
    assert visit.returncode == 0 and "EXIT_CODE=1" in visit.stdout, visit.stderr
    assert stopped(project)
