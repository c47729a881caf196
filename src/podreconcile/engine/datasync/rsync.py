"""Uploading with rsync over ssh, with the host key paramiko pinned and resumable partials."""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from podreconcile.core.errors import (
    PermanentError,
    PodreconcileError,
    TemporaryError,
    UserError,
)
from podreconcile.core.ports import SSH_USER, HostKeyChanged, PodShell
from podreconcile.engine.datasync.model import (
    _KILL_GRACE,
    _RSYNC_CONNECTION,
    _RSYNC_INTERRUPTED,
    _RSYNC_VANISHED,
    RSYNC_PARTIAL_DIR,
    DataFile,
)
from podreconcile.engine.datasync.reporter import _Reporter
from podreconcile.engine.datasync.sftp import _prepare


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
    session: PodShell, files: tuple[DataFile, ...], key_path: Path, reporter: _Reporter
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


def ssh_command(session: PodShell, key_path: Path, known_hosts: Path) -> str:
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


def rsync_argv(group: RsyncGroup, ssh: str, session: PodShell, list_file: Path) -> list[str]:
    """One rsync run for `group`. No shell on either side parses a path: argv here, and
    `--protect-args` for the remote one."""
    host = session.endpoint.host
    host = f"[{host}]" if ":" in host else host
    argv = [
        "rsync", "--protect-args", "--times", "--copy-links", "--omit-dir-times",
        f"--partial-dir={RSYNC_PARTIAL_DIR}", "--info=progress2", "--stats", "-e", ssh,
    ]  # fmt: skip
    if not group.rels:
        return [*argv, "--", str(group.local_root), f"{SSH_USER}@{host}:{group.remote_root}"]
    list_file.write_bytes(b"".join(os.fsencode(rel) + b"\0" for rel in group.rels))
    argv += ["--from0", f"--files-from={list_file}"]
    return [*argv, "--", f"{group.local_root}/", f"{SSH_USER}@{host}:{group.remote_root.rstrip('/')}/"]


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


