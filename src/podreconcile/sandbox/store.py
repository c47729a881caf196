"""The sandbox's persistent world: account, GPU catalogue, pods, network volumes, faults, call counts.

Everything lives in one JSON file under the sandbox home, rewritten atomically after each change, so
`sandbox down` / `up` keeps volumes and stopped pods. Callers hold `Store.lock` around a read-modify-
write; the GraphQL server runs each request's resolvers under it.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from podreconcile.sandbox.private import private_dir, write_private

DATA_CENTERS = ("EU-RO-1", "US-KS-2", "CA-MTL-1")


@dataclass(frozen=True)
class GpuType:
    id: str
    display_name: str
    memory_gb: int
    secure_price: float
    community_price: float
    max_count: int = 8

    @property
    def spot_price(self) -> float:
        return round(self.secure_price * 0.5, 3)


GPU_TYPES = (
    GpuType("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34),
    GpuType("NVIDIA RTX A6000", "RTX A6000", 48, 0.76, 0.49),
    GpuType("NVIDIA GeForce RTX 3090", "RTX 3090", 24, 0.43, 0.22),
    GpuType("NVIDIA A100 80GB PCIe", "A100 80GB", 80, 1.64, 1.19),
    GpuType("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.99, 2.69),
)


def gpu_type(gpu_id: str) -> GpuType | None:
    return next((g for g in GPU_TYPES if g.id == gpu_id), None)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def js_date() -> str:
    """A date the way RunPod's lastStatusChange prints it (JavaScript Date.toString)."""
    return datetime.now(timezone.utc).strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def random_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Pod:
    id: str
    name: str
    image: str
    gpu_type_id: str | None
    gpu_count: int
    cloud_type: str
    interruptible: bool
    bid_per_gpu: float | None
    container_disk_gb: int
    volume_gb: int
    volume_mount_path: str
    ports: str
    env: list[list[str]]
    docker_args: str
    network_volume_id: str | None
    data_center_id: str
    machine_id: str
    pod_host_suffix: str
    cost_per_hr: float
    pod_api_key: str
    start_ssh: bool
    desired_status: str = "RUNNING"
    last_status_change: str = ""
    created_at: str = field(default_factory=now_iso)
    last_started_at: str = field(default_factory=now_iso)
    started_monotonic: float = 0.0
    ssh_port: int | None = None
    ssh_host: str = "127.0.0.1"  # sshd's address: the loopback, or the pod's own on an emulated link
    terminated_at: str | None = None
    boots: int = 0  # starts so far: the first is PROVISIONING over v2, later ones STARTING
    locked: bool = False
    billed_usd: float = 0.0  # charged for runs that ended (the running one is added on read)
    started_wall: float = 0.0  # time.time() of the last start, for billing

    @property
    def pod_host_id(self) -> str:
        return f"{self.id}-{self.pod_host_suffix}"


@dataclass
class Volume:
    id: str
    name: str
    size: int
    data_center_id: str


NEVER = 1e9  # seconds: an sshd that never starts within any test's or user's patience


@dataclass
class Fault:
    kind: str
    remaining: int
    applied: bool
    body: str
    hang_seconds: float
    retry_after: int = 1  # seconds in a 429's Retry-After header
    pod_key_only: bool = False  # only calls made with a pod's own key (RUNPOD_API_KEY inside a pod) meet it


class Store:
    """The world, persisted as JSON at `home/world.json`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "world.json"
        self.lock = threading.RLock()
        self.api_key = ""
        self.pub_key: str | None = None
        self.pods: dict[str, Pod] = {}
        self.volumes: dict[str, Volume] = {}
        self.faults: dict[str, Fault] = {}
        self.calls: dict[str, int] = {}
        # Stock set by `sandbox stock`: (gpu id, data center or "*") -> NONE|LOW|MEDIUM|HIGH.
        self.stock: dict[tuple[str, str], str] = {}
        # Set by `sandbox image`: seconds after boot before an image's sshd answers (NEVER: it ignores PUBLIC_KEY).
        self.image_sshd: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            self.api_key = "rpa_" + secrets.token_hex(16).upper()
            self.save()
            return
        raw = json.loads(self.path.read_text())
        self.api_key = raw["api_key"]
        self.pub_key = raw.get("pub_key")
        self.pods = {p["id"]: Pod(**p) for p in raw.get("pods", [])}
        self.volumes = {v["id"]: Volume(**v) for v in raw.get("volumes", [])}

    def save(self) -> None:
        """Write the world atomically (faults and call counts live only as long as the server)."""
        private_dir(self.home)
        raw = {
            "api_key": self.api_key,
            "pub_key": self.pub_key,
            "pods": [asdict(p) for p in self.pods.values()],
            "volumes": [asdict(v) for v in self.volumes.values()],
        }
        write_private(self.path, json.dumps(raw, indent=1).encode())

    def live_pods(self) -> list[Pod]:
        return [p for p in self.pods.values() if p.terminated_at is None]

    def find_pod(self, pod_id: str) -> Pod | None:
        pod = self.pods.get(pod_id)
        return pod if pod and pod.terminated_at is None else None

    def pod_by_key(self, key: str) -> Pod | None:
        return next((p for p in self.live_pods() if secrets.compare_digest(p.pod_api_key, key)), None)

    def new_pod_id(self) -> str:
        while True:
            pod_id = random_id(14)
            if pod_id not in self.pods:
                return pod_id

    def new_volume_id(self) -> str:
        while True:
            vol_id = random_id(10)
            if vol_id not in self.volumes:
                return vol_id

    def pod_dir(self, pod_id: str) -> Path:
        return self.home / "pods" / pod_id

    def volume_dir(self, volume_id: str) -> Path:
        return self.home / "volumes" / volume_id

    def stock_level(self, gpu_id: str, data_center: str) -> str:
        """The GPU type's stock in a data center: HIGH unless `sandbox stock` said otherwise."""
        return self.stock.get((gpu_id, data_center)) or self.stock.get((gpu_id, "*")) or "HIGH"

    def count_call(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1

    def take_fault(self, operation: str, pod_key: bool = False) -> Fault | None:
        """The armed fault for this operation, if any, counting one use of it; a fault for pod keys
        lets the account key's calls pass untouched."""
        fault = self.faults.get(operation)
        if fault is None or fault.pod_key_only and not pod_key:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            del self.faults[operation]
        return fault
