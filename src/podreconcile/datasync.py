"""Data sync: the spec's `data:` entries, uploaded once and afterwards only what changed.

Three steps, the first two cheap enough for `plan`:

1. `local_data`: every file under each entry's `from`, with the path it gets on the pod.
2. `remote_listing` (one round trip: a python3 script on the pod walks the `to` roots) and the pure
   `plan_upload`: a file is sent when the pod lacks it or its (size, mtime) differ. Every upload
   stamps the local mtime on the pod's copy, so the quick check is exact on the next run.
3. `upload`: rsync over the session's endpoint, key and pinned host key when both sides have it,
   otherwise SFTP over the session itself: pipelined writes on a few parallel SFTP channels (a
   round trip per block or per file would bound throughput on a distant pod).

Interrupted uploads resume. rsync keeps what arrived in `.podreconcile-rsync-partial/` beside the
file and uses it as the basis next time. SFTP writes `<file>.podreconcile-part` and renames it when
complete; a later upload checks the part's bytes against the local file's first bytes (one round
trip for all parts) and continues from its end. In both cases a file's own name never holds a
half-written file, and files that arrived are not sent again.

Data sync never deletes anything on the pod.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Literal

from podreconcile.errors import PermanentError, PodreconcileError, TemporaryError, UserError
from podreconcile.ssh import USER, HostKeyChanged, Session

PART_SUFFIX = ".podreconcile-part"
RSYNC_PARTIAL_DIR = ".podreconcile-rsync-partial"
_BLOCK = 1 << 20
_SFTP_WORKERS = 4  # parallel SFTP channels: hide the round trips per file (open, close)
_SFTP_TIMEOUT = 120.0
_PROGRESS_INTERVAL = 0.2  # at most 5 progress callbacks a second
_FINALIZE_INTERVAL = 2.0  # completed SFTP parts are renamed in batches, one round trip each
_KILL_GRACE = 5.0
# rsync exits: 20 on a signal; 10, 12, 30, 35 and ssh's 255 when the connection fails or drops;
# 24 when source files vanished meanwhile.
_RSYNC_INTERRUPTED = {20}
_RSYNC_CONNECTION = {10, 12, 30, 35, 255}
_RSYNC_VANISHED = 24


@dataclass(frozen=True)
class DataFile:
    """One local file of a `data:` entry and the absolute path it gets on the pod."""

    local: Path
    remote: str
    size: int
    mtime_ns: int


class RemoteListing(dict[str, tuple[int, int]]):
    """remote path -> (size, mtime_ns) of every file under the `to` roots; `rsync` is the pod's
    rsync executable (None without one), learnt in the same round trip."""

    def __init__(self, files: dict[str, tuple[int, int]] | None = None, rsync: str | None = None):
        super().__init__(files or {})
        self.rsync = rsync


@dataclass(frozen=True)
class UploadDiff:
    """What an upload would send; pure data for plan to show."""

    send: tuple[DataFile, ...]
    bytes_to_send: int
    files_total: int
    bytes_total: int
    rsync_on_pod: bool = False  # from the listing: lets `upload` choose rsync without asking again

    @property
    def empty(self) -> bool:
        return not self.send


@dataclass(frozen=True)
class Progress:
    """One progress report of an upload; `eta_s` is None while the rate is unknown."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    rate_bps: float
    eta_s: float | None


@dataclass(frozen=True)
class UploadResult:
    """What an upload did. `bytes_sent` counts file data that travelled in this run: a resumed
    file counts only its remainder (for rsync: its "literal data")."""

    files_sent: int
    bytes_sent: int
    seconds: float
    method: Literal["rsync", "sftp"]


ProgressCallback = Callable[[Progress], None]


# -- local side ------------------------------------------------------------------------------------


