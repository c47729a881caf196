"""Progress of an upload, throttled, in the shape the caller's bar wants."""

from __future__ import annotations

import time

from podreconcile.engine.datasync.model import (
    _PROGRESS_INTERVAL,
    Progress,
    ProgressCallback,
)


class _Reporter:
    """Turns counters into throttled Progress callbacks; rate and ETA over this run's bytes."""

    def __init__(
        self, callback: ProgressCallback | None, files_total: int, bytes_total: int
    ) -> None:
        self._callback = callback
        self._files_total = files_total
        self._bytes_total = bytes_total
        self._started = time.monotonic()
        self._last = 0.0
        self._done = (0, 0, 0)  # files, bytes (resumed included), bytes sent in this run

    def update(self, files_done: int, bytes_done: int, sent: int, force: bool = False) -> None:
        self._done = (files_done, bytes_done, sent)
        now = time.monotonic()
        if self._callback is None or not (force or now - self._last >= _PROGRESS_INTERVAL):
            return
        self._last = now
        self._callback(self._progress(now))

    def finish(self) -> None:
        files, _, sent = self._done
        self.update(max(files, self._files_total), self._bytes_total, sent, force=True)

    def _progress(self, now: float) -> Progress:
        files, done, sent = self._done
        elapsed = now - self._started
        rate = sent / elapsed if elapsed > 0 else 0.0
        left = max(self._bytes_total - done, 0)
        eta = left / rate if rate > 0 else (0.0 if left == 0 else None)
        return Progress(files, self._files_total, done, self._bytes_total, rate, eta)
