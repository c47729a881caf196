"""Downloads from a volume, in parallel and resumable.

Each file is written to `<name>.part` beside its destination, with the object's ETag in
`<name>.part.etag`; an interrupted download of an unchanged object continues with a Range request
from the partial file's size. A destination that already holds the object (same size and ETag) is
left alone. The finished file replaces the destination atomically.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from podreconcile.core.errors import TemporaryError
from podreconcile.core.ports import TransferReport

from .client import translated
from .etags import local_etags, part_size_for

_CHUNK = 1 << 20


class Downloader:
    def __init__(self, client, volume_id: str, part_size: int, workers: int) -> None:
        self.client, self.bucket = client, volume_id
        self.part_size, self.workers = part_size, workers
        self._lock = threading.Lock()
        self._tally = [0, 0, 0]

    def run(self, items: Iterable[tuple[str, Path]], on_bytes: Callable[[int], None] | None) -> TransferReport:
        notify = on_bytes or (lambda n: None)
        with ThreadPoolExecutor(self.workers) as pool:
            for future in [pool.submit(self._one, key, Path(dest), notify) for key, dest in items]:
                future.result()
        return TransferReport(*self._tally)

    def _count(self, files: int = 0, sent: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self._tally = [self._tally[0] + files, self._tally[1] + sent, self._tally[2] + skipped]

    def _one(self, key: str, dest: Path, notify) -> None:
        with translated(f"read {key}", self.bucket):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        size, etag = head["ContentLength"], head["ETag"].strip('"')
        if dest.is_file() and dest.stat().st_size == size and etag in local_etags(dest, part_size_for(size, self.part_size)):
            self._count(skipped=1)
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial, marker = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.etag")
        start = partial.stat().st_size if partial.is_file() and _read(marker) == etag else 0
        if start == 0 or start > size:
            start = 0
            partial.write_bytes(b"")
            marker.write_text(etag)
        got = self._fetch(key, partial, start, notify) if start < size else 0
        if partial.stat().st_size != size:
            raise TemporaryError(f"The download of {key} ended early; run it again to continue.")
        os.replace(partial, dest)
        marker.unlink(missing_ok=True)
        self._count(files=1, sent=got)

    def _fetch(self, key: str, partial: Path, start: int, notify) -> int:
        args = {"Bucket": self.bucket, "Key": key}
        if start:
            args["Range"] = f"bytes={start}-"
        got = 0
        with translated(f"download {key}", self.bucket):
            body = self.client.get_object(**args)["Body"]
            with open(partial, "ab") as out:
                for chunk in body.iter_chunks(_CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    notify(len(chunk))
        return got


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
