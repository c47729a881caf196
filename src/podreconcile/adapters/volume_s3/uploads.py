"""Uploads to a volume: small files in one PutObject each, in parallel; large ones in parts, resumed.

A multipart upload left by an interrupted run is found with ListMultipartUploads and its parts with
ListParts: parts whose size and MD5 match the local file's are not sent again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from podreconcile.core.ports import RemoteObject, TransferReport, UploadItem

from .client import translated
from .etags import local_etags, part_size_for

PART_WORKERS = 4


@dataclass
class _Tally:
    files: int = 0
    bytes: int = 0
    skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, files: int = 0, sent: int = 0, skipped: int = 0) -> None:
        with self.lock:
            self.files += files
            self.bytes += sent
            self.skipped += skipped


class Uploader:
    def __init__(self, client, volume_id: str, part_size: int, workers: int) -> None:
        self.client, self.bucket = client, volume_id
        self.part_size, self.workers = part_size, workers

    def run(self, items: Iterable[UploadItem], remote: dict[str, RemoteObject] | None,
            on_bytes: Callable[[int], None] | None) -> TransferReport:
        tally, notify = _Tally(), on_bytes or (lambda n: None)
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(self._one, item, (remote or {}).get(item.key), tally, notify) for item in items]
            for future in futures:
                future.result()
        return TransferReport(tally.files, tally.bytes, tally.skipped)

    def _one(self, item: UploadItem, existing: RemoteObject | None, tally: _Tally, notify) -> None:
        size = item.local.stat().st_size
        part_size = part_size_for(size, self.part_size)
        if existing is not None and existing.size == size:
            known = {item.etag} if item.etag else local_etags(item.local, part_size)
            if existing.etag in known:
                tally.add(skipped=1)
                return
        if size <= self.part_size:
            self._put(item, size, notify)
            tally.add(files=1, sent=size)
        else:
            tally.add(files=1, sent=self._multipart(item, size, part_size, notify))

    def _put(self, item: UploadItem, size: int, notify) -> None:
        with open(item.local, "rb") as body, translated(f"upload {item.key}", self.bucket):
            self.client.put_object(Bucket=self.bucket, Key=item.key, Body=body, ContentLength=size)
        notify(size)

    def _multipart(self, item: UploadItem, size: int, part_size: int, notify) -> int:
        """Upload the missing parts of `item` and complete; returns the bytes sent."""
        upload_id, done = self._resume_or_create(item.key)
        count = -(-size // part_size)
        sent = 0

        def part(number: int) -> tuple[int, str, int]:
            with open(item.local, "rb") as f:
                f.seek((number - 1) * part_size)
                data = f.read(part_size)
            md5 = hashlib.md5(data).hexdigest()
            if done.get(number) == (len(data), md5):
                return number, md5, 0
            with translated(f"upload part {number} of {item.key}", self.bucket):
                etag = self.client.upload_part(Bucket=self.bucket, Key=item.key, UploadId=upload_id,
                                               PartNumber=number, Body=data)["ETag"].strip('"')
            notify(len(data))
            return number, etag, len(data)

        with ThreadPoolExecutor(PART_WORKERS) as pool:
            results = list(pool.map(part, range(1, count + 1)))
        sent = sum(r[2] for r in results)
        parts = [{"PartNumber": number, "ETag": f'"{etag}"'} for number, etag, _ in results]
        with translated(f"complete the upload of {item.key}", self.bucket):
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=item.key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        return sent

    def _resume_or_create(self, key: str) -> tuple[str, dict[int, tuple[int, str]]]:
        """The newest unfinished upload of `key` with its parts (others are aborted), or a new one."""
        with translated(f"look for an interrupted upload of {key}", self.bucket):
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", [])
        ours = sorted((u for u in uploads if u["Key"] == key), key=lambda u: u["Initiated"])
        for stale in ours[:-1]:
            with translated(f"abort a stale upload of {key}", self.bucket):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=stale["UploadId"])
        if ours:
            upload_id = ours[-1]["UploadId"]
            return upload_id, self._parts(key, upload_id)
        with translated(f"start the upload of {key}", self.bucket):
            return self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"], {}

    def _parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        found: dict[int, tuple[int, str]] = {}
        with translated(f"list the uploaded parts of {key}", self.bucket):
            pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
            for page in pages:
                for part in page.get("Parts", []):
                    found[part["PartNumber"]] = (part["Size"], part["ETag"].strip('"'))
        return found
