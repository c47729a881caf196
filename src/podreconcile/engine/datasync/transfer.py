"""Choosing rsync or SFTP for an upload, and reporting its progress."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Literal

from podreconcile.core.ports import PodShell
from podreconcile.engine.datasync.model import (
    ProgressCallback,
    UploadDiff,
    UploadResult,
)
from podreconcile.engine.datasync.reporter import _Reporter
from podreconcile.engine.datasync.rsync import _upload_rsync
from podreconcile.engine.datasync.sftp import _upload_sftp


def upload(
    session: PodShell,
    diff: UploadDiff,
    *,
    key_path: Path,
    progress: ProgressCallback | None = None,
    prefer_rsync: bool = True,
) -> UploadResult:
    """Send `diff.send` to the pod, each file stamped with its local mtime; resumable.

    rsync when `prefer_rsync`, the pod has rsync (`diff.rsync_on_pod`) and this machine has rsync
    and ssh; otherwise SFTP. `progress` is called at most 5 times a second and once at the end; an
    exception it raises stops the upload (what arrived is kept for the next run) and propagates.
    Raises TemporaryError when the connection drops or rsync is killed (run again to resume).
    """
    use_rsync = prefer_rsync and _rsync_usable(diff, key_path)
    method: Literal["rsync", "sftp"] = "rsync" if use_rsync else "sftp"
    started = time.monotonic()
    if diff.empty:
        return UploadResult(0, 0, 0.0, method)
    reporter = _Reporter(progress, len(diff.send), diff.bytes_to_send)
    if method == "rsync":
        files_sent, bytes_sent = _upload_rsync(session, diff.send, Path(key_path), reporter)
    else:
        files_sent, bytes_sent = _upload_sftp(session, diff.send, reporter)
    reporter.finish()
    return UploadResult(files_sent, bytes_sent, time.monotonic() - started, method)


# rsync is its own SSH connection (a second handshake, several round trips); below these sizes SFTP
# over the command's open connection finishes first, and the command keeps to one connection.
RSYNC_MIN_BYTES = 8_000_000
RSYNC_MIN_FILES = 20


def rsync_pays_off(diff: UploadDiff) -> bool:
    """Whether an upload is large enough to be worth rsync's own connection."""
    return diff.bytes_to_send >= RSYNC_MIN_BYTES or len(diff.send) >= RSYNC_MIN_FILES


def _rsync_usable(diff: UploadDiff, key_path: Path) -> bool:
    if not (diff.rsync_on_pod and shutil.which("rsync") and shutil.which("ssh")):
        return False
    try:
        # OpenSSH refuses a private key others can read (paramiko does not): SFTP still works then.
        return not os.stat(key_path).st_mode & 0o077
    except OSError:
        return False
