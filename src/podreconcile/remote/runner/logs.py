"""The attempt's logs (train.log, current.log, the tmux pane) and the runner's own diary."""

from __future__ import annotations

import os
import sys
import threading

from .basics import read_first_line, utc_iso
from .frame import Framer
from .launch import RunPaths
from .redact import Redactor


def pane_write(data: bytes) -> None:
    """Echo to the tmux pane. Once the pane is gone (session killed) stdout becomes /dev/null:
    output left in its buffer would fail again at exit and turn the exit status into 120."""
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass


def note(paths: RunPaths, message: str) -> None:
    """The runner's own diary (runner.log and the pane): what happens outside an attempt's logs."""
    try:
        with open(paths.runner_log, "a", encoding="utf-8") as f:
            f.write("%s %s\n" % (utc_iso(), message))
    except OSError:
        pass
    pane_write(("podreconcile: %s\n" % message).encode("utf-8", "replace"))


def header(run: str, attempt: int, when: str, how: str) -> str:
    return "=== podreconcile run %s attempt %d at %s: %s ===" % (run, attempt, when, how)


def ends_with_newline(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return True


def append_ending(paths: RunPaths, status: dict, text: bytes, current_too: bool) -> None:
    """Close the logs of an attempt whose runner is gone; current.log only while it holds that attempt."""
    logs = [paths.train_log]
    prefix = "=== podreconcile run %s attempt %s " % (status.get("run"), status.get("attempt"))
    if current_too and (read_first_line(paths.current_log) or "").startswith(prefix):
        logs.append(paths.current_log)
    for path in logs:
        lead = b"" if ends_with_newline(path) else b"\n"
        try:
            with open(path, "ab") as f:
                f.write(lead + text)
        except OSError:
            pass


class Gate:
    """Whether a child's output still belongs to the attempt's logs."""

    def __init__(self):
        self.open = True


class Tee:
    """An attempt's output: appended to train.log, written to a fresh current.log, echoed to the pane.

    Unbuffered, so `tail -f` shows progress as it happens. Thread-safe: the output pump and the
    runner's own messages share it.
    """

    def __init__(self, paths: RunPaths, redactor: Redactor):
        os.makedirs(os.path.dirname(paths.current_log), exist_ok=True)
        # A previous attempt cut mid-line must not swallow this attempt's header.
        torn = not ends_with_newline(paths.train_log)
        self._files = [open(paths.train_log, "ab", buffering=0), open(paths.current_log, "wb", buffering=0)]
        if torn:
            self._write_file(self._files[0], b"\n")
        self._redactor = redactor
        self._framer = Framer()
        self._lock = threading.Lock()
        self._line_start = True

    def output(self, data: bytes, gate: Gate) -> None:
        """Bytes from a child, redacted and framed; dropped once the child's gate is shut."""
        with self._lock:
            if gate.open:
                self._write(self._framer.feed(self._redactor.feed(data)))

    def shut(self, gate: Gate) -> None:
        """A child is done: later bytes from whatever still holds its pipe never reach the logs."""
        with self._lock:
            gate.open = False

    def end_output(self) -> None:
        """A child is done: release the bytes held back by the redactor."""
        with self._lock:
            self._write(self._framer.feed(self._redactor.flush()))
            self._write(self._framer.flush())

    def line(self, text: str) -> None:
        """A whole line of the runner's own, always starting at a line start."""
        with self._lock:
            self._write(self._framer.flush())
            if not self._line_start:
                self._write(b"\n")
            self._write((text + "\n").encode("utf-8", "replace"))
            self._framer.runner_line_written()

    def close(self) -> None:
        """Flushed to disk before the pod stop, which may come within the second."""
        with self._lock:
            for f in self._files:
                try:
                    os.fsync(f.fileno())
                except OSError:
                    pass
                f.close()

    def _write(self, data: bytes) -> None:
        if not data:
            return
        for f in self._files:
            self._write_file(f, data)
        pane_write(data)
        self._line_start = data.endswith(b"\n")

    @staticmethod
    def _write_file(f, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[f.write(view):]
        except OSError:
            pass  # a full disk must not kill the supervision of a running training
