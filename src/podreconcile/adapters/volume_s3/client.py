"""The one place that imports boto3/botocore: the client for one data center's endpoint, and the
translation of its errors into core's, once.

The client signs with region = the data center ID, addresses buckets by path (the volume ID is the
first path segment, which every S3-compatible endpoint serves), and sends checksums only where S3
requires them (RunPod's API predates the newer flexible-checksum headers). botocore's own retries are
bounded (standard mode, which retries 5xx, 502s and throttling with backoff); timeouts are set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    PaginationError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.ports import NotFoundError
from podreconcile.core.volume_s3 import S3Credentials

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120  # CompleteMultipartUpload of a big file takes a while on RunPod
ATTEMPTS = 6  # RunPod suggests more retries than the default for its 502s

_KEY_REFUSED = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "AuthorizationHeaderMalformed",
                "InvalidToken", "Forbidden", "403"}
_TEMPORARY = {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "Throttling", "502", "503", "504",
              "500", "BadGateway"}
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "404", "NotFound"}


def make_client(credentials: S3Credentials, endpoint: str, data_center: str):
    config = Config(
        region_name=data_center,
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=16,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key, config=config,
    )


def ranged_get(client, bucket: str, key: str, byte_range: str) -> bytes:
    """The bytes of a Range GET; empty when the range starts past the end (or the object is empty)."""
    try:
        return client.get_object(Bucket=bucket, Key=key, Range=byte_range)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidRange":
            return b""
        raise


@contextmanager
def translated(what: str, volume_id: str) -> Iterator[None]:
    """Run S3 calls, turning botocore's exceptions into core's with a sentence that names the fix."""
    try:
        yield
    except ClientError as error:
        raise _client_error(error, what, volume_id) from None
    except PaginationError as error:
        if "same next token" in str(error).lower():
            raise TemporaryError(f"RunPod's S3 API is still computing checksums for volume {volume_id} "
                                 f"({what}); try again in a minute.") from None
        raise PermanentError(f"Listing volume {volume_id} failed ({what}): {error}.") from None
    except (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError,
            ResponseStreamingError, IncompleteReadError) as error:
        raise TemporaryError(f"RunPod's S3 API did not answer ({what}): {type(error).__name__}.") from None
    except BotoCoreError as error:
        raise PermanentError(f"The S3 call failed ({what}): {type(error).__name__}.") from None


def _client_error(error: ClientError, what: str, volume_id: str) -> Exception:
    info = error.response.get("Error", {})
    code = str(info.get("Code") or "")
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "RequestTimeTooSkewed":
        return UserError("RunPod's S3 API refused the request because this machine's clock is off by more than "
                         "an hour; set the clock right (e.g. enable NTP) and try again.")
    if code in _KEY_REFUSED or status == 403:
        return UserError(f"RunPod's S3 API refused the key pair ({code or status}) for {what}; set "
                         "RUNPOD_S3_ACCESS_KEY (user_...) and RUNPOD_S3_SECRET_KEY (rps_...) in .runpod.env to an "
                         "S3 API key from RunPod's console (Settings > S3 API Keys), not the API key.")
    if code == "NoSuchBucket" or (what.startswith("check volume") and status == 404):
        return NotFoundError(f"Network volume {volume_id} is not served by this S3 endpoint ({what}): "
                             "check NETWORK_VOLUME_ID and its data center.")
    if code in _NOT_FOUND or status == 404:
        return NotFoundError(f"Not found on volume {volume_id}: {what}.")
    if code in _TEMPORARY or status >= 500 or status == 429:
        return TemporaryError(f"RunPod's S3 API failed for {what} ({code or status}); it usually passes, retrying helps.")
    message = str(info.get("Message") or "").strip()
    return PermanentError(f"RunPod's S3 API refused {what} ({code or status}){': ' + message if message else ''}.")
