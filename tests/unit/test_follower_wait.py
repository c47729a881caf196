"""The runner's wait for its followers before the pod stop (remote/runner/followers.py), and the lock a
follower holds on the pod while it tails the log (remote/follow_hold.py), run locally."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podreconcile import remote
from podreconcile.remote.runner.followers import wait_for_followers
from tests.helpers import lock_free

HOLD = (Path(remote.__file__).parent / "follow_hold.py").read_text()


class Clock:
    """A fake monotonic clock: each sleep moves it on, so the cap is reached without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def shared_lock(path: Path, content: str | None = None) -> int:
    """What a follower does: its own open file, a shared flock (and the launch id it follows)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    if content is not None:
        os.pwrite(fd, content.encode(), 0)
        os.ftruncate(fd, len(content))
    return fd




def test_with_nobody_following_the_stop_does_not_wait(tmp_path):
    clock = Clock()
    assert wait_for_followers(str(tmp_path / "followers.lock"), None, 3, clock, clock.sleep) == ("none", 0.0)
    assert clock.sleeps == 0


def test_a_follower_that_never_lets_go_is_waited_for_up_to_the_cap_only(tmp_path):
    lock = tmp_path / "followers.lock"
    held = shared_lock(lock)
    clock = Clock()
    try:
        how, waited = wait_for_followers(str(lock), None, 3, clock, clock.sleep)
    finally:
        os.close(held)
    assert how == "cap" and 3 <= waited < 3.1


def test_the_stop_goes_on_once_the_follower_lets_go(tmp_path):
    lock = tmp_path / "followers.lock"
    held = [shared_lock(lock)]
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 5:  # the follower has read the end
            os.close(held.pop())

    how, waited = wait_for_followers(str(lock), None, 3, clock, sleep)
    assert how == "read" and waited == pytest.approx(5 * 0.02)


def test_an_expected_follower_is_waited_for_until_it_comes_and_lets_go(tmp_path):
    lock = tmp_path / "followers.lock"
    lock.write_text("older-launch")
    clock = Clock()
    held: list[int] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 3:
            held.append(shared_lock(lock, "launch-7"))  # it comes after the training ended
        if clock.sleeps == 6:
            os.close(held.pop())

    assert wait_for_followers(str(lock), "launch-7", 3, clock, sleep) == ("read", pytest.approx(6 * 0.02))


def test_an_expected_follower_that_never_comes_costs_the_cap_at_most(tmp_path):
    clock = Clock()
    how, waited = wait_for_followers(str(tmp_path / "followers.lock"), "launch-7", 3, clock, clock.sleep)
    assert how == "cap" and 3 <= waited < 3.1


def test_an_expected_follower_that_came_and_went_before_the_end_is_not_waited_for(tmp_path):
    lock = tmp_path / "followers.lock"
    os.close(shared_lock(lock, "launch-7"))  # e.g. killed: its lock went with it
    clock = Clock()
    assert wait_for_followers(str(lock), "launch-7", 3, clock, clock.sleep) == ("none", 0.0)


# ---- follow_hold.py: the follower's side, on the pod


def start_hold(lock: Path, log: Path, launch_id: str = "launch-7") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLD, str(lock), launch_id, "tail", "-n", "+1", "-F", str(log)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def holds():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


def test_the_holder_keeps_the_lock_while_its_reader_reads_and_lets_go_when_the_reader_goes(tmp_path, holds):
    lock, log = tmp_path / "followers.lock", tmp_path / "current.log"
    log.write_text("step 1\nEXIT_CODE=0\n")
    hold = start_hold(lock, log)
    holds.append(hold)
    assert hold.stdout.readline() == b"step 1\n" and hold.stdout.readline() == b"EXIT_CODE=0\n"
    assert not lock_free(lock) and lock.read_text() == "launch-7"
    assert len(processes_naming(log)) == 2  # the holder and its tail
    hold.stdout.close()  # the follower closed the stream, or sshd closed it for a dead connection
    wait_for(lambda: hold.poll() is not None)
    assert lock_free(lock)
    assert processes_naming(log) == [], "the tail went with its holder"


def processes_naming(path: Path) -> list[str]:
    return subprocess.run(["pgrep", "-f", "--", str(path)], capture_output=True, text=True, check=False).stdout.split()


def test_the_holder_follows_without_a_lock_when_there_is_no_run_folder(tmp_path, holds):
    log = tmp_path / "current.log"
    log.write_text("line\n")
    hold = start_hold(tmp_path / "missing" / "followers.lock", log)
    holds.append(hold)
    assert hold.stdout.readline() == b"line\n"


def test_a_lock_file_the_volume_refuses_never_holds_the_stop(tmp_path):
    clock = Clock()
    assert wait_for_followers(str(tmp_path / "no run folder" / "followers.lock"), "launch-7", 3, clock,
                              clock.sleep) == ("no_lock", 0.0)


def test_the_follow_command_runs_through_a_shell_with_odd_paths(tmp_path, holds):
    """pod_steps.follow_command as the pod's shell runs it: every path and the launch id quoted."""
    from podreconcile.engine.pod_steps import RunPaths, follow_command

    paths = RunPaths(mount=str(tmp_path / "it's a $volume"), run_name="run; rm -rf x", code_path="/c", output_dir="o")
    Path(paths.run_dir).mkdir(parents=True)
    Path(paths.current_log).parent.mkdir(parents=True)
    Path(paths.current_log).write_text("one\ntwo\n")
    shell = subprocess.Popen(["sh", "-c", follow_command(paths, skip=1, launch_id="L'1")], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    holds.append(shell)
    assert shell.stdout.readline() == b"two\n"  # after the one line already printed
    lock = Path(paths.followers_lock)
    assert not lock_free(lock) and lock.read_text() == "L'1"
    shell.stdout.close()
    wait_for(lambda: shell.poll() is not None)
    assert lock_free(lock)
