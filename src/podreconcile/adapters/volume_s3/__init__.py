"""A network volume through RunPod's S3 API (boto3): the `VolumeStore` of core/ports.py.

`open_volume_store(route, credentials)` makes one for an `S3Route` that `core.volume_s3.s3_route`
found available. Errors come out as core's (see client.translated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from podreconcile.core.ports import (
    ObjectTooLarge,
    RemoteObject,
    TransferReport,
    UploadItem,
)
from podreconcile.core.volume_s3 import PART_SIZE, S3Credentials, S3Route

from .client import make_client, ranged_get, translated
from .downloads import Downloader
from .etags import local_etags, part_size_for
from .uploads import Uploader

WORKERS = 8


class S3VolumeStore:
    """One network volume (the bucket) at one data center's endpoint."""

    def __init__(self, credentials: S3Credentials, endpoint: str, data_center: str, volume_id: str,
                 part_size: int = PART_SIZE, workers: int = WORKERS) -> None:
        self.volume_id = volume_id
        self.part_size, self.workers = part_size, workers
        with translated(f"set up the S3 client for {data_center}", volume_id):  # e.g. a broken ~/.aws/config
            self._client = make_client(credentials, endpoint, data_center)

    def check(self) -> None:
        """HeadBucket: raises NotFoundError when this endpoint does not serve the volume, UserError for bad keys."""
        with translated(f"check volume {self.volume_id}", self.volume_id):
            self._client.head_bucket(Bucket=self.volume_id)

    def list(self, prefix: str) -> list[RemoteObject]:
        found = []
        with translated(f"list {prefix or '/'}", self.volume_id):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.volume_id, Prefix=prefix)
            for page in pages:
                found.extend(
                    RemoteObject(o["Key"], o["Size"], o["ETag"].strip('"'), o["LastModified"].timestamp())
                    for o in page.get("Contents", [])
                )
        return found

    def read(self, key: str, max_bytes: int) -> bytes:
        with translated(f"read {key}", self.volume_id):
            answer = self._client.get_object(Bucket=self.volume_id, Key=key)
            if answer["ContentLength"] > max_bytes:
                answer["Body"].close()
                raise ObjectTooLarge(f"{key} on volume {self.volume_id} is {answer['ContentLength']} bytes, "
                                     f"more than the {max_bytes} read here.")
            return answer["Body"].read()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return self._ranged(key, f"bytes={start}-{start + length - 1}")

    def read_tail(self, key: str, max_bytes: int) -> bytes:
        return self._ranged(key, f"bytes=-{max_bytes}") if max_bytes > 0 else b""

    def upload(self, items: Iterable[UploadItem], remote: dict[str, RemoteObject] | None = None,
               on_bytes: Callable[[int], None] | None = None) -> TransferReport:
        return Uploader(self._client, self.volume_id, self.part_size, self.workers).run(items, remote, on_bytes)

    def download(self, items: Iterable[tuple[str, Path]], on_bytes: Callable[[int], None] | None = None
                 ) -> TransferReport:
        return Downloader(self._client, self.volume_id, self.part_size, self.workers).run(items, on_bytes)

    def etags_of(self, path: Path) -> set[str]:
        return local_etags(path, part_size_for(path.stat().st_size, self.part_size))

    def _ranged(self, key: str, byte_range: str) -> bytes:
        with translated(f"read {key}", self.volume_id):
            return ranged_get(self._client, self.volume_id, key, byte_range)


def open_volume_store(route: S3Route, credentials: S3Credentials, **options) -> S3VolumeStore:
    """The store for an available route (`route.available`)."""
    if not route.available or route.endpoint is None:
        raise ValueError(f"no S3 route to this volume: {route.explain()}")
    return S3VolumeStore(credentials, route.endpoint, route.data_center, route.volume_id, **options)
