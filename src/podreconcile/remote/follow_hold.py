"""Runs on the pod around a log follower's `tail -F`: holds a shared flock on the run's followers.lock
while the follower is attached, so the runner stops the pod as soon as every follower has read the end.

`python3 -c <this file> LOCK_FILE LAUNCH_ID TAIL_ARGS...` (stdlib only, Python 3.8). The lock is
this process's own (never inherited by tail); it goes when this process ends, which it does as soon as
its stdout's reader is gone: the follower closed the stream after reading the attempt's end, or its SSH
connection died (sshd closes the pipe). A follower that hangs with its connection open keeps the lock,
and the runner waits for it only up to its cap. LAUNCH_ID, when not empty, is written into the lock
file once the lock is held: it tells a runner whose launch expects an attached follower that it came.
Nothing is printed but tail's output: the follower reads this process's stdout as the log.
"""

import fcntl
import os
import select
import subprocess
import sys
import time

LOCK_WAIT_S = 0.5  # the runner holds the lock exclusively only for an instant, to test it


def hold(path, launch_id):
    """The fd holding the shared lock, or None (no lock file possible: follow without one)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.01)
        except OSError:
            os.close(fd)
            return None
    if launch_id:
        try:
            data = launch_id.encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError:
            pass
    return fd


def reader_gone(poller):
    """Whether stdout's reader has closed its end (poll reports POLLERR/POLLHUP whatever is asked)."""
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(500))


def main(argv):
    lock_path, launch_id, command = argv[1], argv[2], argv[3:]
    held = hold(lock_path, launch_id)
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    poller = select.poll()
    poller.register(1, 0)
    try:
        while child.poll() is None:
            if reader_gone(poller):
                break
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait()
        if held is not None:
            os.close(held)
    return child.returncode if child.returncode and child.returncode > 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
