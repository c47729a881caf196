"""Signals the runner receives, and signalling a child's process group."""

from __future__ import annotations

import os
import signal
import time


def killpg_quiet(pgid: int | None, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    if not pgid or pgid <= 1:
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def terminate_group(pgid: int | None, grace: float) -> bool:
    """SIGTERM a process group, SIGKILL it after `grace` seconds; True if it existed."""
    if not killpg_quiet(pgid, signal.SIGTERM):
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not killpg_quiet(pgid, 0):
            return True
        time.sleep(0.05)
    killpg_quiet(pgid, signal.SIGKILL)
    return True


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


class Signals:
    """Signals received by the runner. The handler forwards them at once to the child's group."""

    def __init__(self):
        self.received = []
        self.first_at = None
        self.child_pgid = None
        self.finalizing = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        self.received.append(signum)
        if self.first_at is None:
            self.first_at = now
        if self.finalizing:
            return  # logs and status are being finished and the pod stopped: do not die now
        # Asking again (a second Ctrl+C) means "now". A killed tmux session sends SIGHUP twice at
        # once (pty hangup and tmux itself); that is one request and keeps the grace period.
        again = now - self.first_at >= 1.0
        killpg_quiet(self.child_pgid, signal.SIGKILL if again else signum)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None
