"""The sandbox's SigV4 check agrees with botocore's signer, and refuses what RunPod refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from podreconcile.sandbox.s3 import sigv4
from podreconcile.sandbox.s3.errors import S3Error

ACCESS, SECRET = "user_test", "rps_TESTSECRET"
URL = "http://127.0.0.1:9000/eu-ro-1/vol123/dir/a%20b%2Bc.txt?list-type=2&prefix=a%2Fb&max-keys=10"


def signed(url: str = URL, secret: str = SECRET, region: str = "EU-RO-1", method: str = "GET") -> sigv4.Request:
    request = AWSRequest(method=method, url=url, data=b"")
    S3SigV4Auth(Credentials(ACCESS, secret), "s3", region).add_auth(request)
    parts = urlsplit(request.url)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = parts.netloc
    return sigv4.Request(method, parts.path, parts.query, headers)


def refusal(request: sigv4.Request, **kwargs) -> str:
    with pytest.raises(S3Error) as refused:
        sigv4.authorize(request, ACCESS, SECRET, "EU-RO-1", **kwargs)
    return refused.value.code


def test_a_botocore_signature_is_accepted():
    assert sigv4.authorize(signed(), ACCESS, SECRET, "EU-RO-1") == signed().header("x-amz-content-sha256")


def test_a_wrong_secret_a_changed_query_or_another_region_is_refused():
    assert refusal(signed(secret="rps_OTHER")) == "SignatureDoesNotMatch"
    tampered = signed()
    tampered = sigv4.Request("GET", tampered.raw_path, tampered.raw_query.replace("max-keys=10", "max-keys=11"), tampered.headers)
    assert refusal(tampered) == "SignatureDoesNotMatch"
    assert refusal(signed(region="US-KS-2")) == "AuthorizationHeaderMalformed"


def test_clocks_may_be_off_by_up_to_an_hour():
    request = signed()
    now = datetime.now(UTC)
    sigv4.authorize(request, ACCESS, SECRET, "EU-RO-1", now=now + timedelta(minutes=55))
    assert refusal(request, now=now + timedelta(minutes=65)) == "RequestTimeTooSkewed"


def test_no_signature_and_presigned_urls():
    bare = sigv4.Request("GET", "/eu-ro-1/vol123", "", {"host": "127.0.0.1:9000"})
    assert refusal(bare) == "AccessDenied"
    presigned = sigv4.Request("GET", "/eu-ro-1/vol123/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", {})
    assert refusal(presigned) == "NotImplemented"
