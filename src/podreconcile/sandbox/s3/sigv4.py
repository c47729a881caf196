"""AWS Signature Version 4, checked the way an S3 server checks it (header auth only).

RunPod's S3 API takes SigV4 with its S3 key pair, region = the data center ID, and tolerates clocks off
by up to an hour (shared/runpod-facts.md section 11). Presigned URLs (signature in the query) are not
supported there, so `authorize` reports them as such rather than checking them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from .errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 3600
UNSIGNED = "UNSIGNED-PAYLOAD"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


def _refused(code: str, message: str, status: int = 403) -> S3Error:
    """A refused signature (403 unless said otherwise)."""
    return S3Error(code, message, status)


@dataclass(frozen=True)
class Request:
    """What the signature covers: method, raw path and query as sent, headers (any case)."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def authorize(request: Request, access_key: str, secret_key: str, region: str, now: datetime | None = None) -> str:
    """Check the request's signature; return the payload hash it declares (hex SHA-256 or UNSIGNED-PAYLOAD).

    Raises S3Error with S3's code for a missing, malformed, foreign, stale or wrong signature.
    """
    if "X-Amz-Signature" in request.raw_query or "X-Amz-Credential" in request.raw_query:
        raise _refused("NotImplemented", "Presigned URLs are not supported.", 501)
    header = request.header("authorization")
    if not header:
        raise _refused("AccessDenied", "Access Denied")
    match = _AUTH.match(header.strip())
    if not match:
        raise _refused("AuthorizationHeaderMalformed", "The authorization header is malformed.", 400)
    key_id, date, scope_region, service, terminal = _credential(match["credential"])
    if not hmac.compare_digest(key_id, access_key):
        raise _refused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    if scope_region.lower() != region.lower() or service != "s3" or terminal != "aws4_request":
        raise _refused("AuthorizationHeaderMalformed",
                        f"The authorization header is malformed; the region '{scope_region}' is wrong; expecting '{region}'", 400)
    amz_date = request.header("x-amz-date") or ""
    _check_clock(amz_date, date, now or datetime.now(UTC))
    payload_hash = request.header("x-amz-content-sha256")
    if not payload_hash:
        raise _refused("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400)
    signed = match["signed"].split(";")
    if "host" not in signed:
        raise _refused("AccessDenied", "The host header must be signed.")
    canonical = canonical_request(request, signed, payload_hash)
    scope = f"{date}/{scope_region}/s3/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret_key, date, scope_region), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise _refused("SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you provided. "
                        "Check your key and signing method.")
    return payload_hash


def canonical_request(request: Request, signed: list[str], payload_hash: str) -> str:
    headers = "".join(f"{name}:{_trim(request.header(name) or '')}\n" for name in signed)
    return "\n".join([
        request.method, request.raw_path or "/", canonical_query(request.raw_query), headers, ";".join(signed), payload_hash,
    ])


def canonical_query(raw_query: str) -> str:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signing_key(secret_key: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise _refused("AuthorizationHeaderMalformed", "The authorization header is malformed; the Credential is mal-formed.", 400)
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _check_clock(amz_date: str, scope_date: str, now: datetime) -> None:
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _refused("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None
    if not amz_date.startswith(scope_date):
        raise _refused("AuthorizationHeaderMalformed", "The authorization header is malformed; the date does not match x-amz-date.", 400)
    if abs((now - when).total_seconds()) > MAX_SKEW_SECONDS:
        raise _refused("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")


def _trim(value: str) -> str:
    return " ".join(value.strip().split())
