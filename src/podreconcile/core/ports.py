"""The ports: what the engine needs from RunPod and from a pod's shell, as Protocols.

The adapters (`adapters.runpod_graphql`, `adapters.ssh`) implement them; the engine sees only these
names, so it runs the same against RunPod, the sandbox, or a fake in a unit test.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Protocol

from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Endpoint, PodFacts, VolumeFacts

SSH_USER = "root"  # RunPod's images log in as root

# bytes, a binary file read to its end, or an iterable of chunks produced while sending
Stdin = bytes | BinaryIO | Iterable[bytes] | None


@dataclass(frozen=True)
class Result:
    """What a remote command did; stdout and stderr are decoded as UTF-8 (invalid bytes replaced)."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostKeyChanged(PermanentError):
    """The pod presented a different host key than the one pinned earlier in the same pod start."""


class CommandFailed(PermanentError):
    """A checked remote step exited non-zero; `result` holds its output."""

    def __init__(self, what: str, result: Result) -> None:
        tail = result.stderr.strip()[-400:] or result.stdout.strip()[-400:]
        detail = f": {tail}" if tail else ""
        super().__init__(f"{what} failed on the pod (exit code {result.exit_code}){detail}")
        self.what = what
        self.result = result


class CommandTimedOut(TemporaryError):
    """A remote step ran past its timeout; the command may still be running on the pod."""


class RemotePathNotFound(PermanentError, FileNotFoundError):
    """An SFTP read of a path that does not exist (also a FileNotFoundError for callers' ease)."""


# ---- RunPod ----

class NoCapacityError(PermanentError):
    """RunPod has no machine for this GPU type right now."""


class HostGpusBusyError(PermanentError):
    """A stopped pod's host has given its GPU to someone else."""


class NotFoundError(PermanentError):
    """The pod (or volume) does not exist (any more)."""


class ApiRetiredError(UserError):
    """RunPod no longer serves the API a call needs (GraphQL's `410 Gone` after its retirement)."""


class ActionConflictError(PermanentError):
    """RunPod refused a pod action that is not valid in the pod's current status (v2's 409)."""


class StockLevel(str, Enum):
    """How many GPUs of a type RunPod reports free: a way to order candidates, not a reservation."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    UNKNOWN = "UNKNOWN"  # not reported, or a level this version does not know

    @classmethod
    def parse(cls, raw: object) -> "StockLevel":
        try:
            return cls(str(raw).upper())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class GpuOffer:
    """One GPU type of RunPod's catalog, for a cloud, a GPU count and (optionally) a data center."""

    id: str  # what a create asks for, e.g. "NVIDIA GeForce RTX 4090"
    name: str  # e.g. "RTX 4090"
    memory_gb: int
    price_per_gpu: float | None  # USD per GPU-hour in the asked cloud; None: not offered there
    stock: StockLevel
    max_count: int | None = None  # the most GPUs of this type one pod can have in that cloud


