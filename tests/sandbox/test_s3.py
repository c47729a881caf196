"""The sandbox's S3 API for network volumes, driven by the unmodified boto3 as RunPod's docs show it."""

from __future__ import annotations

import os
import stat

import pytest
import requests
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
)

from podreconcile.sandbox import daemon
from podreconcile.sandbox.s3.service import PUT_LIMIT_ENV
from tests.helpers import ssh_run, wait_for_ssh_port
from tests.s3_helpers import boto3_client, create_volume, s3_exports
from tests.sandbox.test_sdk import make_pod

pytestmark = pytest.mark.e2e


def code(error: pytest.ExceptionInfo) -> str:
    return error.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def volume(sandbox) -> str:
    return create_volume(sandbox.running)


@pytest.fixture
def s3(sandbox):
    return boto3_client(sandbox.running)


def test_up_prints_the_key_pair_and_an_endpoint_template_and_keeps_the_keys_private(sandbox):
    env = s3_exports(sandbox.running)
    assert env["RUNPOD_S3_ACCESS_KEY"].startswith("user_") and env["RUNPOD_S3_SECRET_KEY"].startswith("rps_")
    assert "{datacenter}" in env["RUNPOD_S3_ENDPOINT_URL"]
    assert stat.S_IMODE(os.stat(sandbox.home / "s3-keys.json").st_mode) == 0o600


def test_objects_round_trip_with_ranges_copies_and_deletes(s3, volume):
    s3.put_object(Bucket=volume, Key="dir/a b+c.txt", Body=b"0123456789")
    head = s3.head_object(Bucket=volume, Key="dir/a b+c.txt")
    assert head["ContentLength"] == 10 and head["ETag"] == '"781e5e245d69b566979b86e28d23f2c7"'
    assert s3.get_object(Bucket=volume, Key="dir/a b+c.txt", Range="bytes=2-4")["Body"].read() == b"234"
    assert s3.get_object(Bucket=volume, Key="dir/a b+c.txt", Range="bytes=-3")["Body"].read() == b"789"
    s3.copy_object(Bucket=volume, Key="copy/x.txt", CopySource={"Bucket": volume, "Key": "dir/a b+c.txt"})
    assert s3.get_object(Bucket=volume, Key="copy/x.txt")["Body"].read() == b"0123456789"
    s3.delete_object(Bucket=volume, Key="copy/x.txt")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=volume, Key="copy/x.txt")
    assert code(missing) == "NoSuchKey"
    with pytest.raises(ClientError) as outside:
        s3.get_object(Bucket=volume, Key="../../s3-keys.json")
    assert code(outside) in ("InvalidArgument", "NoSuchKey")


def test_buckets_are_the_volumes_of_the_endpoints_data_center(sandbox, s3, volume):
    elsewhere = create_volume(sandbox.running, "US-KS-2", "elsewhere")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert volume in names and elsewhere not in names
    s3.head_bucket(Bucket=volume)
    with pytest.raises(ClientError) as foreign:
        s3.head_bucket(Bucket=elsewhere)
    assert foreign.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    boto3_client(sandbox.running, "US-KS-2").head_bucket(Bucket=elsewhere)


def test_a_wrong_secret_key_or_region_is_refused(sandbox, volume):
    with pytest.raises(ClientError) as wrong:
        boto3_client(sandbox.running, secret="rps_" + "X" * 40).list_objects_v2(Bucket=volume)
    assert code(wrong) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as region:
        boto3_client(sandbox.running, region="US-KS-2").list_objects_v2(Bucket=volume)
    assert code(region) == "AuthorizationHeaderMalformed"


def test_listings_include_empty_directories_and_page_with_tokens(sandbox, s3):
    volume = create_volume(sandbox.running, name="listing")
    root = sandbox.home / "volumes" / volume
    (root / "empty" / "deeper").mkdir(parents=True)
    (root / "data").mkdir()
    for i in range(7):
        (root / "data" / f"f{i}").write_bytes(b"x" * i)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=volume)["Contents"]]
    assert keys == [f"data/f{i}" for i in range(7)] + ["empty/deeper/"]
    top = s3.list_objects_v2(Bucket=volume, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["data/", "empty/"]
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=volume, Delimiter="/", Prefix="data/", PaginationConfig={"PageSize": 4}))
    assert [o["Key"] for p in v1 for o in p["Contents"]] == [f"data/f{i}" for i in range(7)]
    os.symlink("/etc/hostname", root / "data" / "outside")
    assert "data/outside" not in [o["Key"] for o in s3.list_objects_v2(Bucket=volume)["Contents"]]
    with pytest.raises(ClientError) as escape:
        s3.get_object(Bucket=volume, Key="data/outside")
    assert code(escape) == "AccessDenied"
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=volume, Prefix="data/", PaginationConfig={"PageSize": 3}))
    assert [len(p["Contents"]) for p in pages] == [3, 3, 1]
    assert [o["Size"] for p in pages for o in p["Contents"]] == list(range(7))


