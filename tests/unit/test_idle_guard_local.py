"""The pod-side idle guard, run locally from its archive: temp folders play /run, /proc and the volume.

A fake `runpodctl` first on PATH records the stop; PODRECONCILE_PID1_ENVIRON feeds the pod's
environment. Every guard a test starts is killed at teardown (its pid is in the guard lock file).
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podreconcile.remote import guard_archive
from podreconcile.remote.runner import idle_guard
from tests.helpers import wait_until

POD_ID = "pod-guard-1"


class GuardedPod:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.mount = root / "vol ume"
        self.run_dir = self.mount / ".podreconcile" / "runs" / "tiny_run"
        self.run_dir.mkdir(parents=True)
        self.guard_dir, self.proc, self.bin, self.tmux = (root / n for n in ("run", "proc", "bin", "tmux"))
        for folder in (self.guard_dir, self.proc, self.bin, self.tmux):
            folder.mkdir()
        self.calls = root / "runpodctl-calls.txt"
        runpodctl = self.bin / "runpodctl"
        runpodctl.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\n' % shlex.quote(str(self.calls)))
        runpodctl.chmod(runpodctl.stat().st_mode | stat.S_IEXEC)
        (root / "pid1").write_bytes(b"RUNPOD_POD_ID=%s\0RUNPOD_API_KEY=rpa_x\0" % POD_ID.encode())
        self.program = root / "idleguard.pyz"
        self.program.write_bytes(guard_archive())

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "PODRECONCILE_", "TMUX"))}
        env.update(PATH=f"{self.bin}:{os.environ['PATH']}", PODRECONCILE_PID1_ENVIRON=str(self.root / "pid1"),
                   PODRECONCILE_GUARD_DIR=str(self.guard_dir), PODRECONCILE_GUARD_PROC=str(self.proc),
                   TMUX_TMPDIR=str(self.tmux))
        return env

    def arm(self, timeout_s: int) -> str:
        done = subprocess.run([sys.executable, str(self.program), "arm", str(timeout_s), str(self.mount)],
                              env=self.env(), capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.strip()

    def stops(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def guard_pid(self) -> int | None:
        try:
            return int((self.guard_dir / "idle-guard.lock").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def ssh_session(self, pid: str = "4242") -> None:
        (self.proc / pid).mkdir()
        (self.proc / pid / "cmdline").write_bytes(b"sshd: root@notty\0")


@pytest.fixture
def pod(tmp_path):
    pod = GuardedPod(tmp_path)
    yield pod
    pid = pod.guard_pid()
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_idle_pod_stops_after_the_timeout_and_says_why_on_the_volume(pod):
    assert pod.arm(1) == "armed"
    wait_until(lambda: pod.stops(), timeout=20)
    assert pod.stops()[0] == f"stop pod {POD_ID}"
    log = (pod.mount / ".podreconcile" / "idle-guard.log").read_text()
    assert "no live run and no SSH session for 1s (pod.idle_timeout); stopping the pod" in log


def test_arming_again_keeps_one_guard_and_off_disarms_it(pod):
    assert pod.arm(3600) == "armed"
    wait_until(pod.guard_pid)
    first = pod.guard_pid()
    assert pod.arm(3600) == "running"
    assert pod.guard_pid() == first
    assert pod.arm(0) == "running"  # the running guard reads `off` at its next check


def test_off_starts_no_guard(pod):
    assert pod.arm(0) == "off"
    time.sleep(0.5)
    assert pod.guard_pid() is None


def test_a_live_run_or_an_ssh_session_keeps_the_pod_up_and_resets_the_idle_time(pod):
    lock = pod.run_dir / "runner.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a runner holds the run's lock
        assert pod.arm(1) == "armed"
        time.sleep(3.5)  # over three idle_timeouts with a live run
        assert pod.stops() == []
    pod.ssh_session()
    time.sleep(3.5)  # the run ended, but someone is connected
    assert pod.stops() == []
    (pod.proc / "4242" / "cmdline").unlink()
    (pod.proc / "4242").rmdir()
    wait_until(lambda: pod.stops(), timeout=20)


@pytest.mark.parametrize(("title", "session"), [
    (b"sshd: root@notty\0", True),
    (b"sshd: root@pts/0\0", True),
    (b"sshd-session: root@notty\0", True),
    (b"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\0", False),
    (b"sshd: root [priv]\0", False),
    (b"python3\0-c\0sshd: a@b\0", False),
    (b"", False),
])
def test_only_sshd_s_session_processes_count_as_sessions(title: bytes, session: bool):
    assert idle_guard.session_title(title) is session


def test_the_guard_checks_often_enough_but_not_too_often():
    assert idle_guard.poll_interval(5) == 1.0
    assert idle_guard.poll_interval(900) == 30.0
    assert idle_guard.poll_interval(0) == 30.0
