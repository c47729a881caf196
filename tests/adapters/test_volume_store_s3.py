"""The S3 VolumeStore adapter against the sandbox's S3 API (real boto3, real HTTP, the volume's folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from podreconcile.adapters.volume_s3 import S3VolumeStore, open_volume_store
from podreconcile.core.errors import TemporaryError, UserError
from podreconcile.core.ports import NotFoundError, ObjectTooLarge, UploadItem
from podreconcile.core.spec.settings import Settings
from podreconcile.core.volume_s3 import S3Credentials, S3Reason, s3_route
from podreconcile.sandbox import daemon
from tests.s3_helpers import create_volume, s3_exports

pytestmark = pytest.mark.e2e

MB = 1 << 20
PART = 5 * MB


def store_for(sandbox, volume: str, secret: str | None = None, part_size: int = PART) -> S3VolumeStore:
    settings = Settings(s3_exports(sandbox.running))
    credentials = settings.s3_credentials
    if secret:
        credentials = S3Credentials(credentials.access_key, secret)
    route = s3_route(credentials, volume, "EU-RO-1", settings.s3_endpoint_template)
    return open_volume_store(route, credentials, part_size=part_size)


def calls(sandbox, operation: str) -> int:
    return daemon.admin(sandbox.running, "calls", {}).get(f"s3.{operation}", 0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for i in range(300):
        (root / "small" / f"{i % 10}").mkdir(parents=True, exist_ok=True)
        (root / "small" / f"{i % 10}" / f"f{i}.txt").write_bytes(f"sample {i}\n".encode() * (i + 1))
    for name in ("a.bin", "b.bin"):
        (root / name).write_bytes(os.urandom(20 * MB))
    return root


def items_of(root: Path, prefix: str) -> list[UploadItem]:
    return [UploadItem(p, prefix + p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]


def test_uploads_all_then_nothing_and_downloads_byte_identical(sandbox, dataset, tmp_path):
    volume = create_volume(sandbox.running, name="adapter-upload")
    store = store_for(sandbox, volume)
    sent = []
    first = store.upload(items_of(dataset, "data/"), on_bytes=sent.append)
    assert (first.files, first.skipped) == (302, 0) and sum(sent) == first.bytes
    listing = {o.key: o for o in store.list("data/")}
    assert len(listing) == 302 and listing["data/a.bin"].size == 20 * MB
    assert listing["data/a.bin"].etag.endswith("-4")  # four parts of 5 MB

    puts, parts = calls(sandbox, "PutObject"), calls(sandbox, "UploadPart")
    second = store.upload(items_of(dataset, "data/"), remote=listing)
    assert (second.files, second.bytes, second.skipped) == (0, 0, 302)
    assert (calls(sandbox, "PutObject"), calls(sandbox, "UploadPart")) == (puts, parts)

    wanted = [("data/a.bin", tmp_path / "a.bin"), ("data/b.bin", tmp_path / "b.bin"),
              ("data/small/3/f123.txt", tmp_path / "small" / "f123.txt")]
    got = store.download(wanted)
    assert got.files == 3
    for key, local in wanted:
        assert local.read_bytes() == (dataset / key.removeprefix("data/")).read_bytes()
    assert store.download(wanted).skipped == 3


def test_an_interrupted_download_continues_from_its_partial_file(sandbox, dataset, tmp_path):
    volume = create_volume(sandbox.running, name="adapter-download")
    store = store_for(sandbox, volume)
    store.upload([UploadItem(dataset / "b.bin", "b.bin")])
    etag = store.list("b.bin")[0].etag
    dest = tmp_path / "b.bin"
    (tmp_path / "b.bin.part").write_bytes((dataset / "b.bin").read_bytes()[: 7 * MB])
    (tmp_path / "b.bin.part.etag").write_text(etag)
    report = store.download([("b.bin", dest)])
    assert report.bytes == 13 * MB
    assert dest.read_bytes() == (dataset / "b.bin").read_bytes()
    assert not (tmp_path / "b.bin.part").exists()


def test_a_killed_multipart_upload_resumes_without_sending_its_parts_again(sandbox, dataset):
    volume = create_volume(sandbox.running, name="adapter-resume")
    env = {**os.environ, **s3_exports(sandbox.running), "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from podreconcile.adapters.volume_s3 import open_volume_store
        from podreconcile.core.ports import UploadItem
        from podreconcile.core.spec.settings import Settings
        from podreconcile.core.volume_s3 import s3_route
        settings = Settings(dict(os.environ))
        route = s3_route(settings.s3_credentials, {volume!r}, "EU-RO-1", settings.s3_endpoint_template)
        store = open_volume_store(route, settings.s3_credentials, part_size={PART})
        store.upload([UploadItem(Path({str(dataset / 'a.bin')!r}), "a.bin")], on_bytes=lambda n: os._exit(9))
    """)
    assert subprocess.run([sys.executable, "-c", killed], env=env, timeout=120, check=False).returncode == 9
    store = store_for(sandbox, volume)
    assert store.list("a.bin") == []  # nothing complete yet
    parts_before = calls(sandbox, "UploadPart")
    report = store.upload([UploadItem(dataset / "a.bin", "a.bin")])
    assert report.files == 1 and report.bytes <= 15 * MB
    assert calls(sandbox, "UploadPart") - parts_before <= 3
    assert (sandbox.home / "volumes" / volume / "a.bin").read_bytes() == (dataset / "a.bin").read_bytes()
    assert not list((sandbox.home / "volumes" / volume / ".s3compat_uploads").glob("*/upload.json"))


