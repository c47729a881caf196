"""What podreconcile does on the pod, over the command run's one SSH session.

Every value that reaches the remote shell goes through `shlex.quote`. The pod-side runner
(`remote/runner/`, as one zip archive) is uploaded to the volume, so a pod started later (or
replaced on the same network volume) finds the same version the launch used.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass
from importlib import resources

from podreconcile.core.errors import PermanentError
from podreconcile.core.ports import PodShell
from podreconcile.core.run_observation import (
    ProbeParseError,
    RunFacts,
    RunStatus,
    parse_probe,
    parse_status,
)
from podreconcile.remote import runner_archive

SESSION = "train"


def _program(name: str) -> bytes:
    return resources.files("podreconcile.remote").joinpath(name).read_bytes()


@dataclass(frozen=True)
class RunPaths:
    mount: str
    run_name: str
    code_path: str
    output_dir: str

    @property
    def run_dir(self) -> str:
        return posixpath.join(self.mount, ".podreconcile", "runs", self.run_name)

    @property
    def bin_dir(self) -> str:
        return posixpath.join(self.mount, ".podreconcile", "bin")

    @property
    def launch_file(self) -> str:
        return posixpath.join(self.run_dir, "launch.json")

    @property
    def status_file(self) -> str:
        return posixpath.join(self.run_dir, "status.json")

    @property
    def followers_lock(self) -> str:
        return posixpath.join(self.run_dir, "followers.lock")

    @property
    def current_log(self) -> str:
        return posixpath.join(self.mount, "logs", "current.log")

    @property
    def train_log(self) -> str:
        return posixpath.join(self.run_dir, "train.log")


def probe(session: PodShell, paths: RunPaths, venv: str | None) -> RunFacts:
    """The run's facts in one round trip: the probe script goes on stdin."""
    args = [paths.mount, paths.run_name, paths.output_dir, paths.code_path] + ([venv] if venv else [])
    command = "python3 - " + " ".join(shlex.quote(a) for a in args)
    result = session.run(command, what="reading the run's state on the pod", stdin=_program("probe.py"), timeout=60)
    try:
        return parse_probe(result.stdout)
    except ProbeParseError:
        raise PermanentError("The run's state on the pod is unreadable (the probe printed no JSON); check the "
                             "pod's python3 with `podreconcile logs`, or stop the pod and apply again.") from None


def launch(session: PodShell, paths: RunPaths, launch: dict) -> None:
    """Start the runner in a detached tmux session; the runner's own lock forbids a second one."""
    runner = posixpath.join(paths.bin_dir, "runner.pyz")
    session.put_bytes(runner_archive(), runner, mode=0o755)
    session.put_bytes(json.dumps(launch, indent=2).encode(), paths.launch_file)
    q = shlex.quote
    # A `train` session whose runner is gone (the planner saw its lock free) is a leftover shell.
    # current.log is emptied here so a follower never mistakes the last attempt's EXIT_CODE for this one's.
    command = (
        f"mkdir -p {q(posixpath.dirname(paths.current_log))} && : > {q(paths.current_log)} && "
        f"{{ tmux kill-session -t {SESSION} 2>/dev/null; true; }} && "
        f"tmux new-session -d -s {SESSION} python3 {q(runner)} {q(paths.launch_file)}"
    )
    session.run(command, what="starting the training's tmux session", timeout=30)


def follow_command(paths: RunPaths, lines: int | None = None, skip: int = 0, launch_id: str | None = None) -> str:
    """`tail -F` of the latest attempt's log: from its first line (after `skip` lines already
    printed), or the last `lines` lines (after a reconnect: only what is new).

    The tail runs under remote/follow_hold.py, which holds the run's followers.lock while the stream
    is open (and writes `launch_id` there): the runner stops the pod once every follower has let go."""
    if lines is None:
        start = f"+{int(skip) + 1}"
    else:
        start = "0" if skip else str(int(lines))
    q = shlex.quote
    hold = f"python3 -c {q(_program('follow_hold.py').decode())} {q(paths.followers_lock)} {q(launch_id or '')}"
    return f"{hold} tail -n {start} -F {q(paths.current_log)} 2>/dev/null"


def read_status(session: PodShell, paths: RunPaths) -> RunStatus | None:
    """The run's status.json as the runner wrote it; None when absent or unreadable (capped at 1 MB)."""
    command = f"head -c 1048577 {shlex.quote(paths.status_file)} 2>/dev/null || true"
    result = session.run(command, what="reading the run's status on the pod", timeout=60)
    return parse_status(result.stdout)


def read_log(session: PodShell, path: str, lines: int | None) -> str:
    tail = f"tail -n {int(lines)}" if lines else "cat"
    return session.run(f"{tail} {shlex.quote(path)} 2>/dev/null || true", what="reading the log", timeout=60).stdout