def local_data(project_dir: Path, items: Iterable) -> list[DataFile]:
    """Every file of the `data:` entries (`DataItem`s), mapped to its path on the pod, sorted.

    An entry's `from` (relative to `project_dir`) is a file, sent to `to`, or a folder, whose files
    go under `to` with their relative paths. Symlinks to files are followed; links to folders
    inside a folder are not. Raises UserError for a `from` that does not exist and for two local
    files that would land on the same pod path.
    """
    project_dir = Path(project_dir).absolute()
    found: dict[str, DataFile] = {}
    for index, item in enumerate(items):
        for data_file in _files_of_item(project_dir, index, item):
            _add_once(found, data_file, index)
    return [found[remote] for remote in sorted(found)]


def _files_of_item(project_dir: Path, index: int, item) -> Iterator[DataFile]:
    source = project_dir / item.from_
    if source.is_file():
        st = source.stat()
        yield DataFile(source, item.to, st.st_size, st.st_mtime_ns)
    elif source.is_dir():
        for path, rel, st in _walk(source, index):
            yield DataFile(path, posixpath.join(item.to, rel), st.st_size, st.st_mtime_ns)
    elif source.exists() or source.is_symlink():
        raise UserError(
            f"data[{index}].from: {item.from_} is neither a file nor a folder ({source}); point "
            "`from` in podspec.yaml at the file or folder to upload"
        )
    else:
        raise UserError(
            f"data[{index}].from: {item.from_} does not exist (looked for {source}); create it, or "
            "correct `from` in podspec.yaml (it is relative to the folder of podspec.yaml)"
        )


def _walk(source: Path, index: int) -> Iterator[tuple[Path, str, os.stat_result]]:
    """(path, POSIX path relative to `source`, stat) of the files under `source`, in order."""

    def fail(error: OSError) -> None:
        raise UserError(
            f"data[{index}].from: cannot read {error.filename} ({error.strerror}); fix its "
            "permissions or remove it from the folder"
        )

    for folder, dirs, names in os.walk(source, onerror=fail):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            try:
                st = path.stat()  # follows a symlink to a file
            except OSError:
                continue  # a broken symlink, or removed meanwhile: nothing to send
            if stat.S_ISREG(st.st_mode):
                yield path, path.relative_to(source).as_posix(), st


def _add_once(found: dict[str, DataFile], data_file: DataFile, index: int) -> None:
    other = found.get(data_file.remote)
    if other is not None and other.local != data_file.local:
        raise UserError(
            f"data[{index}] puts {data_file.local} at {data_file.remote} on the pod, where another "
            f"entry already puts {other.local}; give the entries different `to` paths"
        )
    found[data_file.remote] = data_file


# -- pod side: the listing -------------------------------------------------------------------------


def listing_request(items_to: Iterable[str]) -> tuple[str, bytes]:
    """The command and stdin of the listing, for a caller that batches it with other steps."""
    return _script_command("list"), json.dumps({"roots": sorted(set(items_to))}).encode()


def parse_listing(stdout: str) -> RemoteListing:
    """The listing script's output as a RemoteListing; PermanentError if it is not one."""
    try:
        data = json.loads(stdout)
        files = {str(p): (int(size), int(mtime)) for p, (size, mtime) in data["files"].items()}
        return RemoteListing(files, data["rsync"] or None)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PermanentError("the pod's listing of the data files could not be parsed") from None


def remote_listing(session: Session, items_to: list[str]) -> RemoteListing:
    """One round trip: remote path -> (size, mtime_ns) of every file under the `to` roots.

    The result is a dict (a RemoteListing) whose `rsync` attribute tells whether the pod has rsync.
    Roots that do not exist yet contribute nothing; nothing on the pod is changed.
    """
    if not items_to:
        return RemoteListing()
    command, request = listing_request(items_to)
    result = session.run(command, stdin=request, what="listing the data files on the pod")
    return parse_listing(result.stdout)


# -- the plan --------------------------------------------------------------------------------------


