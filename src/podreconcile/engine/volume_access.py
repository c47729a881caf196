"""The spec's network volume without a pod: whether RunPod's S3 API reaches it, and the store if so.

The route is decided by `core.volume_s3.s3_route` on facts only (the key pair, the volume's data
center). The store (the boto3 adapter) is made on first use, once per command run, by the opener
that cli/wiring.py hands in; without an opener the volume is reached over SSH only.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable

from podreconcile.core.observation import VolumeFacts
from podreconcile.core.ports import VolumeStore
from podreconcile.core.volume_s3 import S3Credentials, S3Route, s3_route

Opener = Callable[[S3Route, S3Credentials], VolumeStore]


class VolumeAccess:
    def __init__(self, project, opener: Opener | None = None) -> None:
        self.project = project
        self._opener = opener
        self._store: VolumeStore | None = None

    def route(self, volumes: Iterable[VolumeFacts] | None) -> S3Route:
        """How the spec's network volume is reached: through S3, or over SSH and why."""
        volume_id = self.project.spec.pod.network_volume
        data_center = next((v.data_center_id for v in volumes or () if v.id == volume_id), None)
        credentials = self.project.settings.s3_credentials if self._opener else None
        return s3_route(credentials, volume_id, data_center, self.project.settings.s3_endpoint_template)

    def store(self, volumes: Iterable[VolumeFacts] | None) -> VolumeStore | None:
        """The volume's store when the route is available, else None (the SSH path)."""
        route = self.route(volumes)
        if not route.available or self._opener is None:
            return None
        if self._store is None:
            self._store = self._opener(route, self.project.settings.s3_credentials)
        return self._store


def volume_key(mount: str, path: str) -> str | None:
    """The S3 key of a path on the pod: the path relative to the volume's mount ("" for the mount
    itself), or None when the path is not on the volume."""
    rel = posixpath.relpath(posixpath.normpath(path), posixpath.normpath(mount))
    if rel == ".":
        return ""
    if rel == ".." or rel.startswith("../"):
        return None
    return rel


def volume_prefix(mount: str, folder: str) -> str | None:
    """The listing prefix of a folder on the volume (ends in `/`, or "" for the whole volume)."""
    key = volume_key(mount, folder)
    if key is None:
        return None
    return key + "/" if key else ""
