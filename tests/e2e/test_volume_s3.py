"""Issue 11, end to end: a network volume read and written through RunPod's S3 API with no pod
running (plan, logs, sync-data, pull), and the SSH path when S3 cannot reach it."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess

import pytest

from podreconcile.sandbox import daemon
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

MB = 1 << 20
STARTS = ("podResume", "v2.pods.action")


def starts(project) -> int:
    """Pod starts the sandbox has answered so far (GraphQL resumes and v2 actions)."""
    calls = daemon.admin(project.sandbox.running, "calls", {})
    return sum(calls.get(name, 0) for name in STARTS)


def on_network_volume(project, data_center: str = "EU-RO-1", steps: int = 30, step_seconds: float = 0.05) -> str:
    volume = project.sandbox.cli("volume", "create", "s3", "--size-gb", "5", "--data-center", data_center).stdout.strip()
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
    project.edit("configs/tiny.yaml", max_steps=steps, step_seconds=step_seconds)
    return volume


def stopped(project) -> bool:
    return project.pod()["desiredStatus"] == "EXITED"


def test_a_stopped_pod_is_planned_logged_and_pulled_through_s3(project):
    project.use_s3()
    on_network_volume(project, steps=40, step_seconds=0.1)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    wait_until(lambda: (project.checkpoints() / "checkpoint-20" / "trainer_state.json").exists(), timeout=60)
    assert project.cli("stop").returncode == 0
    wait_until(lambda: stopped(project))
    before = starts(project)

    planned = project.cli("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    latest = max((c for c in project.checkpoints().iterdir() if (c / "trainer_state.json").exists()),
                 key=lambda c: int(c.name.split("-")[1])).name
    launch = plan["actions"][-1]
    assert [a["kind"] for a in plan["actions"]][:1] == ["start_pod"] and launch["kind"] == "launch_run"
    assert launch["mode"] == "resume" and launch["checkpoint"] == latest
    assert any("through RunPod's S3 API (EU-RO-1)" in note for note in plan["notes"])

    tail = project.cli("logs", "--tail", "5")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.splitlines() == project.current_log().splitlines()[-5:]
    assert starts(project) == before and stopped(project), "plan and logs started nothing"

    resumed = project.cli("apply", "--yes")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resume from {latest}" in resumed.stdout + resumed.stderr
    wait_until(lambda: stopped(project), timeout=60)
    before = starts(project)
    done = project.cli("plan")
    assert done.returncode == 0 and "succeeded" in done.stdout and "read from the volume" in done.stdout
    assert "latest complete checkpoint on the volume: checkpoint-40" in done.stdout
    assert starts(project) == before and stopped(project)

    pulled = project.cli("pull")
    assert pulled.returncode == 0, pulled.stderr
    target = project.root / "pulled" / "tiny_run"
    assert "latest complete checkpoint: checkpoint-40" in pulled.stdout
    source = project.checkpoints() / "checkpoint-40"
    same, different, missing = filecmp.cmpfiles(source, target / "checkpoint-40",
                                                [p.name for p in source.iterdir()], shallow=False)
    assert same and not different and not missing
    assert (target / "final_model.json").read_bytes() == (project.checkpoints() / "final_model.json").read_bytes()
    assert not (target / "checkpoint-30").exists() and (target / "logs" / "train.log").is_file()
    again = project.cli("pull")
    assert again.returncode == 0 and "Pulled 0 file(s)" in again.stdout
    assert starts(project) == before and stopped(project), "pull started nothing"
