"""The spec's data to a network volume through RunPod's S3 API: no pod runs, so no GPU time is paid.

What is missing or changed is found with one listing per `data:` target, compared by size and
ETag. The local files' ETags are kept in `.podreconcile/<name>/s3-data.json` (size, mtime, ETags per
file), so a second check hashes nothing: a no-op costs one listing per target. Files go up in
parallel through the store (multipart above its part size, an interrupted multipart upload resumed
part by part); files that arrived before an interruption are not sent again.

The GPU time an upload through S3 saves is the time the pod would have run while the same bytes
went over SSH: estimated from the last measured upload rate (`upload-rate.json`), else an assumed one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from podreconcile.core.ports import RemoteObject, UploadItem, VolumeStore
from podreconcile.engine import datasync
from podreconcile.engine.datasync import DataFile, Progress, UploadResult
from podreconcile.engine.volume_access import volume_key

MANIFEST_NAME = "s3-data.json"
RATE_NAME = "upload-rate.json"
ASSUMED_RATE_BPS = 25e6  # a typical uplink to a RunPod data center; replaced by the first measurement
_MEASURABLE = 1 << 20  # smaller uploads are dominated by round trips and say little about the rate
_PROGRESS_INTERVAL = 0.2


@dataclass(frozen=True)
class S3DataDiff:
    send: tuple[DataFile, ...]
    keys: dict[str, str]  # pod path -> key on the volume, for every data file
    files_total: int
    bytes_total: int

    @property
    def bytes_to_send(self) -> int:
        return sum(f.size for f in self.send)


def data_diff(project, store: VolumeStore) -> S3DataDiff | None:
    """What of the spec's data the volume lacks; None when a target is not on the volume (SSH then)."""
    files = datasync.local_data(project.dir, project.spec.data)
    keys = {f.remote: volume_key(project.mount, f.remote) for f in files}
    roots = {item.to: volume_key(project.mount, item.to) for item in project.spec.data}
    if any(k is None for k in keys.values()) or any(k is None for k in roots.values()):
        return None
    remote: dict[str, RemoteObject] = {}
    for root in sorted(set(roots.values())):
        remote.update({o.key: o for o in store.list(root) if o.key == root or o.key.startswith(root + "/")})
    cache = _Manifest(project.state_file.folder / MANIFEST_NAME)
    send = tuple(f for f in files if not _same(f, remote.get(keys[f.remote]), store, cache))
    cache.save()
    return S3DataDiff(send, keys, len(files), sum(f.size for f in files))


def _same(data_file: DataFile, remote: RemoteObject | None, store: VolumeStore, cache: _Manifest) -> bool:
    if remote is None or remote.size != data_file.size:
        return False  # no hashing needed to know it must go
    return remote.etag in cache.etags(data_file, store)


def upload(project, store: VolumeStore, diff: S3DataDiff, progress=None) -> UploadResult:
    """Send what the diff found missing; returns what travelled, and records the rate."""
    tracker = _Tracker(diff, progress)
    started = time.monotonic()
    items = [UploadItem(f.local, diff.keys[f.remote]) for f in diff.send]
    report = store.upload(items, on_bytes=tracker.add)
    seconds = time.monotonic() - started
    record_rate(project, report.bytes, seconds)
    return UploadResult(report.files, report.bytes, seconds, "s3")


# ---- the rate behind the estimate of GPU time saved ----

def record_rate(project, sent: int, seconds: float) -> None:
    """Remember the upload rate of a transfer big enough to measure it (either path)."""
    if sent < _MEASURABLE or seconds <= 0:
        return
    path = project.state_file.folder / RATE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RATE_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"bytes_per_second": sent / seconds, "bytes": sent, "seconds": seconds}))
    os.replace(tmp, path)


def upload_rate(project) -> tuple[float, bool]:
    """(bytes per second, measured?): the last measured upload rate, else the assumed one."""
    try:
        rate = float(json.loads((project.state_file.folder / RATE_NAME).read_text())["bytes_per_second"])
    except (OSError, ValueError, KeyError, TypeError):
        return ASSUMED_RATE_BPS, False
    return (rate, True) if rate > 0 else (ASSUMED_RATE_BPS, False)


# ---- helpers ----

class _Manifest:
    """Local file -> [size, mtime_ns, ETags]: hashes are reused while size and mtime are unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text())
            self.files = raw["files"] if isinstance(raw.get("files"), dict) else {}
        except (OSError, ValueError, AttributeError):
            self.files = {}
        self.changed = False

    def etags(self, data_file: DataFile, store: VolumeStore) -> set[str]:
        key = str(data_file.local)
        entry = self.files.get(key)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [data_file.size, data_file.mtime_ns]:
            return set(entry[2])
        etags = store.etags_of(data_file.local)
        self.files[key] = [data_file.size, data_file.mtime_ns, sorted(etags)]
        self.changed = True
        return etags

    def save(self) -> None:
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "files": self.files}))
        os.replace(tmp, self.path)


class _Tracker:
    """Turns the store's byte counts into progress reports (at most five a second)."""

    def __init__(self, diff: S3DataDiff, progress) -> None:
        self.progress = progress
        self.total_files, self.total_bytes = len(diff.send), diff.bytes_to_send
        self.pending = Counter(f.size for f in diff.send)  # a small file is reported once, whole
        self.files = self.bytes = 0
        self.started = self.last = time.monotonic()
        self.lock = threading.Lock()

    def add(self, count: int) -> None:
        with self.lock:
            self.bytes += count
            if self.pending[count]:
                self.pending[count] -= 1
                self.files += 1
            now = time.monotonic()
            if self.progress is None or (now - self.last < _PROGRESS_INTERVAL and self.bytes < self.total_bytes):
                return
            self.last = now
            rate = self.bytes / (now - self.started) if now > self.started else 0.0
            eta = (self.total_bytes - self.bytes) / rate if rate else None
            self.progress(Progress(min(self.files, self.total_files), self.total_files, self.bytes,
                                   self.total_bytes, rate, eta))