def same_mtime(local_ns: int, remote_ns: int) -> bool:
    """Whether the pod's mtime is the local one, allowing for a pod file system (or tool) that
    keeps only microseconds or whole seconds: otherwise such a pod would get every file again."""
    if local_ns == remote_ns:
        return True
    return any(
        remote_ns % unit == 0 and local_ns - local_ns % unit == remote_ns for unit in (1_000, 10**9)
    )


def plan_upload(local: list[DataFile], remote: dict[str, tuple[int, int]]) -> UploadDiff:
    """Pure: the files to send are those the pod lacks or whose (size, mtime) differ."""
    send = tuple(f for f in local if not _up_to_date(f, remote.get(f.remote)))
    return UploadDiff(
        send=send,
        bytes_to_send=sum(f.size for f in send),
        files_total=len(local),
        bytes_total=sum(f.size for f in local),
        rsync_on_pod=bool(getattr(remote, "rsync", None)),
    )


def _up_to_date(data_file: DataFile, seen: tuple[int, int] | None) -> bool:
    if seen is None:
        return False
    return seen[0] == data_file.size and same_mtime(data_file.mtime_ns, seen[1])


# -- upload ----------------------------------------------------------------------------------------


def upload(
    session: Session,
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


def _rsync_usable(diff: UploadDiff, key_path: Path) -> bool:
    if not (diff.rsync_on_pod and shutil.which("rsync") and shutil.which("ssh")):
        return False
    try:
        # OpenSSH refuses a private key others can read (paramiko does not): SFTP still works then.
        return not os.stat(key_path).st_mode & 0o077
    except OSError:
        return False


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


# -- upload: rsync ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RsyncLine:
    """One `--info=progress2` line: totals of the rsync run so far."""

    bytes_done: int
    rate_bps: float
    eta_s: float | None
    files_done: int | None  # only lines written when a file completes carry xfr#N


_PROGRESS2 = re.compile(
    r"^\s*(?P<bytes>\d[\d,.']*)\s+\d+%\s+(?P<rate>[\d.]+)(?P<unit>[kMGT]?B)/s\s+"
    r"(?P<eta>[\d:]+|\?+:\?+:\?+)?\s*(?:\(xfr#(?P<xfr>\d+),[^)]*\))?\s*$"
)
_RATE_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_progress2(line: str) -> RsyncLine | None:
    """Parse a line of `rsync --info=progress2` (C locale); None for any other line."""
    found = _PROGRESS2.match(line)
    if not found:
        return None
    eta = found["eta"]
    eta_s = None
    if eta and "?" not in eta:
        eta_s = float(sum(int(part) * 60**i for i, part in enumerate(reversed(eta.split(":")))))
    return RsyncLine(
        bytes_done=int(re.sub(r"\D", "", found["bytes"])),
        rate_bps=float(found["rate"]) * _RATE_UNITS[found["unit"]],
        eta_s=eta_s,
        files_done=int(found["xfr"]) if found["xfr"] else None,
    )


@dataclass(frozen=True)
class RsyncGroup:
    """Files one rsync run sends: `rels` under `local_root` go to the same paths under
    `remote_root`; with `rels` empty, the single file `local_root` goes to `remote_root`."""

    local_root: Path
    remote_root: str
    rels: tuple[str, ...]
    files: tuple[DataFile, ...]


def rsync_groups(files: Iterable[DataFile]) -> list[RsyncGroup]:
    """As few rsync runs (each one SSH connection) as the files allow.

    Files whose local and remote paths end in the same relative path go together, rooted where
    the paths part; a file renamed on the way (`from: a.jsonl`, `to: .../b.jsonl`) goes alone.
    """
    grouped: dict[tuple[Path, str], list[tuple[str, DataFile]]] = {}
    alone = []
    for f in files:
        rel = _common_tail(f.local.parts, f.remote.split("/"))
        if not rel:
            alone.append(RsyncGroup(f.local, f.remote, (), (f,)))
            continue
        local_root = Path(*f.local.parts[: len(f.local.parts) - len(rel)])
        remote_root = f.remote[: len(f.remote) - len("/".join(rel))].rstrip("/") or "/"
        grouped.setdefault((local_root, remote_root), []).append(("/".join(rel), f))
    groups = [
        RsyncGroup(local, remote, tuple(r for r, _ in entries), tuple(f for _, f in entries))
        for (local, remote), entries in grouped.items()
    ]
    return groups + alone


def _common_tail(local: tuple[str, ...], remote: list[str]) -> list[str]:
    # The roots keep at least their first component ("/" locally, "" remotely).
    n = 0
    while n < min(len(local), len(remote)) - 1 and local[-1 - n] == remote[-1 - n]:
        n += 1
    return remote[len(remote) - n :] if n else []


def _upload_rsync(
    session: Session, files: tuple[DataFile, ...], key_path: Path, reporter: _Reporter
) -> tuple[int, int]:
    groups = rsync_groups(files)
    # rsync creates the folders below a destination, not the destination's own parents.
    _prepare(session, _rsync_dirs(groups), [])
    files_sent = bytes_sent = files_base = bytes_base = 0
    with tempfile.TemporaryDirectory(prefix="podreconcile-rsync-") as tmp:
        ssh = ssh_command(session, key_path, Path(tmp) / "known_hosts")
        for number, group in enumerate(groups):
            argv = rsync_argv(group, ssh, session, Path(tmp) / f"files-{number}")
            tick = _rsync_ticker(reporter, files_base, bytes_base, bytes_sent)
            sent, literal = _run_rsync(argv, tick)
            files_sent, bytes_sent = files_sent + sent, bytes_sent + literal
            files_base += len(group.files)
            bytes_base += sum(f.size for f in group.files)
    return files_sent, bytes_sent


def _rsync_ticker(
    reporter: _Reporter, files_base: int, bytes_base: int, sent_base: int
) -> Callable[[RsyncLine], None]:
    """Progress of one rsync run (its counters start at zero) as progress of the whole upload."""
    files_done = 0

    def tick(line: RsyncLine) -> None:
        nonlocal files_done
        files_done = line.files_done if line.files_done is not None else files_done
        done = line.bytes_done
        reporter.update(files_base + files_done, bytes_base + done, sent_base + done)

    return tick


def _rsync_dirs(groups: list[RsyncGroup]) -> list[str]:
    return sorted({g.remote_root if g.rels else posixpath.dirname(g.remote_root) for g in groups})


def ssh_command(session: Session, key_path: Path, known_hosts: Path) -> str:
    """rsync's `-e`: OpenSSH with the session's key and port, trusting only the host key that
    paramiko pinned. rsync splits this string itself, honouring quotes, so each part is quoted."""
    host, port = session.endpoint.host, session.endpoint.port
    kind, blob = session.host_key.split()[:2]
    name = host if port == 22 else f"[{host}]:{port}"
    known_hosts.write_text(f"{name} {kind} {blob}\n")
    algorithms = "rsa-sha2-512,rsa-sha2-256,ssh-rsa" if kind == "ssh-rsa" else kind
    options = {
        "BatchMode": "yes",
        "IdentitiesOnly": "yes",
        "UserKnownHostsFile": str(known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "StrictHostKeyChecking": "yes",
        "HostKeyAlgorithms": algorithms,
        "CheckHostIP": "no",
        "UpdateHostKeys": "no",
        "ConnectTimeout": "15",
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "4",
        "LogLevel": "ERROR",
    }
    # -F /dev/null: like paramiko, ignore ~/.ssh/config (a ControlMaster there bypasses the key).
    argv = ["ssh", "-F", "/dev/null", "-i", str(key_path), "-p", str(port)]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    return " ".join(shlex.quote(part) for part in argv)


def rsync_argv(group: RsyncGroup, ssh: str, session: Session, list_file: Path) -> list[str]:
    """One rsync run for `group`. No shell on either side parses a path: argv here, and
    `--protect-args` for the remote one."""
    host = session.endpoint.host
    host = f"[{host}]" if ":" in host else host
    argv = [
        "rsync", "--protect-args", "--times", "--copy-links", "--omit-dir-times",
        f"--partial-dir={RSYNC_PARTIAL_DIR}", "--info=progress2", "--stats", "-e", ssh,
    ]  # fmt: skip
    if not group.rels:
        return [*argv, "--", str(group.local_root), f"{USER}@{host}:{group.remote_root}"]
    list_file.write_bytes(b"".join(os.fsencode(rel) + b"\0" for rel in group.rels))
    argv += ["--from0", f"--files-from={list_file}"]
    return [*argv, "--", f"{group.local_root}/", f"{USER}@{host}:{group.remote_root.rstrip('/')}/"]


def _run_rsync(argv: list[str], tick: Callable[[RsyncLine], None]) -> tuple[int, int]:
    """Run rsync, feeding its progress to `tick`; (files transferred, literal bytes) from --stats.

    Any exception (the progress callback's, Ctrl+C) stops rsync before propagating: the pod's
    rsync then keeps the partial file for the next run.
    """
    env = {**os.environ, "LC_ALL": "C"}  # the number formats parse_progress2 reads
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env
        )
        try:
            stats = _read_rsync_output(proc.stdout, tick)
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            proc.stdout.close()
        if code != 0:
            errors.seek(0)
            raise _rsync_error(code, errors.read().decode(errors="replace"))
    return stats.get("Number of regular files transferred", 0), stats.get("Literal data", 0)


def _read_rsync_output(stdout: BinaryIO, tick: Callable[[RsyncLine], None]) -> dict[str, int]:
    """Progress lines end in \\r, --stats lines in \\n; returns the numeric --stats lines."""
    stats: dict[str, int] = {}
    pending = b""
    while chunk := os.read(stdout.fileno(), 65536):
        *lines, pending = re.split(rb"[\r\n]", pending + chunk)
        for raw in lines:
            _take_line(raw.decode(errors="replace"), tick, stats)
    _take_line(pending.decode(errors="replace"), tick, stats)
    return stats


def _take_line(line: str, tick: Callable[[RsyncLine], None], stats: dict[str, int]) -> None:
    parsed = parse_progress2(line)
    if parsed is not None:
        tick(parsed)
        return
    found = re.match(r"^([A-Z][A-Za-z ]+): ([\d,]+)", line)
    if found:
        stats[found[1]] = int(found[2].replace(",", ""))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        # rsync's own handler ends its ssh; the pod's side then keeps the partial file.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_KILL_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rsync_error(code: int, stderr: str) -> PodreconcileError:
    tail = stderr.strip()[-400:]
    detail = f": {tail}" if tail else ""
    if any(s in stderr for s in ("Host key verification failed", "IDENTIFICATION HAS CHANGED")):
        return HostKeyChanged(
            "rsync's ssh was shown a different host key than the one pinned for this pod start; "
            "refusing to upload, as the connection may be intercepted"
        )
    if code < 0 or code in _RSYNC_INTERRUPTED:
        return TemporaryError(
            f"the data upload was interrupted (rsync exit {code}); run again to resume"
        )
    if code == _RSYNC_VANISHED:
        return UserError(f"data files changed while being uploaded{detail}; run the command again")
    if code in _RSYNC_CONNECTION:
        return TemporaryError(f"the data upload lost its connection (rsync exit {code}){detail}")
    return PermanentError(f"the data upload failed (rsync exit {code}){detail}")


# -- upload: SFTP ----------------------------------------------------------------------------------


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
    session: Session, files: tuple[DataFile, ...], reporter: _Reporter
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
    session: Session,
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
    session: Session, pending: dict[Future, DataFile], tally: _Tally, reporter: _Reporter
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


def _raise_error(session: Session, future: Future, f: DataFile) -> None:
    error = future.exception()
    if error is None or isinstance(error, PodreconcileError):
        future.result()
        return
    # paramiko's and the socket's errors, translated into ssh.py's kinds
    raise _sftp_error(session, error, f) from error


def _sftp_error(session: Session, e: Exception, f: DataFile) -> PodreconcileError:
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


def _open_sftp_clients(session: Session, count: int) -> list:
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


def _finalize(session: Session, completed: list[DataFile]) -> None:
    """One round trip: stamp the local mtimes (nanoseconds; SFTP's utime has whole seconds only)
    on complete parts, then rename them to their names."""
    if not completed:
        return
    renames = [[f.remote + PART_SUFFIX, f.remote, f.mtime_ns] for f in completed]
    request = json.dumps(renames).encode()
    session.run(_script_command("finalize"), stdin=request, what="finishing uploaded data files")


def _finalize_quietly(session: Session, completed: list[DataFile]) -> None:
    try:
        if session.is_alive():
            _finalize(session, completed)
    except PodreconcileError:
        pass  # the parts stay; the next upload finds them complete and renames them then


# -- pod side: prepare -----------------------------------------------------------------------------


def _prepare(session: Session, dirs: list[str], parts: list[str]) -> dict[str, tuple[int, str]]:
    """One round trip: create `dirs`; part path -> (size, sha256) of the `parts` that exist."""
    request = json.dumps({"dirs": dirs, "parts": parts}).encode()
    what = "preparing the data upload"
    result = session.run(_script_command("prepare"), stdin=request, what=what)
    try:
        found = json.loads(result.stdout).items()
        return {path: (int(size), str(digest)) for path, (size, digest) in found}
    except (ValueError, TypeError, AttributeError):
        raise PermanentError(f"the pod's answer to {what} could not be parsed") from None


def _script_command(mode: str) -> str:
    args = (_REMOTE_SCRIPT, mode, PART_SUFFIX, RSYNC_PARTIAL_DIR)
    return "python3 -c " + " ".join(shlex.quote(arg) for arg in args)


# Runs on the pod under whatever python3 the image has (3.8+), so stdlib only.
_REMOTE_SCRIPT = r'''
import hashlib, json, os, shutil, stat, sys
PART, PARTIAL_DIR = sys.argv[2], sys.argv[3]

def regular(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None

def list_files():
    files = {}
    for root in json.load(sys.stdin)["roots"]:
        st = regular(root)
        if st:
            files[root] = [st.st_size, st.st_mtime_ns]
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != PARTIAL_DIR]
            for name in names:
                path = os.path.join(folder, name)
                st = None if name.endswith(PART) else regular(path)
                if st:
                    files[path] = [st.st_size, st.st_mtime_ns]
    json.dump({"files": files, "rsync": shutil.which("rsync")}, sys.stdout)

def sha256(path, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while size:
            block = f.read(min(1 << 20, size))
            if not block:
                break
            h.update(block)
            size -= len(block)
    return h.hexdigest()

def prepare():
    request = json.load(sys.stdin)
    for folder in request["dirs"]:
        os.makedirs(folder, exist_ok=True)
    parts = {}
    for path in request["parts"]:
        st = regular(path)
        if st and st.st_size:
            parts[path] = [st.st_size, sha256(path, st.st_size)]
    json.dump(parts, sys.stdout)

def finalize():
    for part, final, mtime_ns in json.load(sys.stdin):
        os.utime(part, ns=(mtime_ns, mtime_ns))
        os.replace(part, final)

try:
    {"list": list_files, "prepare": prepare, "finalize": finalize}[sys.argv[1]]()
except OSError as e:
    sys.exit("%s: %s" % (e.filename or "", e.strerror))
'''
