"""Issue 12: the terminal a demanding user expects, driven through a real pseudo-terminal (pexpect)
or a pipe, as a user types it: usage mistakes, --version, completion, ssh, status, a user stop."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.e2e.conftest import assert_no_python
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

# The usage table: each mistake, the usage line click prints for it, and its error.
USAGE_MISTAKES = [
    (["plna"], "Usage: podreconcile [OPTIONS] COMMAND [ARGS]...",
     "Error: No such command 'plna'. Did you mean 'plan'?"),
    (["plan", "--bogus"], "Usage: podreconcile plan [OPTIONS]", "Error: No such option: --bogus"),
    (["logs", "--tail", "abc"], "Usage: podreconcile logs [OPTIONS]", "Error: Invalid value for '--tail' / '-n'"),
    (["apply", "--detahc"], "Usage: podreconcile apply [OPTIONS]",
     "Error: No such option: --detahc (Possible options: --detach)"),
    (["sandbox", "faul"], "Usage: podreconcile sandbox [OPTIONS] COMMAND [ARGS]...",
     "Error: No such command 'faul'. Did you mean 'fault'?"),
    (["show"], "Usage: podreconcile show [OPTIONS] {FILE}", "Error: Missing argument 'FILE'."),
]


def user_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def spawn(args: list[str], cwd: Path | str = ".", env: dict | None = None) -> tuple[int, str]:
    """Run podreconcile on a pseudo-terminal; (exit status, everything it printed)."""
    child = pexpect.spawn("podreconcile", args, cwd=str(cwd), env=env or user_env(), encoding="utf-8",
                          timeout=60, dimensions=(40, 120))
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before.replace("\r\n", "\n")


@pytest.mark.parametrize("args,usage,error", USAGE_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_usage_mistakes_are_shown_as_click_means_them(args, usage, error, tmp_path):
    code, out = spawn(args, tmp_path)
    assert code == 2, out
    assert usage in out and error in out, out
    assert f"Try 'podreconcile{' ' + args[0] if args[0] in ('plan', 'logs', 'apply', 'sandbox', 'show') else ''} --help' for help." in out
    assert "unexpected" not in out and "Traceback" not in out
    assert_no_python(args, out)


def test_version_comes_from_the_package_metadata(tmp_path):
    from importlib import metadata

    code, out = spawn(["--version"], tmp_path)
    assert code == 0 and out.strip() == f"podreconcile {metadata.version('podreconcile')}"


def test_help_shows_defaults_and_no_type_labels(tmp_path):
    code, out = spawn(["plan", "--help"], tmp_path)
    assert code == 0
    assert "[default: podspec.yaml here or in a parent folder]" in " ".join(out.split())
    assert "<bool>" not in out and "<str>" not in out
    for command, option in (("status", "--json"), ("destroy", "--yes")):
        text = " ".join(spawn([command, "--help"], tmp_path)[1].split())
        assert f"{option} Print" in text or f"{option} Terminate" in text, text


def test_bash_completion_installs_and_completes(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(HOME=str(home), SHELL="/bin/bash")
    # Typer finds the shell from the process tree, as when a user types it in bash.
    installed = subprocess.run(["bash", "-c", "podreconcile --install-completion"], env=env, capture_output=True,
                               text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    assert "bash completion installed" in installed.stdout and "source" in (home / ".bashrc").read_text()
    # A new interactive bash reads ~/.bashrc and knows how to complete podreconcile ...
    known = subprocess.run(["bash", "-ic", "complete -p podreconcile"], env=env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    assert "_podreconcile_completion" in known.stdout, known.stdout + known.stderr
    # ... and the completion it runs offers the commands.
    offered = subprocess.run(["podreconcile"], env={**env, "_PODRECONCILE_COMPLETE": "complete_bash",
                                                    "COMP_WORDS": "podreconcile ss", "COMP_CWORD": "1"},
                             capture_output=True, text=True, timeout=60)
    assert offered.stdout.split() == ["ssh"]


def test_the_plan_is_coloured_on_a_terminal_unless_no_color(project):
    env = {k: v for k, v in project.env().items() if k != "NO_COLOR"}
    code, coloured = spawn(["plan"], project.root, env)
    assert code == 0 and "\033[32m" in coloured and "create pod" in coloured
    code, plain = spawn(["plan"], project.root, {**env, "NO_COLOR": "1"})
    assert code == 0 and "\033[" not in plain and "create pod" in plain
    piped = project.cli("plan", env=env)
    assert "\033[" not in piped.stdout and piped.stdout.strip() == plain.strip()
    assert "local data: 1 file(s)" in piped.stdout, "the upload names the local data"


def test_the_spec_is_found_from_a_subfolder_and_through_a_folder(project):
    sub = project.root / "configs"
    from_sub = subprocess.run(["podreconcile", "plan"], cwd=sub, env=project.env(), capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    assert from_sub.returncode == 0, from_sub.stderr
    assert "create pod" in from_sub.stdout
    through_dir = subprocess.run(["podreconcile", "plan", "-f", f"{project.root.name}/"], cwd=project.root.parent,
                                 env=project.env(), capture_output=True, text=True, timeout=120,
                                 stdin=subprocess.DEVNULL)
    assert through_dir.returncode == 0 and through_dir.stdout == from_sub.stdout, through_dir.stderr


def test_ssh_status_and_a_user_stop(project):
    project.edit("configs/tiny.yaml", max_steps=400, step_seconds=0.1)
    started = project.cli("apply", "--yes", "--detach")
    assert started.returncode == 0, started.stderr
    wait_until(lambda: (project.checkpoints() / "checkpoint-10" / "trainer_state.json").exists(), timeout=60)
    pod_id = project.pod()["id"]

    hostname = project.cli("ssh", "--", "hostname")
    assert hostname.returncode == 0, hostname.stderr
    assert hostname.stdout.strip() == pod_id
    several = project.cli("ssh", "--", "echo", "a b", "$HOME")
    assert several.stdout.strip() == "a b $HOME", "several arguments are quoted, one by one"
    assert project.cli("ssh", "--", "exit 7").returncode == 7
    assert str(project.ssh_key) not in hostname.stderr + hostname.stdout

    code, table = spawn(["status"], project.root, project.env())
    assert code == 0
    # The table wraps a long key path at the terminal's width and indents the rest: compare the words.
    words = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", table).split())
    shown = re.search(r"podreconcile ssh \(or: (ssh -i (\S+) -p \d+ \S+)\)", words)
    assert shown and shown.group(2) == str(project.ssh_key), table
    assert "since this start" in words and "step " in words
    plain = project.cli("status").stdout
    assert "\033[" not in plain and "Log   " in plain and "latest complete checkpoint: checkpoint-" in plain
    info = json.loads(project.cli("status", "--json").stdout)
    assert info["pod"]["ssh"] == shown.group(1), "the table shows the same line, unwrapped"
    ssh = info["pod"]["ssh"].split()
    pasted = subprocess.run(ssh[:1] + ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                       "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"] + ssh[1:] + ["hostname"],
                            capture_output=True, text=True, timeout=60)
    assert pasted.stdout.strip() == pod_id, "the ssh line works when pasted"

    assert project.cli("stop").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=60)
    resumed = project.cli("apply", "--yes", "--detach")
    assert resumed.returncode == 0, resumed.stderr
    assert "attempt 1 was stopped" in resumed.stdout and "failed with exit code 143" not in resumed.stdout


def test_sandbox_up_exports_its_home_so_the_next_command_reaches_the_same_sandbox(sandbox, tmp_path):
    again = sandbox.cli("up")  # already up: the same export lines
    assert f"export PODRECONCILE_SANDBOX_HOME={sandbox.home}" in again.stdout
    env = {k: v for k, v in user_env(HOME=str(tmp_path)).items() if k != "PODRECONCILE_SANDBOX_HOME"}
    shell = subprocess.run(["bash", "-c", f'eval "$(podreconcile sandbox up --home {sandbox.home})" && '
                                          "podreconcile sandbox status --json"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0, shell.stderr
    assert json.loads(shell.stdout)["url"] == sandbox.running.url


def test_a_new_shell_reaches_the_sandbox_named_in_runpod_env(project):
    """What scripts/demo leaves in examples/tiny/.runpod.env is enough for a shell without exports."""
    env_file = project.root / ".runpod.env"
    running = project.sandbox.running
    env_file.write_text(env_file.read_text() + f"RUNPOD_API_BASE_URL={running.url}\nRUNPOD_API_KEY={running.api_key}\n")
    bare = {k: v for k, v in project.env().items() if not k.startswith("RUNPOD_")}
    result = project.cli("plan", env=bare)
    assert result.returncode == 0, result.stderr
    assert f"(RunPod API at {running.url})" in result.stdout and "create pod" in result.stdout
