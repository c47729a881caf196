"""Bad input ends in one clear sentence; odd values reach the pod exactly; the API key never leaks."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.test_apply import wait_for_line
from tests.helpers import ssh_run, wait_for_ssh_port, wait_until

pytestmark = pytest.mark.e2e


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


class TestBadInput:
    def test_misspelt_key_names_file_line_and_the_fix(self, project):
        text = (project.root / "podspec.yaml").read_text().replace("  gpu_count:", "  gpu_cuont:")
        (project.root / "podspec.yaml").write_text(text)
        line = next(i for i, l in enumerate(text.splitlines(), 1) if "gpu_cuont" in l)
        result = project.cli("plan")
        assert_clean_error(result, f"podspec.yaml:{line}:3", "pod.gpu_cuont", "did you mean 'gpu_count'")

    def test_wrong_type(self, project):
        project.edit("podspec.yaml", pod__gpu_count="two")
        assert_clean_error(project.cli("plan"), "pod.gpu_count", "two")

    def test_missing_api_key(self, project):
        env = project.env()
        env.pop("RUNPOD_API_KEY")
        assert_clean_error(project.cli("plan", env=env), "RUNPOD_API_KEY is not set", ".runpod.env")

    def test_missing_ssh_key(self, project):
        (project.root / ".runpod.env").write_text("SSH_KEY_PATH=/nonexistent/id_ed25519\n")
        assert_clean_error(project.cli("apply", "--yes"), "SSH_KEY_PATH=/nonexistent/id_ed25519", "ssh-keygen")

    def test_config_without_output_dir(self, project):
        config = project.root / "configs" / "tiny.yaml"
        config.write_text("\n".join(l for l in config.read_text().splitlines() if not l.startswith("output_dir")))
        assert_clean_error(project.cli("plan"), "output_dir")

    def test_apply_without_terminal_or_yes_refuses(self, project):
        assert_clean_error(project.cli("apply"), "--yes")
        assert project.pods() == []

    def test_debug_shows_the_traceback(self, project):
        project.edit("podspec.yaml", pod__gpu_count="two")
        result = project.cli("--debug", "plan")
        assert result.returncode == 1 and "Traceback" in result.stderr


ODD = "a b 'c' \"d\" $(touch /workspace/pwned1); `touch /workspace/pwned2` ; e\\f"


def test_odd_names_paths_and_env_values_arrive_exactly_and_run_nothing(project):
    odd_dir = "/workspace/odd dir 'q' \"dq\" $(touch /workspace/pwned3); x"
    project.edit("podspec.yaml", code__path=odd_dir,
                 pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "ODD_VALUE": ODD},
                 run__command='printf "%s" "$ODD_VALUE" > /workspace/odd.txt; python3 scripts/train.py --config {config}')
    result = project.cli("apply", "--yes")
    assert result.returncode == 0, result.stderr
    volume = project.volume()
    assert (volume / "odd.txt").read_text() == ODD
    assert (volume / odd_dir.removeprefix("/workspace/") / "scripts" / "train.py").is_file()
    assert not list(volume.glob("pwned*"))


def test_the_api_key_never_appears(project, sandbox, sdk):
    key = sandbox.running.api_key
    project.edit("podspec.yaml", pod__env={"TINY_DATA_FILE": "/workspace/data/tiny.txt", "HF_TOKEN": "${HF_TOKEN}"})
    (project.root / ".runpod.env").write_text((project.root / ".runpod.env").read_text() + "HF_TOKEN=hf_s3cr3tvalue\n")
    secrets = (key, "hf_s3cr3tvalue")
    outputs = []
    project.edit("configs/tiny.yaml", max_steps=40, step_seconds=0.1)
    apply = project.popen("--debug", "apply", "--yes")
    wait_for_line(apply.stderr, "following the training log")
    port = wait_for_ssh_port(sdk, project.pod()["id"])
    _, processes = ssh_run(port, project.ssh_key, "ps -eo args")
    assert "runner.py" in processes
    outputs.append(processes)
    out, err = apply.communicate(timeout=120)
    outputs += [out, err]
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    for args in (("--debug", "plan"), ("--debug", "plan", "--json")):
        result = project.cli(*args)
        outputs += [result.stdout, result.stderr]
    wrong = project.env(RUNPOD_API_KEY=key[:-4] + "XXXX")
    result = project.cli("--debug", "plan", env=wrong)
    assert result.returncode == 1
    outputs += [result.stdout, result.stderr]
    sandbox.cli("fault", "v2.pods.create", "--times", "2", "--error", "no-capacity")
    project.state_path().unlink()
    project.destroy()
    failed = project.cli("--debug", "apply", "--yes")
    assert failed.returncode == 1 and "No capacity" in failed.stderr
    outputs += [failed.stdout, failed.stderr]
    outputs.append(project.state_path().read_text())
    for path in project.root.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.name != ".runpod.env":
            outputs.append(path.read_text(errors="replace"))
    for path in (sandbox.home / "pods").rglob("*"):
        if path.is_file() and "volume" in path.parts and path.stat().st_size < 2_000_000:
            outputs.append(path.read_text(errors="replace"))
    for secret in secrets:
        leaks = [o for o in outputs if secret in o]
        assert not leaks, f"secret leaked into: {[l[:200] for l in leaks]}"
    assert any(re.search("EXIT_CODE=0", o) for o in outputs)


def test_code_sync_git_clones_then_pulls_on_the_pod(project, sandbox):
    volume = sandbox.cli("volume", "create", "git", "--size-gb", "1").stdout.strip()
    origin = sandbox.home / "volumes" / volume / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(origin)], check=True)
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None, code__sync="git",
                 code__repo="/workspace/origin.git")
    subprocess.run(["git", "-C", str(project.root), "push", "-q", str(origin), "HEAD:master"], check=True)
    subprocess.run(["git", "-C", str(origin), "symbolic-ref", "HEAD", "refs/heads/master"], check=True)
    first = project.cli("apply", "--yes")
    assert first.returncode == 0, first.stderr
    head = subprocess.run(["git", "-C", str(project.root), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert f"the pod's checkout is at {head}" in first.stderr and "EXIT_CODE=0" in first.stdout
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    project.edit("configs/tiny.yaml", max_steps=31)
    unpushed = project.cli("apply", "--yes", "--force-restart")
    assert unpushed.returncode == 1 and "push (or pull)" in unpushed.stderr
    subprocess.run(["git", "-C", str(project.root), "push", "-q", str(origin), "HEAD:master"], check=True)
    pushed = project.cli("apply", "--yes", "--force-restart")
    assert pushed.returncode == 0, pushed.stderr
    assert "step 31 " in project.current_log()
