"""Typed facts about the world, as observation gathers them and the planner reads them.

Facts are plain frozen values with tolerant parsers: RunPod's payloads change shape over time, so an
unknown status maps to `PodStatus.UNKNOWN` instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from podreconcile.core.run_observation import RunFacts


class PodStatus(str, Enum):
    RUNNING = "RUNNING"
    EXITED = "EXITED"
    TERMINATED = "TERMINATED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: object) -> "PodStatus":
        try:
            return cls(str(raw).upper())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class Endpoint:
    """Where a pod's sshd listens: the IP and public port of its 22/tcp mapping."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PodFacts:
    """One pod as RunPod reports it."""

    id: str
    name: str
    status: PodStatus
    last_status_change: str = ""
    image: str | None = None
    gpu_type_id: str | None = None
    gpu_display_name: str | None = None
    gpu_count: int = 0
    interruptible: bool = False
    network_volume_id: str | None = None
    data_center_id: str | None = None
    cost_per_hr: float | None = None
    uptime_seconds: int | None = None
    started_at: str | None = None
    ssh: Endpoint | None = None

    @property
    def start_identity(self) -> str:
        """Names one start of the pod: a new start means a new port and new host keys."""
        port = self.ssh.port if self.ssh else "-"
        return f"{self.id}:{port}:{self.started_at or '-'}"

    @classmethod
    def parse(cls, raw: dict) -> "PodFacts":
        machine = raw.get("machine") or {}
        status = PodStatus.parse(raw.get("desiredStatus"))
        return cls(
            id=raw["id"],
            name=raw.get("name") or "",
            status=status,
            last_status_change=raw.get("lastStatusChange") or "",
            image=raw.get("imageName"),
            gpu_type_id=machine.get("gpuTypeId"),
            gpu_display_name=machine.get("gpuDisplayName"),
            gpu_count=raw.get("gpuCount") or 0,
            interruptible=raw.get("podType") in ("INTERRUPTABLE", "BID"),
            network_volume_id=raw.get("networkVolumeId") or None,
            data_center_id=machine.get("dataCenterId"),
            cost_per_hr=raw.get("costPerHr"),
            uptime_seconds=raw.get("uptimeSeconds"),
            started_at=raw.get("lastStartedAt"),
            ssh=_ssh_endpoint(raw) if status is PodStatus.RUNNING else None,
        )


def _ssh_endpoint(raw: dict) -> Endpoint | None:
    """The public 22/tcp mapping, once RunPod reports one (runtime and its ports may be null)."""
    ports = (raw.get("runtime") or {}).get("ports") or []
    for port in ports:
        if port.get("privatePort") == 22 and port.get("type") == "tcp" and port.get("isIpPublic", True):
            return Endpoint(port["ip"], int(port["publicPort"]))
    return None


@dataclass(frozen=True)
class VolumeFacts:
    id: str
    name: str
    size_gb: int
    data_center_id: str


@dataclass(frozen=True)
class CodeFacts:
    """The local code against what the pod has."""

    revision: str
    dirty: bool
    files_to_send: int | None = None  # None: unknown until the pod is reachable
    bytes_to_send: int | None = None
    files_to_delete: int | None = None
    remote_revision: str | None = None
    source: str | None = None  # where the pod's side was read: "ssh", or "s3" (the volume, no pod)


@dataclass(frozen=True)
class DataFacts:
    """The spec's data entries against what the pod's volume holds."""

    files_total: int
    bytes_total: int
    files_to_send: int | None = None  # None: unknown until the pod is reachable
    bytes_to_send: int | None = None
    source: str | None = None  # "s3": compared through RunPod's S3 API, and uploadable there with no pod
    rate_bps: float | None = None  # the upload rate behind the estimate of GPU time an S3 upload saves
    rate_measured: bool = False  # measured on an earlier upload (else assumed)


@dataclass(frozen=True)
class Observation:
    """Everything plan needs to know about reality, gathered in one API call and one SSH round trip."""

    pods: tuple[PodFacts, ...] = ()  # every pod of the account
    volumes: tuple[VolumeFacts, ...] | None = None  # the account's network volumes; None: not looked at
    run: RunFacts | None = None  # None: the pod is not reachable, the run is unknown
    code: CodeFacts | None = None
    data: DataFacts | None = None  # None: the spec has no data entries
    start_refused: bool = False  # a resume just failed because the host has no free GPU
    notes: tuple[str, ...] = field(default_factory=tuple)