def test_multipart_upload_lists_its_parts_and_completes(s3, volume):
    upload = s3.create_multipart_upload(Bucket=volume, Key="big/model.bin")["UploadId"]
    etags = [s3.upload_part(Bucket=volume, Key="big/model.bin", UploadId=upload, PartNumber=n, Body=bytes([n]) * 1000)["ETag"]
             for n in (1, 2, 3)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=volume)["Uploads"]] == [upload]
    parts = s3.list_parts(Bucket=volume, Key="big/model.bin", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(n, 1000, e) for n, e in zip((1, 2, 3), etags)]
    assert all(not o["Key"].startswith(".s3compat") for o in s3.list_objects_v2(Bucket=volume).get("Contents", []))
    done = s3.complete_multipart_upload(Bucket=volume, Key="big/model.bin", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2, 3), etags)]})
    assert done["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=volume, Key="big/model.bin")["Body"].read() == b"\x01" * 1000 + b"\x02" * 1000 + b"\x03" * 1000
    assert s3.list_multipart_uploads(Bucket=volume).get("Uploads", []) == []
    aborted = s3.create_multipart_upload(Bucket=volume, Key="big/other.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket=volume, Key="big/other.bin", UploadId=aborted)
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket=volume, Key="big/other.bin", UploadId=aborted)
    assert code(gone) == "NoSuchUpload"


def test_unsupported_operations_answer_not_implemented(sandbox, s3, volume):
    for call in (
        lambda: s3.delete_objects(Bucket=volume, Delete={"Objects": [{"Key": "x"}]}),
        lambda: s3.create_bucket(Bucket="newbucket"),
        lambda: s3.get_bucket_versioning(Bucket=volume),
        lambda: s3.get_object_acl(Bucket=volume, Key="dir/a b+c.txt"),
        lambda: s3.get_object_tagging(Bucket=volume, Key="dir/a b+c.txt"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert code(refused) == "NotImplemented"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": volume, "Key": "dir/a b+c.txt"})
    assert requests.get(url, timeout=10).status_code == 501


def test_files_written_on_a_pod_are_objects_and_objects_are_files(sandbox, sdk, ssh_key, s3):
    volume = create_volume(sandbox.running, name="shared-with-pod")
    pod = make_pod(sdk, network_volume_id=volume, cloud_type="SECURE", volume_in_gb=0)
    try:
        port = wait_for_ssh_port(sdk, pod["id"])
        assert ssh_run(port, ssh_key, "mkdir -p /workspace/run && echo from-pod > /workspace/run/log.txt")[0] == 0
        assert s3.get_object(Bucket=volume, Key="run/log.txt")["Body"].read() == b"from-pod\n"
        s3.put_object(Bucket=volume, Key="data/in.txt", Body=b"from-s3")
        assert ssh_run(port, ssh_key, "cat /workspace/data/in.txt") == (0, "from-s3")
    finally:
        sdk.terminate_pod(pod["id"])


def test_a_502_fault_fails_the_next_calls_and_calls_are_counted(sandbox, volume):
    before = daemon.admin(sandbox.running, "calls", {}).get("s3.PutObject", 0)
    sandbox.cli("fault", "s3.PutObject", "--times", "1", "--error", "http-502")
    with pytest.raises(ClientError) as bad_gateway:
        boto3_client(sandbox.running, attempts=1).put_object(Bucket=volume, Key="f", Body=b"1")
    assert bad_gateway.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    sandbox.cli("fault", "s3", "--times", "2", "--error", "http-502")
    boto3_client(sandbox.running, attempts=5).put_object(Bucket=volume, Key="f", Body=b"2")  # botocore retries 502s
    calls = daemon.admin(sandbox.running, "calls", {})
    assert calls["s3.PutObject"] == before + 4


def test_a_data_center_without_the_s3_api_has_no_endpoint(sandbox):
    volume = create_volume(sandbox.running, "CA-MTL-1", "no-s3")
    with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
        boto3_client(sandbox.running, "CA-MTL-1", attempts=1).head_bucket(Bucket=volume)


def test_put_object_is_refused_from_the_limit_up_and_multipart_takes_over(tmp_path, monkeypatch):
    limit = 6 << 20  # above s3transfer's smallest part (5 MiB), far below RunPod's 500 MB
    monkeypatch.setenv(PUT_LIMIT_ENV, str(limit))
    home = tmp_path / "home"
    running = daemon.up(home, boot_delay=0.2)
    try:
        volume = create_volume(running)
        s3 = boto3_client(running)
        s3.put_object(Bucket=volume, Key="small", Body=b"x" * (limit - 1))
        with pytest.raises(ClientError) as too_large:
            s3.put_object(Bucket=volume, Key="large", Body=b"x" * limit)
        assert code(too_large) == "EntityTooLarge" and "6 MB" in too_large.value.response["Error"]["Message"]
        from boto3.s3.transfer import TransferConfig

        source = tmp_path / "large"
        source.write_bytes(os.urandom(13 << 20))
        s3.upload_file(str(source), volume, "large", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        assert (home / "volumes" / volume / "large").read_bytes() == source.read_bytes()
    finally:
        daemon.down(home)
