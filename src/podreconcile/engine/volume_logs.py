"""The run's log read from the network volume through S3, with no pod: `logs`, `--tail N`, `--all`."""

from __future__ import annotations

from podreconcile.core.ports import NotFoundError, VolumeStore
from podreconcile.engine.volume_access import volume_key

_FIRST_WINDOW = 64 * 1024
_CHUNK = 8 << 20


def read_log(store: VolumeStore, mount: str, path: str, lines: int | None) -> str:
    """The log's last `lines` lines (all of it when None), as `tail -n`/`cat` print it; "" when absent."""
    key = volume_key(mount, path)
    if key is None:
        return ""
    try:
        return _tail(store, key, lines) if lines else _whole(store, key)
    except NotFoundError:
        return ""


def _tail(store: VolumeStore, key: str, lines: int) -> str:
    """Read a growing window from the end until it holds `lines` full lines (or the whole log)."""
    window = _FIRST_WINDOW
    while True:
        data = store.read_tail(key, window)
        complete = len(data) < window  # the whole object fit
        body = data.decode("utf-8", "replace")
        kept = body.splitlines(keepends=True)
        if complete or len(kept) > lines:  # one more than asked: the first may be cut
            return "".join(kept[-lines:])
        window *= 4


def _whole(store: VolumeStore, key: str) -> str:
    parts, start = [], 0
    while True:
        chunk = store.read_range(key, start, _CHUNK)
        parts.append(chunk)
        start += len(chunk)
        if len(chunk) < _CHUNK:
            return b"".join(parts).decode("utf-8", "replace")
