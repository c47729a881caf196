"""Issue 9's behavioural findings as the attacks, against the sandbox: a cloned repository or a pod
tries to turn podreconcile against its user, and each attempt ends in one clear sentence or is
harmless output."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from podreconcile.engine.state_file import StateFile
from tests.e2e.test_inputs_and_secrets import assert_clean_error
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def git(project, *args: str) -> None:
    subprocess.run(["git", "-C", str(project.root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


def test_2_a_committed_lock_symlink_never_touches_its_target(project, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    folder = project.root / ".podreconcile"
    folder.mkdir()
    (folder / "lock").symlink_to(victim)
    result = project.cli("stop", env=project.env(RUNPOD_API_KEY="rpa_WRONG"))
    assert victim.read_text() == "the user's file\n"
    assert_clean_error(result, "holds a symlink (lock)")


def test_2_a_state_folder_committed_to_the_repository_is_refused(project):
    folder = project.root / ".podreconcile"
    folder.mkdir()
    (folder / "state.json").write_text('{"format": 1, "pod_id": "someone-elses-pod"}')
    git(project, "add", "-f", ".podreconcile")
    git(project, "commit", "-qm", "a poisoned state folder")
    assert_clean_error(project.cli("plan"), "tracked by git", "git rm -r --cached .podreconcile")


def test_3_data_from_outside_the_project_is_refused_and_never_uploaded(project, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY----- not really\n")
    data = project.root / "data"
    # Through the spec: a relative path that climbs out.
    project.edit("podspec.yaml", data=[{"from": "../keys/id_ed25519", "to": "/workspace/data/k"}])
    assert_clean_error(project.cli("plan"), "data[0].from", "must stay inside the project")
    # Through an innocent spec: a tracked symlink in the data folder.
    (data / "notes").mkdir()
    (data / "notes" / "readme.txt").symlink_to(keys / "id_ed25519")
    project.edit("podspec.yaml", data=[{"from": "data", "to": "/workspace/data"}])
    result = project.cli("apply", "--yes")
    assert_clean_error(result, "leads outside the project", "readme.txt")
    assert project.pods() == []  # refused while planning: no pod was made for it


def test_4_5_7_forged_exit_lines_braces_and_a_malicious_status_json(project, sandbox):
    # Training prints the runner's last line, then fails; its command is full of braces.
    project.edit("podspec.yaml", run__stop_pod_when_done=False,
                 run__command="awk 'BEGIN { print \"braces {kept} {config.__class__}\" }' && echo EXIT_CODE=0 && "
                              "printf 'osc\\033]52;c;cm0gLXJmIH4=\\007 title\\033]0;pwned\\007\\n' && "
                              "python3 scripts/train.py --config {config} && exit 3")
    project.edit("configs/tiny.yaml", max_steps=3, save_steps=3)
    plan = project.cli("plan")
    assert "command: awk 'BEGIN { print \"braces {kept} {config.__class__}\" }'" in plan.stdout, plan.stdout
    assert "--config configs/tiny.yaml && exit 3" in plan.stdout
    result = project.cli("apply", "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "braces {kept} {config.__class__}" in result.stdout
    assert "| EXIT_CODE=0" in result.stdout and result.stdout.rstrip().endswith("EXIT_CODE=3")
    assert "\x1b]52;" in project.current_log()  # training did print the sequences,
    assert "osc title" in result.stdout and "\x1b]" not in result.stdout  # but no clipboard write, no retitle
    assert project.state["last_run"]["state"] == "failed" and project.state["last_run"]["exit_code"] == 3
    assert project.status()["exit_code"] == 3

    # The pod (still running) now serves a hostile status.json.
    status_file = project.volume() / ".podreconcile" / "runs" / "tiny_run" / "status.json"
    status_file.write_text('{"run": "tiny_run", "state": "failed", "attempt": "\u00b2", "exit_code": '
                           + "9" * 5000 + ', "started_at": "99999", "launch_id": [1], "pid": 1e400}')
    for args in (("plan",), ("status",), ("status", "--json")):
        run = project.cli(*args)
        assert run.returncode in (0, 2), (args, run.stdout, run.stderr)
        assert "unexpected" not in run.stderr and "Traceback" not in run.stderr
    status_file.write_text("[" * 100_000)
    assert project.cli("status").returncode == 0


def test_9_logs_start_waits_for_no_one_and_takes_the_lock(project):
    project.edit("configs/tiny.yaml", max_steps=3, save_steps=3)
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    states = StateFile(project.root, project.name)
    states.lock("apply")  # an apply in another terminal
    try:
        result = project.cli("logs", "--start")
        assert_clean_error(result, "holds the lock")
        assert project.pod()["desiredStatus"] == "EXITED"  # never started, so never stopped under the apply
    finally:
        states.unlock()
    assert project.read_state()["last_run"]["state"] == "succeeded"


def test_1_a_rotated_secret_is_never_shown_stored_or_logged(project, tmp_path):
    old, new = "wandb-OLD-s3cr3t-value", "wandb-NEW-s3cr3t-value"
    env_file = project.root / ".runpod.env"
    base = env_file.read_text()
    env_file.write_text(base + f"WANDB_LOGIN={old}\n")
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "WANDB_LOGIN": "${WANDB_LOGIN}"},
                 run__command='echo "login=$WANDB_LOGIN" && python3 scripts/train.py --config {config}')
    project.edit("configs/tiny.yaml", max_steps=3, save_steps=3)
    applied = project.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "login=[redacted]" in applied.stdout  # masked by value: the name has no KEY or TOKEN in it
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")

    env_file.write_text(base + f"WANDB_LOGIN={new}\n")  # the token is rotated
    saved = tmp_path / "plan.json"
    outputs = [project.cli("plan", "--force-restart", *fmt) for fmt in
               ((), ("--format", "markdown"), ("--format", "json"), ("--out", str(saved)))]
    outputs.append(project.cli("status", "--json"))
    assert "env.WANDB_LOGIN: (changed)" in outputs[0].stdout, outputs[0].stdout
    texts = [r.stdout + r.stderr for r in outputs] + [saved.read_text(), project.current_log(), project.train_log(),
                                                     project.state_path().read_text()]
    for text in texts:
        assert old not in text and new not in text, text
    assert oct(project.state_path().stat().st_mode & 0o777) == "0o600"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"


def test_code_sync_never_writes_through_a_symlink_planted_in_the_pods_code_folder(project, tmp_path):
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=120)  # the pod stopped itself
    code = project.volume() / "tiny"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("the pod owner's file\n")
    scripts = code / "scripts"
    shutil.rmtree(scripts)
    scripts.symlink_to(victim)  # a training job (or anyone on the pod) swaps the synced folder for a link
    with open(project.root / "scripts" / "train.py", "a") as f:
        f.write("# changed\n")

    result = project.cli("apply", "--yes", "--force-restart")  # a succeeded run restarts only when asked

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after apply's progress lines
    assert last.startswith("Error: ") and "'scripts'" in last and "symlink or a file" in last, last
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert (victim / "keep.txt").read_text() == "the pod owner's file\n"
