"""The pure rules of reaching a volume through RunPod's S3 API, and the settings that feed them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core.spec.settings import Settings
from podreconcile.core.volume_s3 import (
    DEFAULT_ENDPOINT_TEMPLATE,
    S3Credentials,
    S3Reason,
    endpoint_for,
    multipart_etag,
    s3_route,
)

KEYS = S3Credentials("user_abc", "rps_SECRET")


@pytest.mark.parametrize(("credentials", "volume", "data_center", "reason"), [
    (KEYS, "vol1", "EU-RO-1", S3Reason.AVAILABLE),
    (KEYS, "vol1", "eu-ro-1", S3Reason.AVAILABLE),
    (None, "vol1", "EU-RO-1", S3Reason.NO_KEYS),
    (KEYS, "vol1", "CA-MTL-1", S3Reason.DATA_CENTER_WITHOUT_S3),
    (None, "vol1", "CA-MTL-1", S3Reason.DATA_CENTER_WITHOUT_S3),
    (KEYS, None, "EU-RO-1", S3Reason.NO_NETWORK_VOLUME),
    (KEYS, "vol1", None, S3Reason.NO_NETWORK_VOLUME),
])
def test_route_decision(credentials, volume, data_center, reason):
    route = s3_route(credentials, volume, data_center)
    assert route.reason is reason
    assert route.available == (reason is S3Reason.AVAILABLE)
    assert (route.endpoint is not None) == route.available
    assert route.explain().startswith("through" if route.available else "over SSH")


def test_endpoint_is_the_template_with_the_lower_case_data_center():
    assert endpoint_for(DEFAULT_ENDPOINT_TEMPLATE, "EUR-IS-1") == "https://s3api-eur-is-1.runpod.io"
    assert endpoint_for("http://127.0.0.1:9000/{datacenter}", "US-KS-2") == "http://127.0.0.1:9000/us-ks-2"


@given(st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=5))
def test_multipart_etag_is_md5_of_part_md5s_with_the_count(parts):
    digests = [hashlib.md5(p).digest() for p in parts]
    etag = multipart_etag(digests)
    assert etag == hashlib.md5(b"".join(digests)).hexdigest() + f"-{len(parts)}"


def test_credentials_never_show_the_secret():
    assert "SECRET" not in repr(KEYS) and "SECRET" not in str(KEYS)


@pytest.mark.parametrize(("values", "expected"), [
    ({"RUNPOD_S3_ACCESS_KEY": "user_a", "RUNPOD_S3_SECRET_KEY": "rps_b"}, ("user_a", "rps_b")),
    ({"AWS_ACCESS_KEY_ID": "user_a", "AWS_SECRET_ACCESS_KEY": "rps_b"}, ("user_a", "rps_b")),
    ({"RUNPOD_S3_ACCESS_KEY": "user_a", "RUNPOD_S3_SECRET_KEY": "rps_b",
      "AWS_ACCESS_KEY_ID": "user_c", "AWS_SECRET_ACCESS_KEY": "rps_d"}, ("user_a", "rps_b")),
    ({"AWS_ACCESS_KEY_ID": "AKIAREALAWSKEY", "AWS_SECRET_ACCESS_KEY": "aws"}, None),  # never sent to RunPod
    ({"RUNPOD_S3_ACCESS_KEY": "user_a", "RUNPOD_S3_SECRET_KEY": ""}, None),
    ({}, None),
])
def test_settings_read_the_s3_key_pair(values, expected):
    credentials = Settings(values).s3_credentials
    assert (credentials and (credentials.access_key, credentials.secret_key)) == expected


def test_settings_endpoint_template_defaults_to_runpods():
    assert Settings({}).s3_endpoint_template == DEFAULT_ENDPOINT_TEMPLATE
    assert Settings({"RUNPOD_S3_ENDPOINT_URL": "http://x/{datacenter}"}).s3_endpoint_template == "http://x/{datacenter}"
