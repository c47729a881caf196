"""`podreconcile pull`: the run's outputs from the volume to a local folder, resumable.

A network volume that RunPod's S3 API reaches is read with no pod at all (one listing of the output
dir, then parallel downloads that continue a partial file). Otherwise (the pod's own volume disk, a
data center without S3, no key pair) it goes over SSH: the running pod, or with `--start` a stopped
pod started for it and stopped again. Over SSH too, a file cut short is continued from its end.

The local folder is `./pulled/<run_name>/` by default and never inside `.podreconcile/`: files keep
their paths relative to the run's output dir; the run's log goes to `logs/train.log`.
"""

from __future__ import annotations

import os
import posixpath
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from podreconcile.core.errors import UserError
from podreconcile.core.observation import PodStatus
from podreconcile.core.pod_commands import our_pod
from podreconcile.core.ports import PodShell, VolumeStore
from podreconcile.core.pull_selection import (
    default_selection,
    latest_complete_checkpoint,
)
from podreconcile.engine import datasync, day2, volume_sync
from podreconcile.engine.observe import paths as run_paths
from podreconcile.engine.volume_access import volume_key, volume_prefix

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PullResult:
    files: int
    bytes: int
    skipped: int
    dest: Path
    via: str  # "s3" or "ssh"
    checkpoint: str | None  # the latest complete checkpoint, when the default selection was pulled


@dataclass(frozen=True)
class Wanted:
    remote: str  # absolute path on the pod
    local: Path
    size: int
    mtime: float | None = None


def destination(project, dest: Path | None) -> Path:
    """Where pulled files go: `dest`, or ./pulled/<run_name>/; never inside .podreconcile/."""
    target = Path(dest).absolute() if dest else project.dir / "pulled" / project.run_name
    internal = project.state_file.root.absolute()
    if target == internal or internal in target.parents:
        raise UserError(f"{target} is inside {internal}, podreconcile's own folder; pull to another folder "
                        "(the default is ./pulled/<run_name>/).")
    return target


def pull(project, provider, conn, report, paths: list[str], dest: Path | None, start: bool) -> PullResult:
    target = destination(project, dest)
    pods, volumes = day2.listed(project, provider)
    route, volume = volume_sync.store(project, conn, provider, volumes)
    if volume is not None:
        report.step(f"pulling {route.explain()}")
        return _pull_s3(project, volume, report, paths, target)
    report.step(f"pulling {route.explain()}")
    why = "`pull --start` reads the outputs from the pod's volume" if start else None
    try:
        with day2.visit(project, provider, conn, report, why, pods) as session:
            return _pull_ssh(project, session, report, paths, target)
    except UserError as error:
        if "is stopped" in str(error):
            raise UserError(f"The pod is stopped and its volume is not reachable through S3 ({route.explain()}); "
                            "`podreconcile pull --start` starts it, downloads, and stops it again.") from None
        raise


def outputs_at_risk(project, provider, conn, pods: list) -> str | None:
    """For `destroy` without a network volume: what on the pod's volume disk would be lost, or None.
    `pods`: the listing destroy's plan was made from."""
    if project.spec.pod.network_volume:
        return None
    pod = our_pod(day2.ownership(project, pods), project.spec.pod_name)
    if pod.status is not PodStatus.RUNNING:
        return f"pod {pod.id} is stopped; its volume disk may hold checkpoints of run {project.run_name}"
    with day2.visit(project, provider, conn, report=_Silent(), start_why=None, pods=pods) as session:
        found = _remote_files(session, project.output_dir)
    latest = latest_complete_checkpoint(found)
    if not found:
        return None
    return (f"pod {pod.id}'s volume disk holds {len(found)} output file(s) of run {project.run_name}"
            + (f", the latest complete checkpoint {latest}" if latest else ""))


# ---- through S3 ----

def _pull_s3(project, volume: VolumeStore, report, paths: list[str], target: Path) -> PullResult:
    out_prefix = volume_prefix(project.mount, project.output_dir)
    if out_prefix is None:
        raise UserError(f"The run's output dir {project.output_dir} is not on the network volume "
                        f"({project.mount}); pull it over SSH with the pod running.")
    wanted, checkpoint = [], None  # (key, local path, size)
    if paths:
        for path in paths:
            wanted += _named_s3(project, volume, path, target)
    else:
        listed = {o.key[len(out_prefix):]: o for o in volume.list(out_prefix) if not o.is_directory}
        checkpoint = latest_complete_checkpoint(listed)
        wanted = [(out_prefix + rel, target / rel, listed[rel].size) for rel in default_selection(listed)]
        log_key = volume_key(project.mount, run_paths(project).train_log)
        logs = [o for o in volume.list(log_key) if o.key == log_key] if log_key is not None else []
        wanted += [(o.key, target / "logs" / "train.log", o.size) for o in logs]
    if not wanted:
        raise UserError(f"Nothing to pull: no outputs under {project.output_dir} on the volume yet.")
    report.step(f"downloading {len(wanted)} file(s) to {target}")
    progress = _ByteProgress(report, len(wanted), sum(size for _, _, size in wanted))
    done = volume.download([(key, local) for key, local, _ in wanted], on_bytes=progress.add)
    return PullResult(done.files, done.bytes, done.skipped, target, "s3", checkpoint)


