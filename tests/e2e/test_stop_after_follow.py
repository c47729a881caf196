"""The GPU seconds between the training's end and the pod stop: none when nobody follows the log; with
followers attached, until each has read the end, never longer than the cap (issue 14).

The runner records how it waited in status.json (`stop_wait`); these tests assert on that record and on
what the followers printed, never on timings. A follower holds the run's followers.lock on the pod
while it tails the log: the tests read that lock from the pod's volume folder on this machine.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.e2e.test_apply import pod_status, wait_for_line
from tests.helpers import lock_free, wait_until

pytestmark = pytest.mark.e2e

CAP_S = 3  # engine/apply.py's follower_wait_cap_s
# The training ends only once the test lets it: the followers are attached by then.
GATED = "python3 scripts/train.py --config {config} && until [ -e /workspace/release ]; do sleep 0.05; done"


def gated_training(project) -> None:
    project.edit("configs/tiny.yaml", max_steps=5)
    project.edit("podspec.yaml", run__command=GATED)


def release(project) -> None:
    (project.volume() / "release").touch()


def followers_lock(project):
    return project.volume() / ".podreconcile" / "runs" / "tiny_run" / "followers.lock"




def stop_wait(project) -> dict:
    """The runner's record of its wait before the stop, once the pod is stopped."""
    wait_until(lambda: pod_status(project) == "EXITED", timeout=90)
    return project.status()["stop_wait"]


def ended(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()  # also ends a SIGSTOPped process
    process.communicate(timeout=30)


def test_with_nobody_following_the_pod_stops_without_waiting(project):
    project.edit("configs/tiny.yaml", max_steps=5)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    assert stop_wait(project) == {"followers": "none", "waited_s": 0.0}
    assert project.current_log().rstrip().endswith("EXIT_CODE=0")


def test_logs_follow_reads_the_end_before_the_pod_stops(project):
    gated_training(project)
    assert project.cli("apply", "--yes", "--detach").returncode == 0
    follower = project.popen("logs", "--follow")
    try:
        wait_for_line(follower.stdout, r"^step 5 loss")
        assert not lock_free(followers_lock(project)), "an attached follower holds the lock"
        release(project)
        out, err = follower.communicate(timeout=90)
    finally:
        ended(follower)
    assert follower.returncode == 0, err
    assert out.rstrip().endswith("EXIT_CODE=0")  # the last line reached it before the stop cut SSH
    assert stop_wait(project)["followers"] == "read"


def test_a_follower_killed_mid_tail_does_not_hold_the_stop(project):
    gated_training(project)
    apply = project.popen("apply", "--yes")
    try:
        wait_for_line(apply.stdout, r"^step 5 loss")
        assert not lock_free(followers_lock(project))
        apply.send_signal(signal.SIGKILL)  # the connection dies with it: sshd closes the follower's pipe
        apply.wait(timeout=30)
        wait_until(lambda: lock_free(followers_lock(project)), timeout=30)
        release(project)
        # It came (the runner expected apply's follower) and went: nothing to wait for.
        assert stop_wait(project) == {"followers": "none", "waited_s": 0.0}
    finally:
        ended(apply)


def test_a_hung_follower_keeps_the_pod_up_no_longer_than_the_cap(project):
    gated_training(project)
    apply = project.popen("apply", "--yes")
    try:
        wait_for_line(apply.stdout, r"^step 5 loss")
        apply.send_signal(signal.SIGSTOP)  # hung: its connection stays open, it reads nothing more
        release(project)
        waited = stop_wait(project)
        assert waited["followers"] == "cap" and waited["waited_s"] >= CAP_S
        assert project.current_log().rstrip().endswith("EXIT_CODE=0")
    finally:
        ended(apply)
