"""Issue 8, items 3 and 5, end to end: every command agrees on which pod is ours, on the tricky
states (two specs in one folder, a stale state id plus a legacy POD_ID, a pod renamed behind our
back, the old shared state file); and the lock guards changes, not reading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.e2e.test_apply import wait_for_line
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"  # the tiny spec's: nothing forces a replacement


def long_training(project) -> None:
    """Training that outlives the test's commands (each test stops or destroys the pod itself)."""
    project.edit("configs/tiny.yaml", max_steps=3000, step_seconds=0.1)


def add_spec(project, file: str, name: str) -> None:
    shutil.copy(project.root / "podspec.yaml", project.root / file)
    project.edit(file, name=name)


def status_pod(project, *spec: str) -> dict | None:
    result = project.cli("status", "--json", *spec)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["pod"]


def refused(result, fix: str) -> bool:
    return result.returncode == 1 and fix in result.stderr and "Traceback" not in result.stderr


def desired_status(project, pod_id: str) -> str | None:
    pod = project.pod_by_id(pod_id)
    return pod["desiredStatus"] if pod else None


def test_two_specs_in_one_folder_each_keep_their_own_pod(project):
    long_training(project)
    add_spec(project, "alt.yaml", project.name[:40] + "-alt")
    alt = ("-f", "alt.yaml")
    first = project.cli("apply", "--yes", "--detach")
    assert first.returncode == 0, first.stderr
    ours = project.pod()["id"]

    plan_alt = project.cli("plan", *alt)
    assert "create pod" in plan_alt.stdout and ours not in plan_alt.stdout, plan_alt.stdout
    second = project.cli("apply", "--yes", "--detach", *alt)
    assert second.returncode == 0, second.stderr
    (other,) = project.pods("alt.yaml")
    theirs = other["id"]
    assert theirs != ours and len(project.pods()) == 1
    assert project.state["pod_id"] == ours and project.read_state("alt.yaml")["pod_id"] == theirs

    assert status_pod(project)["id"] == ours and status_pod(project, *alt)["id"] == theirs
    assert json.loads(project.cli("plan", "--json").stdout)["actions"] == []
    assert json.loads(project.cli("plan", "--json", *alt).stdout)["actions"] == []
    assert project.cli("logs", "--tail", "1", *alt).returncode == 0
    again = project.cli("apply", "--yes", "--detach")
    assert again.returncode == 0 and "nothing to do" in again.stdout and project.pod()["id"] == ours
    synced = project.cli("sync-data", *alt)
    assert synced.returncode == 0 and "nothing to upload" in synced.stderr, synced.stderr

    stopped = project.cli("stop", *alt)
    assert stopped.returncode == 0 and f"Stopped pod {theirs}" in stopped.stdout
    wait_until(lambda: desired_status(project, theirs) == "EXITED", timeout=60)
    assert desired_status(project, ours) == "RUNNING"
    assert "start pod" in project.cli("plan", *alt).stdout
    assert json.loads(project.cli("plan", "--json").stdout)["actions"] == []

    destroyed = project.cli("destroy", "--yes", *alt)
    assert destroyed.returncode == 0 and f"Terminated pod {theirs}" in destroyed.stdout
    assert project.pod_by_id(theirs) is None and desired_status(project, ours) == "RUNNING"
    assert project.state["pod_id"] == ours and not project.state_path("alt.yaml").exists()
    assert project.cli("stop").returncode == 0
    wait_until(lambda: desired_status(project, ours) == "EXITED", timeout=60)


def test_a_pod_renamed_behind_our_back_is_not_acted_on_until_adopted(project):
    long_training(project)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    pod_id = project.pod()["id"]
    project.sandbox.cli("rename", pod_id, "renamed-in-the-console")
    fix = f"podreconcile apply --adopt {pod_id}"

    plan = project.cli("plan", "--json")
    assert plan.returncode == 0 and json.loads(plan.stdout)["actions"] == []
    assert fix in json.loads(plan.stdout)["blocker"] and "renamed" in json.loads(plan.stdout)["blocker"]
    shown = status_pod(project)
    assert shown["id"] == pod_id and shown["ours"] is False and fix in shown["adopt"]
    for command in (("apply", "--yes"), ("stop",), ("destroy", "--yes"), ("logs",), ("logs", "--start"),
                    ("sync-data",), ("tensorboard", "--port", "0")):
        assert refused(project.cli(*command), fix), command
    assert desired_status(project, pod_id) == "RUNNING" and project.pods() == [], "nothing acted, nothing created"

    adopted = project.cli("apply", "--yes", "--detach", "--adopt", pod_id)
    assert adopted.returncode == 0, adopted.stderr
    assert "adopt pod" in adopted.stdout and "launch run" not in adopted.stdout, "the live run is left alone"
    assert project.state["pod_id"] == pod_id and project.state["pod_name"] == "renamed-in-the-console"
    assert status_pod(project)["ours"] is True
    assert project.cli("stop").returncode == 0
    wait_until(lambda: desired_status(project, pod_id) == "EXITED", timeout=60)
    assert project.cli("destroy", "--yes").returncode == 0
    assert project.pod_by_id(pod_id) is None


