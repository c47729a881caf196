"""Framing: the runner's own lines cannot be printed by training.

A follower reads the log for the attempt's header and its `EXIT_CODE=<n>` line. Training output
that starts a line the same way gets "| " in front, so only the runner writes such lines bare.
"""

from __future__ import annotations

RESERVED = (b"EXIT_CODE=", b"=== podreconcile run ")
MARK = b"| "


class Framer:
    """Marks child output lines that start like a runner line; a line start that may still become
    one (`EXIT_`) is held back until its line shows what it is."""

    def __init__(self):
        self.at_start = True
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        buf, self.held = self.held + data, b""
        lines = buf.split(b"\n")
        out = bytearray()
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            at_start = self.at_start if index == 0 else True
            if at_start and last and _may_become_reserved(line):
                self.held = line
                self.at_start = True
                return bytes(out)
            if at_start and line.startswith(RESERVED):
                out += MARK
            out += line
            if not last:
                out += b"\n"
        self.at_start = lines[-1] == b"" and (len(lines) > 1 or self.at_start)
        return bytes(out)

    def flush(self) -> bytes:
        """What is held back (never a whole reserved prefix), e.g. before a runner line."""
        held, self.held = self.held, b""
        if held:
            self.at_start = False
        return held

    def runner_line_written(self) -> None:
        self.at_start = True


def _may_become_reserved(line: bytes) -> bool:
    return bool(line) and any(len(line) < len(r) and r.startswith(line) for r in RESERVED)
