"""Issue 11, end to end: a network volume read and written through RunPod's S3 API with no pod
running (plan, logs, sync-data, pull), and the SSH path when S3 cannot reach it."""

from __future__ import annotations

import filecmp
import json
import os
import signal

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

    resumed = project.cli("apply", "--yes", "--detach")
    assert resumed.returncode == 0, resumed.stderr
    assert "resume run" in resumed.stdout and f"from {latest} (step" in resumed.stdout
    wait_until(lambda: (project.checkpoints() / "final_model.json").exists(), timeout=60)
    assert f"resume from {latest}" in project.train_log()
    wait_until(lambda: stopped(project), timeout=60)  # the pod stops itself when the run ends
    before = starts(project)
    done = project.cli("plan")
    assert done.returncode == 0 and "succeeded" in done.stdout and "read from the volume" in done.stdout
    assert "latest complete checkpoint on the volume: checkpoint-40" in done.stdout
    every = project.cli("logs", "--all")
    assert every.returncode == 0 and every.stdout == project.train_log()
    assert "attempt 1" in every.stdout and "attempt 2" in every.stdout
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

    secret = project.extra_env["RUNPOD_S3_SECRET_KEY"]
    outputs = [planned, tail, resumed, done, pulled, again]
    assert not any(secret in r.stdout + r.stderr for r in outputs), "the S3 secret is never printed"
    kept = [p.read_text() for p in (project.root / ".podreconcile").rglob("*") if p.is_file()]
    assert kept and not any(secret in text for text in kept), "nor written to podreconcile's files"


def make_dataset(root) -> list:
    """300 small files in 10 folders and two 20 MB files, outside git (data is not code)."""
    for i in range(300):
        folder = root / "bigdata" / "small" / f"{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_bytes(f"sample {i}\n".encode() * (i + 1))
    for name in ("a.bin", "b.bin"):
        (root / "bigdata" / name).write_bytes(os.urandom(20 * MB))
    with open(root / ".gitignore", "a") as f:
        f.write("bigdata/\n")
    return sorted(p for p in (root / "bigdata").rglob("*") if p.is_file())


def on_volume(project, local) -> bool:
    remote = project.volume() / "bigdata" / local.relative_to(project.root / "bigdata")
    return remote.is_file() and filecmp.cmp(local, remote, shallow=False)


def s3_calls(project, operation: str) -> int:
    return daemon.admin(project.sandbox.running, "calls", {}).get(f"s3.{operation}", 0)


def test_sync_data_to_a_stopped_pod_goes_through_s3_sends_nothing_twice_and_resumes(project):
    project.use_s3()
    on_network_volume(project, steps=10)
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project))
    files = make_dataset(project.root)
    project.edit("podspec.yaml", data=[{"from": "data/tiny.txt", "to": "/workspace/data/tiny.txt"},
                                       {"from": "bigdata", "to": "/workspace/bigdata"}])
    before = starts(project)

    synced = project.cli("sync-data")
    assert synced.returncode == 0, synced.stderr
    assert "uploading 302 of 303 file(s)" in synced.stderr and "through RunPod's S3 API" in synced.stderr
    assert all(on_volume(project, f) for f in files)
    puts = s3_calls(project, "PutObject")
    again = project.cli("sync-data")
    assert again.returncode == 0 and "nothing to upload: the volume holds all 303" in again.stderr
    assert s3_calls(project, "PutObject") == puts, "a second run sends nothing"

    changed = files[:2] + files[-50:]  # both 20 MB files and 50 small ones
    for path in changed:
        path.write_bytes(path.read_bytes()[::-1] + b"changed\n")
    project.sandbox.cli("fault", "s3.PutObject", "--times", "1", "--error", "timeout", "--hang", "100")
    killed = project.popen("sync-data")
    try:  # every changed file but the one whose upload hangs arrives; then the upload is killed
        wait_until(lambda: sum(on_volume(project, f) for f in changed) == len(changed) - 1, timeout=60)
        assert killed.poll() is None, "the hanging upload keeps the command running"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    resumed = project.cli("sync-data")
    assert resumed.returncode == 0, resumed.stderr
    assert "uploading 1 of 303 file(s)" in resumed.stderr
    assert all(on_volume(project, f) for f in files)
    assert starts(project) == before and stopped(project), "no upload started the pod"

    project.use_s3(False)
    plan = project.cli("plan")
    assert plan.returncode == 0 and "no S3 key pair" in plan.stdout


def test_without_s3_everything_goes_over_ssh_and_plan_says_why(project):
    project.use_s3()  # the keys are there, but CA-MTL-1 has no S3 endpoint
    on_network_volume(project, data_center="CA-MTL-1", steps=20)
    first = project.cli("plan")
    assert first.returncode == 0 and "over SSH: data center CA-MTL-1 has no S3 API" in first.stdout
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project))
    done = project.cli("plan")
    assert done.returncode == 0 and "succeeded" in done.stdout and "CA-MTL-1 has no S3 API" in done.stdout

    refused = project.cli("logs", "--tail", "5")
    assert refused.returncode == 1 and "logs --start" in refused.stderr and "CA-MTL-1" in refused.stderr
    (project.root / "data" / "tiny.txt").write_text("newer data\n")
    synced = project.cli("sync-data")
    assert synced.returncode == 0, synced.stderr
    assert "start pod" in synced.stderr and "leaving the pod stopped" in synced.stderr

    wait_until(lambda: stopped(project))
    assert project.cli("pull").returncode == 1
    pulled = project.cli("pull", "--start")
    assert pulled.returncode == 0, pulled.stderr
    target = project.root / "pulled" / "tiny_run" / "checkpoint-20"
    source = project.checkpoints() / "checkpoint-20"
    assert all((target / p.name).read_bytes() == p.read_bytes() for p in source.iterdir())
    assert stopped(project)


def test_destroy_says_the_volume_disk_takes_the_checkpoints_and_how_to_pull_them(project):
    project.edit("configs/tiny.yaml", max_steps=10, step_seconds=0.05)
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: stopped(project))
    destroyed = project.cli("destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    assert "destroy deletes them" in destroyed.stderr and "podreconcile pull --start" in destroyed.stderr
