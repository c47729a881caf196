"""Uploading over SFTP: parallel pipelined channels, resumable part files renamed in batches."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import BinaryIO, Iterable

from podreconcile.core.errors import (
    PermanentError,
    PodreconcileError,
    TemporaryError,
    UserError,
)
from podreconcile.core.ports import PodShell
from podreconcile.core.untrusted import as_int, as_str, json_value
from podreconcile.engine.datasync.model import (
    _BLOCK,
    _FINALIZE_INTERVAL,
    _PROGRESS_INTERVAL,
    _SFTP_TIMEOUT,
    _SFTP_WORKERS,
    PART_SUFFIX,
    DataFile,
)
from podreconcile.engine.datasync.podscript import _script_command
from podreconcile.engine.datasync.reporter import _Reporter


class _Tally:
    """What the SFTP workers did, shared with the thread that reports and renames."""

    def __init__(self, resumed: int) -> None:
        self._lock = threading.Lock()
        self.files = 0
        self.resumed = resumed  # bytes already on the pod in the parts continued now
        self.sent = 0
        self._complete: list[DataFile] = []  # parts written in full, waiting for their rename

    def add_bytes(self, sent: int) -> None:
        with self._lock:
            self.sent += sent

    def add_complete(self, f: DataFile) -> None:
        with self._lock:
            self.files += 1
            self._complete.append(f)

    def take_complete(self) -> list[DataFile]:
        with self._lock:
            taken, self._complete = self._complete, []
            return taken


def _upload_sftp(
    session: PodShell, files: tuple[DataFile, ...], reporter: _Reporter
) -> tuple[int, int]:
    dirs = sorted({posixpath.dirname(f.remote) for f in files})
    parts = _prepare(session, dirs, [f.remote + PART_SUFFIX for f in files])
    offsets = _resume_offsets(files, parts)
    tally = _Tally(sum(offsets.values()))
    clients = _open_sftp_clients(session, min(_SFTP_WORKERS, len(files)))
    try:
        _run_sftp_workers(session, files, offsets, clients, tally, reporter)
    except BaseException:
        _finalize_quietly(session, tally.take_complete())  # what arrived counts for the next run
        raise
    finally:
        for client in clients[1:]:
            client.close()
    _finalize(session, tally.take_complete())
    return tally.files, tally.sent


def _run_sftp_workers(
    session: PodShell,
    files: tuple[DataFile, ...],
    offsets: dict[str, int],
    clients: list,
    tally: _Tally,
    reporter: _Reporter,
) -> None:
    """Send every file on a pool of SFTP clients; the calling thread reports and renames."""
    free = list(clients)
    free_lock = threading.Lock()
    cancel = threading.Event()

    def send(f: DataFile) -> None:
        if cancel.is_set():
            return  # stopped before this file began: nothing of it on the pod, not even a part
        with free_lock:
            client = free.pop()
        try:
            _send_part(client, f, offsets.get(f.remote, 0), tally, cancel)
        finally:
            with free_lock:
                free.append(client)

    pool = ThreadPoolExecutor(len(clients), thread_name_prefix="sftp-upload")
    try:
        pending = {pool.submit(send, f): f for f in files}
        _collect(session, pending, tally, reporter)
    finally:
        cancel.set()  # on an error, workers stop at their next block
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(
    session: PodShell, pending: dict[Future, DataFile], tally: _Tally, reporter: _Reporter
) -> None:
    """Wait for the workers: raise the first error, report progress, rename complete parts."""
    last_finalize = time.monotonic()
    while pending:
        done, _ = wait(pending, timeout=_PROGRESS_INTERVAL, return_when=FIRST_COMPLETED)
        for future in done:
            _raise_error(session, future, pending.pop(future))
        reporter.update(tally.files, tally.resumed + tally.sent, tally.sent)
        if time.monotonic() - last_finalize > _FINALIZE_INTERVAL:
            _finalize(session, tally.take_complete())
            last_finalize = time.monotonic()


def _raise_error(session: PodShell, future: Future, f: DataFile) -> None:
    error = future.exception()
    if error is None or isinstance(error, PodreconcileError):
        future.result()
        return
    # paramiko's and the socket's errors, translated into ssh.py's kinds
    raise _sftp_error(session, error, f) from error


def _sftp_error(session: PodShell, e: Exception, f: DataFile) -> PodreconcileError:
    what = f"uploading {f.remote}"
    if not session.is_alive() or isinstance(e, EOFError):
        return TemporaryError(
            f"lost the SSH connection to {session.endpoint} while {what}; run again to resume"
        )
    if isinstance(e, TimeoutError):
        return TemporaryError(f"{what} timed out: the pod at {session.endpoint} stopped answering")
    if isinstance(e, PermissionError):
        return PermanentError(f"{what} failed: permission denied on the pod")
    reason = (getattr(e, "strerror", None) or str(e) or type(e).__name__)[:200]
    # SFTP reports a full volume as a bare "Failure": say what to check.
    return PermanentError(f"{what} failed on the pod ({reason}); check that its volume has room")


def _open_sftp_clients(session: PodShell, count: int) -> list:
    """The session's SFTP client plus up to `count - 1` more on the same connection.

    ssh.py offers one client; more channels are opened from its transport (public paramiko API)
    so that this module need not import paramiko. Fewer is fine (e.g. sshd's MaxSessions).
    """
    shared = session.sftp()
    clients = [shared]
    transport = shared.get_channel().get_transport()
    for _ in range(count - 1):
        try:
            client = type(shared).from_transport(transport)
        except Exception:  # a refused channel: go on with the clients we have
            break
        client.get_channel().settimeout(_SFTP_TIMEOUT)
        clients.append(client)
    return clients


def _send_part(client, f: DataFile, offset: int, tally: _Tally, cancel: threading.Event) -> None:
    """Write `f` into its part file from `offset` on; stops early (part kept) when cancelled."""
    with _open_local(f) as src:
        src.seek(offset)
        with client.open(f.remote + PART_SUFFIX, "r+b" if offset else "wb") as dst:
            dst.set_pipelined(True)  # don't wait for an acknowledgement per 32 KiB write
            dst.seek(offset)
            left = f.size - offset
            while left:
                if cancel.is_set():
                    return  # closing the file keeps what was written, for a resume
                block = _read_local(src, min(_BLOCK, left), f)
                dst.write(block)
                left -= len(block)
                tally.add_bytes(len(block))
    tally.add_complete(f)


def _open_local(f: DataFile) -> BinaryIO:
    try:
        src = open(f.local, "rb")
    except OSError as e:
        raise UserError(f"cannot read {f.local} ({e.strerror}); run the command again") from None
    st = os.fstat(src.fileno())
    if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
        src.close()
        # Its mtime is stamped on the pod's copy: the bytes sent must be the ones planned.
        raise _changed_meanwhile(f)
    return src


def _read_local(src: BinaryIO, size: int, f: DataFile) -> bytes:
    try:
        block = src.read(size)
    except OSError as e:
        raise UserError(f"cannot read {f.local} ({e.strerror}); run the command again") from None
    if not block:
        raise _changed_meanwhile(f)
    return block


def _changed_meanwhile(f: DataFile) -> UserError:
    return UserError(f"{f.local} changed while being uploaded; run the command again")


def _resume_offsets(files: Iterable[DataFile], parts: dict[str, tuple[int, str]]) -> dict[str, int]:
    """remote path -> bytes of its part file to keep: the part must hold exactly the local file's
    first bytes (a part left by an older version of the file is started afresh)."""
    offsets = {}
    for f in files:
        size, digest = parts.get(f.remote + PART_SUFFIX, (0, ""))
        if 0 < size <= f.size and _prefix_sha256(f, size) == digest:
            offsets[f.remote] = size
    return offsets


def _prefix_sha256(f: DataFile, size: int) -> str:
    digest = hashlib.sha256()
    with _open_local(f) as src:
        while size:
            block = _read_local(src, min(_BLOCK, size), f)
            digest.update(block)
            size -= len(block)
    return digest.hexdigest()


def _finalize(session: PodShell, completed: list[DataFile]) -> None:
    """One round trip: stamp the local mtimes (nanoseconds; SFTP's utime has whole seconds only)
    on complete parts, then rename them to their names."""
    if not completed:
        return
    renames = [[f.remote + PART_SUFFIX, f.remote, f.mtime_ns] for f in completed]
    request = json.dumps(renames).encode()
    session.run(_script_command("finalize"), stdin=request, what="finishing uploaded data files")


def _finalize_quietly(session: PodShell, completed: list[DataFile]) -> None:
    try:
        if session.is_alive():
            _finalize(session, completed)
    except PodreconcileError:
        pass  # the parts stay; the next upload finds them complete and renames them then


# -- pod side: prepare -----------------------------------------------------------------------------


def _prepare(session: PodShell, dirs: list[str], parts: list[str]) -> dict[str, tuple[int, str]]:
    """One round trip: create `dirs`; part path -> (size, sha256) of the `parts` that exist."""
    request = json.dumps({"dirs": dirs, "parts": parts}).encode()
    what = "preparing the data upload"
    result = session.run(_script_command("prepare"), stdin=request, what=what, timeout=300)
    found = json_value(result.stdout)
    if not isinstance(found, dict):
        raise PermanentError(f"the pod's answer to {what} could not be parsed; apply again")
    parts = {}
    for path, entry in found.items():
        size, digest = (as_int(entry[0], 0), as_str(entry[1], 200)) if isinstance(entry, list) and len(entry) == 2 else (None, None)
        if size is not None and digest is not None:
            parts[path] = (size, digest)  # an unreadable part is sent again from its start
    return parts