@dataclass(frozen=True, repr=False)
class PodPatch:
    """What to change on an existing pod in place; a None field is left as it is."""

    image: str | None = None
    env: dict[str, str] | None = None  # replaces the pod's whole env
    args: str | None = None
    ports: tuple[str, ...] | None = None
    container_disk_gb: int | None = None

    def changed(self) -> tuple[str, ...]:
        """The names of the fields this patch sets."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def __repr__(self) -> str:  # env may hold secrets
        return f"PodPatch(changes {', '.join(self.changed()) or 'nothing'})"


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image: str
    gpu_type_id: str
    gpu_count: int
    cloud: str  # secure | community | all
    interruptible: bool
    bid_per_gpu: float | None
    container_disk_gb: int
    volume_gb: int
    volume_mount_path: str
    ports: str
    env: dict[str, str]
    network_volume_id: str | None
    data_center_id: str | None = None

    def __repr__(self) -> str:  # env may hold secrets
        return f"CreateRequest(name={self.name!r}, gpu_type_id={self.gpu_type_id!r})"


class Provider(Protocol):
    """RunPod's pod operations. Each raises TemporaryError (retry; `retry_after` when RunPod asked
    for a wait), PermanentError or UserError; starting a pod that is already up, and stopping or
    terminating a pod that is already so, return quietly.

    `api_base_url` is the API base this provider talks to (https://api.runpod.io, or the sandbox's):
    the pod's runner uses the same base for its self-stop.
    """

    api_base_url: str

    def account(self) -> tuple[list[PodFacts], list[VolumeFacts]]:
        """Every pod and network volume of the account."""
    def list_pods(self) -> list[PodFacts]: ...
    def get_pod(self, pod_id: str) -> PodFacts | None:
        """The pod, or None when RunPod does not know it (any more)."""
    def create_pod(self, req: CreateRequest) -> str:
        """Create one pod on exactly `req.gpu_type_id` (no fallback: the caller loops over its
        candidates); returns the pod id. NoCapacityError when that type cannot be placed."""
    def resume_pod(self, pod_id: str, gpu_count: int, bid_per_gpu: float | None = None) -> None:
        """Start a stopped pod; HostGpusBusyError when its host has no free GPU."""
    def stop_pod(self, pod_id: str) -> None: ...
    def restart_pod(self, pod_id: str) -> None:
        """Restart a running pod (a new container with the pod's current fields, the volume disk kept)."""
    def terminate_pod(self, pod_id: str) -> None: ...
    def patch_pod(self, pod_id: str, patch: PodPatch) -> PodFacts:
        """Change the patch's fields in place (image, env, args, ports, container disk); returns the
        pod as RunPod reports it afterwards. A running pod restarts to apply most of them."""
    def gpu_prices(self, cloud: str, interruptible: bool) -> dict[str, float]:
        """Price per GPU-hour of every GPU type, for this cloud and pod type."""
    def gpu_catalog(self, data_center: str | None, cloud: str, gpu_count: int = 1) -> list[GpuOffer]:
        """Every GPU type with its price in `cloud` and its stock for pods of `gpu_count` GPUs, in
        `data_center` when given (a type RunPod does not list there has stock NONE)."""


# ---- a pod's shell ----

class PodShell(Protocol):
    """One authenticated connection to a pod: commands, streams, files and tunnels."""

    endpoint: Endpoint
    host_key: str  # "type base64", for pinning

    def is_alive(self) -> bool: ...
    def close(self) -> None: ...
    def run(self, command: str, *, what: str = ..., stdin: Stdin = None, timeout: float | None = None,
            check: bool = True) -> Result: ...
    def stream(self, command: str, on_line: Callable[[str], None], *, what: str = ...,
               timeout: float | None = None) -> int: ...
    def sftp(self): ...
    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o644) -> None: ...
    def get_bytes(self, remote_path: str) -> bytes: ...
    def forward_local(self, local_port: int, remote_host: str, remote_port: int): ...


class ShellConnector(Protocol):
    """Opens a PodShell as SSH_USER with the private key; `pinned_key` must match the host's key."""

    def __call__(self, endpoint: Endpoint, key_path: Path, *, pinned_key: str | None = None,
                 timeout: float = 10) -> PodShell: ...


# ---- a network volume without a pod (RunPod's S3 API) ----

@dataclass(frozen=True)
class RemoteObject:
    """One object of a volume listing: `key` is the path on the volume (`dir/` for an empty directory)."""

    key: str
    size: int
    etag: str  # without quotes: an MD5, or `<md5>-<parts>` for an object uploaded in parts
    modified: float  # seconds since the epoch

    @property
    def is_directory(self) -> bool:
        return self.key.endswith("/")


@dataclass(frozen=True)
class UploadItem:
    """A local file and the key it goes to; `etag` when the caller already knows it (from a manifest)."""

    local: Path
    key: str
    etag: str | None = None


@dataclass(frozen=True)
class TransferReport:
    """What an upload or download moved: files and bytes sent, and files left as they were."""

    files: int
    bytes: int
    skipped: int


class ObjectTooLarge(PermanentError):
    """A small read (`VolumeStore.read`) of an object larger than its cap."""


class VolumeStore(Protocol):
    """One network volume through RunPod's S3 API: bucket = volume id, keys = paths on the volume.

    Every method raises TemporaryError (5xx, 502, timeouts, "The same next token was received
    twice" while RunPod computes ETags: retry after a pause), UserError (the key pair is refused:
    the message names the settings to fix), NotFoundError (no such object or volume), or
    PermanentError. Retries inside one call are bounded; callers retry TemporaryError by policy.
    """

    def check(self) -> None:
        """Returns when the endpoint serves the volume (one HeadBucket); NotFoundError when it does not."""
        ...

    def list(self, prefix: str) -> list[RemoteObject]:
        """Every object under `prefix` (with sizes, ETags, mtimes), in one ListObjectsV2 walk."""
        ...

    def read(self, key: str, max_bytes: int) -> bytes:
        """A small object whole; ObjectTooLarge when it is over `max_bytes`."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes from `start` (fewer at the end of the object)."""
        ...

    def read_tail(self, key: str, max_bytes: int) -> bytes:
        """The last `max_bytes` bytes (all of a smaller object): the end of a log."""
        ...

    def upload(self, items: Iterable[UploadItem], remote: dict[str, RemoteObject] | None = None,
               on_bytes: Callable[[int], None] | None = None) -> TransferReport:
        """Upload files in parallel; an item whose `remote` object has its size and ETag is skipped.

        Files above the part size go up in parts, and an interrupted upload of the same key is
        resumed: parts already there with the same MD5 are not sent again.
        """
        ...

    def download(self, items: Iterable[tuple[str, Path]], on_bytes: Callable[[int], None] | None = None
                 ) -> TransferReport:
        """Download (key, local path) pairs in parallel; a partial file left by an interrupted run
        is continued from where it stopped when the object is unchanged."""
        ...

    def etags_of(self, path: Path) -> set[str]:
        """The ETags an object with this local file's bytes may have here (plain MD5, and the
        multipart form for this store's part size): reads the file, calls nothing."""
        ...