def _named_s3(project, volume: VolumeStore, path: str, target: Path) -> list[tuple[str, Path, int]]:
    absolute = _absolute(project, path)
    key = volume_key(project.mount, absolute)
    if key is None:
        raise UserError(f"{path} is not on the network volume ({project.mount}); name a path under it.")
    found = [o for o in volume.list(key) if not o.is_directory and (o.key == key or o.key.startswith(key.rstrip("/") + "/"))]
    if not found:
        raise UserError(f"{path} is not on the volume ({absolute}); `podreconcile logs` or the RunPod console shows what the run wrote.")
    return [(o.key, target / _local_rel(project, posixpath.join(project.mount, o.key)), o.size) for o in found]


# ---- over SSH ----

def _pull_ssh(project, session: PodShell, report, paths: list[str], target: Path) -> PullResult:
    listing = datasync.remote_listing(session, [_absolute(project, p) for p in paths] or
                                      [project.output_dir, run_paths(project).train_log])
    checkpoint = None
    if paths:
        chosen = sorted(listing)
    else:
        under = {posixpath.relpath(p, project.output_dir): p for p in listing if p.startswith(project.output_dir.rstrip("/") + "/")}
        checkpoint = latest_complete_checkpoint(under)
        chosen = [under[rel] for rel in default_selection(under)] + [p for p in listing if p not in under.values()]
    if not chosen:
        raise UserError(f"Nothing to pull: no such files on the pod ({', '.join(paths) or project.output_dir}).")
    wanted = [Wanted(p, target / _local_rel(project, p), listing[p][0], listing[p][1] / 1e9) for p in chosen]
    report.step(f"downloading {len(wanted)} file(s) to {target} over SSH")
    progress = _ByteProgress(report, len(wanted), sum(w.size for w in wanted))
    files = sent = skipped = 0
    for item in wanted:
        got = _sftp_get(session, item, progress.add)
        if got is None:
            skipped += 1
        else:
            files, sent = files + 1, sent + got
    return PullResult(files, sent, skipped, target, "ssh", checkpoint)


def _sftp_get(session: PodShell, item: Wanted, on_bytes) -> int | None:
    """Download one file; a `.part` left by an interrupted pull of the same file is continued."""
    local = item.local
    if local.is_file() and local.stat().st_size == item.size and _same_mtime(local, item.mtime):
        return None
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(local.name + ".part")
    marker = local.with_name(local.name + ".part.source")
    stamp = f"{item.size}:{item.mtime}"
    start = partial.stat().st_size if partial.is_file() and _read(marker) == stamp else 0
    if start == 0 or start > item.size:
        start = 0
        partial.write_bytes(b"")
        marker.write_text(stamp)
    got = 0
    with session.sftp().open(item.remote, "rb") as remote, open(partial, "ab") as out:
        remote.seek(start)
        remote.prefetch(item.size)
        while chunk := remote.read(_CHUNK):
            out.write(chunk)
            got += len(chunk)
            on_bytes(len(chunk))
    if partial.stat().st_size != item.size:
        raise UserError(f"{item.remote} changed while it was pulled; run `podreconcile pull` again.")
    os.replace(partial, local)
    marker.unlink(missing_ok=True)
    if item.mtime is not None:
        os.utime(local, (item.mtime, item.mtime))
    return got


def _remote_files(session: PodShell, folder: str) -> list[str]:
    listing = datasync.remote_listing(session, [folder])
    return [posixpath.relpath(p, folder) for p in listing]


# ---- helpers ----

def _absolute(project, path: str) -> str:
    """A PATH argument as a path on the pod: absolute as given, else relative to the run's output dir."""
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(project.output_dir, path))


def _local_rel(project, remote: str) -> str:
    """Where a pulled file goes under the target: relative to the output dir, the log under logs/,
    anything else relative to the volume's mount."""
    if remote == run_paths(project).train_log:
        return "logs/train.log"
    out = project.output_dir.rstrip("/") + "/"
    if remote.startswith(out):
        return remote[len(out):]
    return posixpath.relpath(remote, project.mount)


def _same_mtime(local: Path, mtime: float | None) -> bool:
    return mtime is None or abs(local.stat().st_mtime - mtime) < 1e-3


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


class _ByteProgress:
    """Byte counts from the transfer as apply's progress reports (the renderer draws them on a terminal)."""

    def __init__(self, report, files: int, total: int) -> None:
        self.report, self.files, self.total = report, files, max(total, 1)
        self.done, self.started, self.last, self.lock = 0, time.monotonic(), 0.0, threading.Lock()

    def add(self, count: int) -> None:
        with self.lock:
            self.done += count
            now = time.monotonic()
            if now - self.last < 0.2 and self.done < self.total:
                return  # at most five redraws a second
            self.last = now
            rate = self.done / (now - self.started) if now > self.started else 0.0
            eta = (self.total - self.done) / rate if rate else None
            self.report.transfer(datasync.Progress(0, self.files, self.done, self.total, rate, eta))


class _Silent:
    def step(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def waiting(self, message: str) -> None: ...
    def transfer(self, progress) -> None: ...
