"""Constants and small file helpers shared by the runner's modules."""

from __future__ import annotations

import json
import os
import shutil
import time

RUNNER_VERSION = 1
EXIT_MAX_RUNTIME = 124
EXIT_CANNOT_START = 127
EXIT_LOST = 137  # a previous attempt whose runner vanished: the pod stop kills with SIGKILL


def utc_iso(epoch: float | None = None) -> str:
    """ISO-8601 UTC with a Z, to the second: the form used in headers and status.json."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


def fsync_dir(path: str) -> None:
    """Make a rename durable: a pod stop right after must not lose the new status.json."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str, data: dict) -> None:
    """Write JSON via temp file + fsync + rename, so readers never see half a file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


MAX_JSON = 1 << 20


def read_json(path: str) -> dict | None:
    """A JSON object from a file, or None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_JSON + 1)
        # Anyone with the volume may have written it: too big, too deep or not JSON is unreadable.
        data = json.loads(text) if len(text) <= MAX_JSON else None
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_first_line(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.readline().decode("utf-8", "replace")
    except OSError:
        return None


def whole(number: float):
    """3600.0 -> 3600 for status.json; fractions stay."""
    return int(number) if number == int(number) else number


def shell() -> str:
    """bash, as users write their command and setup for it; sh only on images without bash."""
    return shutil.which("bash") or "/bin/sh"
