"""Typed facts about the world, as observation gathers them and the planner reads them.

Facts are plain frozen values with tolerant parsers: RunPod's payloads change shape over time, so an
unknown status maps to `PodStatus.UNKNOWN` instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from podreconcile.core.run_observation import RunFacts
from podreconcile.core.secret import digest


class PodStatus(str, Enum):
    """A pod's status: REST v2's lifecycle (GraphQL's desiredStatus gives RUNNING, EXITED or TERMINATED)."""

    PROVISIONING = "PROVISIONING"  # v2: a machine is being allocated
    STARTING = "STARTING"  # v2: the container is starting
    RUNNING = "RUNNING"
    EXITED = "EXITED"  # stopped: no compute, the volume disk kept
    ERROR = "ERROR"  # v2: the container failed; RunPod offers start and terminate
    TERMINATED = "TERMINATED"
    UNKNOWN = "UNKNOWN"  # a status this version does not know

    @classmethod
    def parse(cls, raw: object) -> "PodStatus":
        try:
            return cls(str(raw).upper())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_up(self) -> bool:
        """Running or on its way there: it holds compute, bills, and SSH comes (or came) up."""
        return self in (PodStatus.PROVISIONING, PodStatus.STARTING, PodStatus.RUNNING)


class PodAction(str, Enum):
    """A transition RunPod v2 allows on a pod now (its `actions`)."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    TERMINATE = "terminate"

    @classmethod
    def parse_all(cls, raw: object) -> tuple["PodAction", ...]:
        """The known actions of a list, in order; ones this version does not know are left out."""
        known = {a.value: a for a in cls}
        return tuple(known[str(a).lower()] for a in (raw or ()) if str(a).lower() in known)


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
    # What RunPod reports of the pod's make-up (None: not reported), compared when a pod is adopted.
    container_disk_gb: int | None = None
    volume_gb: int | None = None
    volume_mount_path: str | None = None
    ports: tuple[str, ...] | None = None
    env_digests: dict | None = None  # name -> env_digest(value): values may be secrets, never kept
    actions: tuple[PodAction, ...] | None = None  # None: the API does not say (GraphQL)

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
            container_disk_gb=_whole(raw.get("containerDiskInGb")),
            volume_gb=_whole(raw.get("volumeInGb")),
            volume_mount_path=raw.get("volumeMountPath") or None,
            ports=tuple(p.strip() for p in raw["ports"].split(",") if p.strip())
            if isinstance(raw.get("ports"), str) else None,
            env_digests=_env_digests(raw.get("env")),
        )


def env_digest(value: str) -> str:
    """How an env value is compared without being kept: RunPod reports values, which may be secrets."""
    return digest(value)


def _env_digests(raw: object) -> dict | None:
    """RunPod's env (`["KEY=VALUE", ...]`) as name -> digest of the value."""
    if not isinstance(raw, list):
        return None
    pairs = (item.split("=", 1) for item in raw if isinstance(item, str) and "=" in item)
    return {key: env_digest(value) for key, value in pairs}


def _whole(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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
