"""The run's lock: one runner per run, never two trainings of one run."""

from __future__ import annotations

import os
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - pods are Linux
    fcntl = None  # type: ignore[assignment]


def acquire_lock(path: str, wait_s: float = 0.5) -> int | None:
    """Take the run's exclusive flock; None when another runner holds it.

    A probe holds the lock for microseconds to test it, so a short retry tells a probe apart from
    a live runner. The fd is not inheritable: children never keep the lock after the runner dies.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        return fd