def test_small_reads_ranges_and_tails(sandbox):
    volume = create_volume(sandbox.running, name="adapter-read")
    log = sandbox.home / "volumes" / volume / "logs" / "current.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    (sandbox.home / "volumes" / volume / "empty.txt").write_bytes(b"")
    store = store_for(sandbox, volume)
    assert store.read("logs/current.log", 10_000).startswith(b"line 0\n")
    with pytest.raises(ObjectTooLarge):
        store.read("logs/current.log", 100)
    assert store.read_range("logs/current.log", 7, 7) == b"line 1\n"
    assert store.read_tail("logs/current.log", 8) == b"line 99\n"
    assert store.read_tail("empty.txt", 8) == b"" and store.read_range("logs/current.log", 10**6, 5) == b""
    with pytest.raises(NotFoundError):
        store.read("logs/missing.log", 100)
    assert [o.key for o in store.list("logs/")] == ["logs/current.log"]


def test_errors_are_translated_once(sandbox):
    volume = create_volume(sandbox.running, name="adapter-errors")
    with pytest.raises(UserError, match="RUNPOD_S3_SECRET_KEY") as refused:
        store_for(sandbox, volume, secret="rps_WRONG").list("")
    assert "rps_WRONG" not in str(refused.value)
    store = store_for(sandbox, volume)
    sandbox.cli("fault", "s3.ListObjectsV2", "--times", "2", "--error", "http-502")
    assert store.list("") == []  # botocore's bounded retries ride out two 502s
    sandbox.cli("fault", "s3.ListObjectsV2", "--times", "6", "--error", "http-502")
    with pytest.raises(TemporaryError):
        store.list("")
    sandbox.cli("fault", "s3.ListObjectsV2", "--times", "2", "--error", "same-next-token")
    with pytest.raises(TemporaryError, match="computing checksums"):
        store.list("")
    with pytest.raises(NotFoundError):
        store_for(sandbox, create_volume(sandbox.running, "US-KS-2", "foreign")).check()


def test_the_route_says_why_a_volume_is_not_reached_through_s3(sandbox):
    settings = Settings(s3_exports(sandbox.running))
    assert s3_route(settings.s3_credentials, "v", "CA-MTL-1").reason is S3Reason.DATA_CENTER_WITHOUT_S3
    assert s3_route(None, "v", "EU-RO-1").reason is S3Reason.NO_KEYS
