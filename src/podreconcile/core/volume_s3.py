"""RunPod's S3 API for network volumes, as pure facts and rules: where it is, with which keys, and
what an object's ETag will be (shared/runpod-facts.md section 11).

No I/O here: the adapter `adapters.volume_s3` does the calls; the engine asks `s3_route` whether a
volume can be reached without a pod and shows the reason either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

DEFAULT_ENDPOINT_TEMPLATE = "https://s3api-{datacenter}.runpod.io"

# The data centers whose network volumes RunPod's S3 API serves, from RunPod's docs (storage/s3-api).
S3_DATA_CENTERS = frozenset({
    "EU-CZ-1", "EU-RO-1", "EUR-IS-1", "EUR-NO-1", "US-CA-2", "US-GA-2", "US-IL-1", "US-KS-2",
    "US-MD-1", "US-MO-1", "US-MO-2", "US-NC-1", "US-NC-2", "US-NE-1", "US-WA-1",
})

PUT_OBJECT_LIMIT = 500 * (1 << 20)  # RunPod refuses PutObject (and a part) from 500 MB up
PART_SIZE = 32 * (1 << 20)  # files above this go up in parts of this size, resumable part by part


@dataclass(frozen=True, repr=False)
class S3Credentials:
    """The S3 API key pair from RunPod's console (access key `user_...`, secret `rps_...`).

    Not the RunPod API key. `repr()` and `str()` show the access key's prefix only.
    """

    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"S3Credentials(access_key={self.access_key[:5]!r}..., secret_key=<hidden>)"

    __str__ = __repr__


class S3Reason(str, Enum):
    """Why the volume is (or is not) reached through S3: the plan shows it."""

    AVAILABLE = "available"
    NO_KEYS = "no-keys"
    NO_NETWORK_VOLUME = "no-network-volume"
    DATA_CENTER_WITHOUT_S3 = "data-center-without-s3"


@dataclass(frozen=True)
class S3Route:
    """How to reach one network volume through S3, or why not (`endpoint` is None then)."""

    reason: S3Reason
    endpoint: str | None = None
    data_center: str | None = None
    volume_id: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is S3Reason.AVAILABLE

    def explain(self) -> str:
        """One sentence for the plan: which path and why."""
        return {
            S3Reason.AVAILABLE: f"through RunPod's S3 API ({self.data_center}), no pod needed",
            S3Reason.NO_KEYS: "over SSH: no S3 key pair (set RUNPOD_S3_ACCESS_KEY and RUNPOD_S3_SECRET_KEY in .runpod.env)",
            S3Reason.NO_NETWORK_VOLUME: "over SSH: the pod has no network volume",
            S3Reason.DATA_CENTER_WITHOUT_S3: f"over SSH: data center {self.data_center} has no S3 API",
        }[self.reason]


def endpoint_for(template: str, data_center: str) -> str:
    """The S3 endpoint of a data center: the template with `{datacenter}` as its lower-case ID."""
    return template.replace("{datacenter}", data_center.lower())


def s3_route(credentials: S3Credentials | None, volume_id: str | None, data_center: str | None,
             template: str = DEFAULT_ENDPOINT_TEMPLATE) -> S3Route:
    """Decide whether a network volume is reached through S3, on facts only (no call is made)."""
    if not volume_id or not data_center:
        return S3Route(S3Reason.NO_NETWORK_VOLUME)
    if data_center.upper() not in S3_DATA_CENTERS:
        return S3Route(S3Reason.DATA_CENTER_WITHOUT_S3, data_center=data_center, volume_id=volume_id)
    if credentials is None:
        return S3Route(S3Reason.NO_KEYS, data_center=data_center, volume_id=volume_id)
    return S3Route(S3Reason.AVAILABLE, endpoint_for(template, data_center), data_center, volume_id)


def multipart_etag(part_md5s: list[bytes]) -> str:
    """S3's ETag of an object uploaded in parts: MD5 of the parts' MD5s, a dash, the part count."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"
