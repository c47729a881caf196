"""The network volume's store for a command, and the data upload through it (apply and sync-data).

A failed S3 call is retried by the one policy (an upload resumes, so a retry sends only the rest).
"""

from __future__ import annotations

from podreconcile.core.errors import PermanentError
from podreconcile.core.ports import Provider, VolumeStore
from podreconcile.core.volume_s3 import S3Route
from podreconcile.engine import retry, volume_upload
from podreconcile.engine.datasync import UploadResult

UPLOAD_DEADLINE = 600.0


def store(project, conn, provider: Provider, volumes=None) -> tuple[S3Route, VolumeStore | None]:
    """The route to the spec's network volume and its store (None: the SSH path, `route` says why).
    `volumes`: the command's listing of them (listed here when the spec names a volume and they are not)."""
    if volumes is None and project.spec.pod.network_volume:
        _, volumes = retry.call(provider.account, deadline=60)
    return conn.volume.route(volumes), conn.volume.store(volumes)


def upload_data(project, volume: VolumeStore, report) -> UploadResult | None:
    """Upload what the volume lacks through S3; None when it holds every file already."""
    diff = retry.call(lambda: volume_upload.data_diff(project, volume), deadline=120)
    if diff is None:
        raise PermanentError("A data target is not on the network volume, so it cannot go through S3; "
                             "put every data `to` under pod.volume_mount_path.")
    if not diff.send:
        report.step(f"nothing to upload: the volume holds all {diff.files_total} data file(s)")
        return None
    report.step(f"uploading {len(diff.send)} of {diff.files_total} file(s), {diff.bytes_to_send} bytes "
                "through RunPod's S3 API (no pod needed)")
    result = retry.call(lambda: volume_upload.upload(project, volume, diff, report.transfer), deadline=UPLOAD_DEADLINE)
    rate = result.bytes_sent / result.seconds / 1e6 if result.seconds else 0
    report.info(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes in {result.seconds:.1f} s "
                f"({rate:.1f} MB/s, s3)")
    return result
