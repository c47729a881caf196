"""One child of an attempt (venv creation, setup, training) in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from .basics import EXIT_CANNOT_START, EXIT_MAX_RUNTIME
from .logs import Gate, Tee
from .signals import Signals, killpg_quiet, signal_name, terminate_group


class Child:
    """Runs one child in its own process group, its output to a Tee, under deadline and signals."""

    def __init__(self, tee: Tee, signals: Signals, deadline: float | None, grace: float):
        self.tee = tee
        self.signals = signals
        self.deadline = deadline  # time.monotonic() value, None: no limit
        self.grace = grace

    def run(self, argv: list, cwd: str, env: dict, on_start=None) -> tuple:
        """(exit code, reason) where reason is None, "signal", "max_runtime" or "cannot_start"."""
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            self.tee.line("podreconcile: cannot start %s in %s: %s" % (argv[0], cwd, exc.strerror))
            return EXIT_CANNOT_START, "cannot_start"
        self.signals.child_pgid = proc.pid
        if self.signals.received:  # a signal raced the start
            killpg_quiet(proc.pid, self.signals.first)
        if on_start is not None:
            on_start(proc.pid)
        reason = self._supervise(proc)
        return self._exit_code(proc.returncode, reason), reason

    def _supervise(self, proc) -> str | None:
        """Pump the output until the child ends; then end its group and close its output."""
        gate = Gate()
        pump = threading.Thread(target=self._pump, args=(proc.stdout, gate), daemon=True)
        pump.start()
        reason = self._wait(proc)
        self.signals.child_pgid = None
        if reason is None and self.signals.received:
            reason = "signal"  # the forwarded signal ended the child before the loop saw it
        self._reap_group(proc.pid, pump)
        self.tee.shut(gate)  # a daemon in another session may keep the pipe open forever
        self.tee.end_output()
        return reason

    def _pump(self, stream, gate: Gate) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.tee.output(chunk, gate)

    def _wait(self, proc) -> str | None:
        """Wait for the child, enforcing the deadline and the grace after a forwarded signal."""
        reason, kill_at = None, None
        while True:
            try:
                proc.wait(timeout=0.1)
                return reason
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if reason is None:
                reason = self._why_end(proc, now)
                if reason is not None:
                    kill_at = now + self.grace
            if kill_at is not None and now >= kill_at:
                kill_at = None
                self.tee.line("podreconcile: still running after the grace period; SIGKILL")
                killpg_quiet(proc.pid, signal.SIGKILL)

    def _why_end(self, proc, now: float) -> str | None:
        """Why the child must end now: a signal (the handler forwarded it) or max_runtime (SIGTERM here)."""
        if self.signals.received:
            self.tee.line("podreconcile: received %s; forwarded to the process group, SIGKILL in %gs"
                          % (signal_name(self.signals.first), self.grace))
            return "signal"
        if self.deadline is not None and now >= self.deadline:
            self.tee.line("podreconcile: max_runtime reached; SIGTERM to the process group, SIGKILL in %gs"
                          % self.grace)
            killpg_quiet(proc.pid, signal.SIGTERM)
            return "max_runtime"
        return None

    def _reap_group(self, pgid: int, pump: threading.Thread) -> None:
        """The attempt is over: end what the child left behind (workers holding the pipe open)."""
        pump.join(timeout=1.0)
        if terminate_group(pgid, 3.0) and pump.is_alive():
            pump.join(timeout=2.0)

    def _exit_code(self, returncode: int, reason: str | None) -> int:
        if reason == "max_runtime":
            return EXIT_MAX_RUNTIME
        if reason == "signal":
            return 128 + self.signals.first
        if returncode < 0:
            return 128 - returncode
        return returncode
