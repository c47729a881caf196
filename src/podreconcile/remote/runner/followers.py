"""Before the pod stop: the wait for the attached followers to read the attempt's end, never past a cap.

A follower (an attached `apply`, `logs --follow`) holds a shared flock on the run's followers.lock while
it tails the log (remote/follow_hold.py) and lets go once it has read EXIT_CODE and status.json, or when
its SSH connection dies. The runner stops the pod once it could take that lock exclusively: at once when
nobody follows. A launch whose `apply` stays attached expects its follower (launch.json
`expect_follower`): the follower writes the launch id into the lock file when it comes, and the runner
also waits for that, so a training that ends before its follower has attached still has its end read.
The cap (`follower_wait_cap_s`) bounds what a hung follower can cost: its connection open, its lock held.
"""

from __future__ import annotations

import os
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - pods are Linux
    fcntl = None  # type: ignore[assignment]

POLL_S = 0.02


def wait_for_followers(path: str, launch_id: str | None, cap_s: float,
                       clock=time.monotonic, sleep=time.sleep) -> tuple:
    """(how, seconds waited): "none" (nobody was reading: no wait), "read" (every follower read the
    end), "cap" (one still held the lock, or the expected one never came, when the cap passed) or
    "no_lock" (the volume refused the lock file or the flock: no follower can hold it either).
    `launch_id`: the launch whose follower is expected, None when none is."""
    started = clock()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return "no_lock", 0.0
    waited = False
    try:
        while not _all_read(fd, launch_id):
            if clock() - started >= cap_s:
                return "cap", clock() - started
            waited = True
            sleep(POLL_S)
    except OSError:  # never a reason to keep the pod: the stop goes on
        return "no_lock", clock() - started
    finally:
        os.close(fd)
    return ("read", clock() - started) if waited else ("none", 0.0)


def _all_read(fd: int, launch_id: str | None) -> bool:
    """The expected follower has come (if one is) and no follower holds the lock now."""
    if launch_id and os.pread(fd, 64, 0).decode("ascii", "replace").strip() != launch_id:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    # Only a test: a follower that comes later must not block on it (the pod is stopping anyway).
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True
