"""Progress as apply reports it: plain lines through a pipe, rich live displays on a terminal."""

from __future__ import annotations

import io
from types import SimpleNamespace

from podreconcile.cli import render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def transfer(done: int) -> SimpleNamespace:
    return SimpleNamespace(files_done=done, files_total=4, bytes_done=done * 1_000_000, bytes_total=4_000_000,
                           rate_bps=2_000_000, eta_s=(4 - done) / 2)


def test_through_a_pipe_only_lines_and_a_retry_line_at_most_every_15_s():
    pipe = io.StringIO()
    progress = render.Progress(pipe)
    progress.step("creating pod")
    progress.waiting("waiting for pod to boot")
    progress.transfer(transfer(1))
    progress.retrying("HTTP 429; retrying in 1.0 s")
    progress.retrying("HTTP 429; retrying in 2.0 s")
    progress.info("pod abc is up")
    assert pipe.getvalue() == ("==> creating pod\n    ... HTTP 429; retrying in 1.0 s\n    pod abc is up\n")


def test_on_a_terminal_waits_and_transfers_are_live_and_vanish_before_the_next_line():
    tty = Terminal()
    progress = render.Progress(tty)
    try:
        progress.waiting("waiting for pod to boot")
        progress.retrying("HTTP 429; retrying in 1.0 s")
        progress.transfer(transfer(2))
        progress.step("launched")
    finally:
        render.finish()
    out = tty.getvalue()
    assert "waiting for pod to boot" in out
    assert "2/4 files" in out and "2.0/4.0 MB" in out and "2.0 MB/s" in out and "1 s left" in out
    assert out.rstrip().endswith("==> launched")