def test_a_stale_state_id_and_a_legacy_pod_id(project, sdk):
    pub = project.ssh_key.with_suffix(".pub").read_text().strip()
    legacy = sdk.create_pod("from-the-shell-scripts", IMAGE, "NVIDIA GeForce RTX 4090", ports="22/tcp", volume_in_gb=5,
                            volume_mount_path="/workspace", env={"PUBLIC_KEY": pub, "TINY_DATA_FILE": "/workspace/data/tiny.txt"})
    try:
        with open(project.root / ".runpod.env", "a") as env:
            env.write(f"POD_ID={legacy['id']}\n")
        project.state_path().parent.mkdir(parents=True)
        project.state_path().write_text(json.dumps({"format": 1, "pod_id": "gonegonegone",
                                                    "pod_name": f"podreconcile-{project.name}"}))
        # The state file exists, so POD_ID is not used (product.md); every command agrees there is no pod.
        plan = project.cli("plan")
        assert "create pod" in plan.stdout and f"POD_ID={legacy['id']} in .runpod.env is not used" in plan.stdout
        assert status_pod(project) is None
        for command in (("stop",), ("destroy", "--yes"), ("logs",)):
            assert refused(project.cli(*command), "`podreconcile apply` creates it"), command
        assert desired_status(project, legacy["id"]) == "RUNNING"

        # Without a state file POD_ID is considered, but its name is not ours: proposed, never acted on.
        project.state_path().unlink()
        fix = f"podreconcile apply --adopt {legacy['id']}"
        plan = project.cli("plan")
        assert "proposed for adoption" in plan.stdout and fix in plan.stdout and "create pod" not in plan.stdout
        assert status_pod(project)["id"] == legacy["id"]
        for command in (("apply", "--yes"), ("stop",), ("destroy", "--yes"), ("logs",)):
            assert refused(project.cli(*command), fix), command
        assert desired_status(project, legacy["id"]) == "RUNNING" and project.pods() == []

        adopted = project.cli("apply", "--yes", "--adopt", legacy["id"])
        assert adopted.returncode == 0, adopted.stderr
        assert project.state["pod_id"] == legacy["id"] and project.pods() == []
        assert status_pod(project)["id"] == legacy["id"]
        destroyed = project.cli("destroy", "--yes")
        assert destroyed.returncode == 0 and f"Terminated pod {legacy['id']}" in destroyed.stdout
    finally:
        if project.pod_by_id(legacy["id"]):
            sdk.terminate_pod(legacy["id"])


def test_the_old_shared_state_file_is_migrated_to_its_spec_only(project):
    assert project.cli("apply", "--yes").returncode == 0
    pod_id = project.pod()["id"]
    wait_until(lambda: desired_status(project, pod_id) == "EXITED", timeout=60)
    shared = project.root / ".podreconcile" / "state.json"
    project.state_path().rename(shared)  # as an older podreconcile left it
    add_spec(project, "alt.yaml", project.name[:40] + "-alt")

    other = project.cli("plan", "-f", "alt.yaml")
    assert "create pod" in other.stdout and pod_id not in other.stdout
    assert shared.exists() and not project.state_path("alt.yaml").exists(), "another spec never takes it"
    mine = project.cli("plan", "--detailed-exitcode")
    assert mine.returncode == 0 and "adopt pod" not in mine.stdout and "succeeded" in mine.stdout, mine.stdout
    assert not shared.exists() and project.state["pod_id"] == pod_id
    assert status_pod(project)["id"] == pod_id


HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from podreconcile.engine.state_file import StateFile
    states = StateFile(Path(sys.argv[1]), sys.argv[2])
    states.lock("apply (a test holding the lock)")
    print("locked", flush=True)
    sys.stdin.readline()
""")


def test_lock_timeout_waits_for_a_short_lived_holder(project):
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project.root), project.name], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked"
        at_once = project.cli("stop")
        assert refused(at_once, "a test holding the lock") and "--lock-timeout" in at_once.stderr
        assert project.cli("status").returncode == 0, "reading takes no lock"
        waiting = project.popen("stop", "--lock-timeout", "5m")
        wait_for_line(waiting.stderr, "waiting up to 300 s for the lock")
        holder.stdin.write("\n")
        holder.stdin.flush()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        assert "Stopped pod" in out or "already stopped" in out
    finally:
        holder.kill()
        holder.wait()


def test_stop_succeeds_while_apply_follows_the_log(project):
    long_training(project)
    apply = project.popen("apply", "--yes")
    try:
        wait_for_line(apply.stderr, "following the training log")
        pod_id = project.pod()["id"]
        stopped = project.cli("stop")
        assert stopped.returncode == 0, stopped.stderr
        wait_until(lambda: desired_status(project, pod_id) == "EXITED", timeout=60)
        _, err = apply.communicate(timeout=120)
        assert apply.returncode == 0, err
        assert "the pod stopped before the attempt's last line arrived" in err
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.wait()
