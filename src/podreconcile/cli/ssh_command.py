"""`podreconcile ssh [-- CMD]`: OpenSSH to the pod, by the rules every other command follows.

The key is SSH_KEY_PATH; the host key is the one pinned for the pod's current start (or, before
anything pinned it, the one seen now on the engine's own connection, which checks it). OpenSSH then
trusts exactly that key (`StrictHostKeyChecking=yes` against a private known-hosts file), so a pod
answering with another key is refused instead of asking the user to trust it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from podreconcile.cli.options import SpecOption
from podreconcile.core.errors import UserError

if TYPE_CHECKING:
    from podreconcile.core.observation import PodFacts
    from podreconcile.engine.project import Project

# The engine is imported inside the functions, so `--help` needs none of it (docs/benchmarks.md).


def register(app: typer.Typer) -> None:
    app.command("ssh", context_settings={"allow_interspersed_args": False})(ssh_command)


def ssh_command(
    spec: Path = SpecOption,
    command: list[str] = typer.Argument(None, metavar="CMD",
                                        help="Run CMD on the pod instead of opening a shell."),
) -> None:
    """Open a shell on the pod, or run a command there, with the pinned host key.

    One CMD argument is a shell command line, as with ssh; several are quoted and joined.

    Example: podreconcile ssh -- nvidia-smi
    """
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    key = project.ssh_key()
    pod = _running_pod(project)
    host_key = pinned_host_key(project, pod)
    raise typer.Exit(run_ssh(pod, key, host_key, command or []))


def _running_pod(project: Project) -> PodFacts:
    """Our pod, by the ownership rules every day-2 command follows; a booting one is waited for."""
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.core.observation import PodStatus
    from podreconcile.engine import day2
    from podreconcile.engine.observe import wait_for_ssh_port

    provider = wiring.provider(project)
    pod = day2.current_pod(project, provider)
    if not pod.status.is_up:
        how = "stopped" if pod.status is PodStatus.EXITED else f"in status {pod.status.value}"
        raise UserError(f"Pod {pod.id} is {how}; `podreconcile apply` starts it (or `logs --start` to read the log).")
    if pod.ssh is None:
        pod = wait_for_ssh_port(provider, pod.id, on_wait=Progress().waiting)
    return pod


def pinned_host_key(project: Project, pod: PodFacts) -> str:
    """The pod's host key for this start: pinned in the state file, or checked now by the engine."""
    from podreconcile.cli import wiring

    pinned = project.state_file.read().host_key
    if pinned is not None and pinned.start == pod.start_identity:
        return pinned.key  # OpenSSH checks it: no connection of our own just to read it again
    conn = wiring.connection(project, persist_host_key=False)
    try:
        return conn.session(pod).host_key
    finally:
        conn.close()


def ssh_argv(pod: PodFacts, key: Path, known_hosts: Path, command: list[str]) -> list[str]:
    alias = f"podreconcile-{pod.id}"
    argv = ["ssh", "-i", str(key), "-p", str(pod.ssh.port), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", f"HostKeyAlias={alias}", f"root@{pod.ssh.host}"]
    if command:
        argv += ["--", command[0] if len(command) == 1 else shlex.join(command)]
    return argv


def run_ssh(pod: PodFacts, key: Path, host_key: str, command: list[str]) -> int:
    """Run OpenSSH on the user's terminal; its exit status is ours. Ctrl+C belongs to ssh (and the
    remote side) while it runs, so this process ignores it until ssh is gone."""
    from podreconcile.cli.render import finish

    with tempfile.TemporaryDirectory(prefix="podreconcile-ssh-") as folder:
        known_hosts = Path(folder) / "known_hosts"
        fd = os.open(known_hosts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(f"podreconcile-{pod.id} {host_key}\n")
        finish()
        try:
            child = subprocess.Popen(ssh_argv(pod, key, known_hosts, command))
        except FileNotFoundError:
            raise UserError("OpenSSH's `ssh` is not installed; install openssh-client "
                            "(apt install openssh-client).") from None
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
