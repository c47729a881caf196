"""Pod lifecycle: what RunPod does to a pod's container on create, stop, resume, terminate, preempt.

The API state (`Pod.desired_status`) changes at once, as on RunPod; the container behind it boots
or dies asynchronously through the `PodHost`. `runtime_view` reports the container as RunPod does:
null while it boots, then `ports: null` while the container is up but sshd is not, then the ports.

In the `emulated` network mode every boot first opens the pod's emulated link (links.py): the pod
gets an address of its own, which the API reports as its SSH endpoint, and reaches the API through
its link's gateway.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import links
from .podhost import PodHost, PodLaunch
from .store import Pod, Store, js_date, now_iso

# How long a stopped pod keeps reporting its old runtime (RunPod's telemetry is stale for a while).
STALE_RUNTIME_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_ports(ports: str) -> list[tuple[int, str]]:
    """`"22/tcp,6006/http"` -> [(22, "tcp"), (6006, "http")]; ValueError on a malformed entry."""
    result = []
    for entry in filter(None, (p.strip() for p in ports.split(","))):
        number, _, kind = entry.partition("/")
        if not number.isdigit() or kind not in ("tcp", "http") or not 0 < int(number) < 65536:
            raise ValueError(entry)
        result.append((int(number), kind))
    return result


class Lifecycle:
    """Starts and stops the containers of the store's pods."""

    def __init__(self, store: Store, host: PodHost, api_url: str, boot_delay: float,
                 network: str = "loopback", netem: links.Netem | None = None) -> None:  # fmt: skip
        self.store = store
        self.host = host
        self.api_url = api_url
        self.boot_delay = boot_delay
        self.network = network  # loopback | emulated
        self.netem = netem or links.Netem()  # applied to every new emulated link
        self._stopping: dict[str, threading.Thread] = {}
        self._stopped_at: dict[str, float] = {}
        self._ready: set[str] = set()
        self._live_ports: dict[str, str] = {}  # the ports each container was started with (PATCH waits for a start)

    # --- transitions (called with store.lock held) ---

    def boot(self, pod: Pod) -> None:
        """Start the pod's container: a fresh container disk, a new public port, new host keys."""
        self._join_stop(pod.id)
        self._ready.discard(pod.id)
        wants_ssh = any(kind == "tcp" and n == 22 for n, kind in parse_ports(pod.ports))
        pod.ssh_port = free_port() if wants_ssh else None
        self._live_ports[pod.id] = pod.ports
        pod.desired_status = "RUNNING"
        pod.last_started_at = now_iso()
        pod.started_monotonic = time.monotonic()
        pod.started_wall = time.time()
        pod.boots += 1
        pod.last_status_change = f"Rented by User: {js_date()}"
        link = None
        if self.network == "emulated":
            link = self.host.open_link(pod.id, urlsplit(self.api_url).port, self.netem)
        pod.ssh_host = link.pod_ip if link else "127.0.0.1"
        try:
            self.host.start(self._launch(pod, link))
        except Exception:
            self.host.stop(pod.id)  # closes the link opened above
            raise

    def halt(self, pod: Pod, status_change: str) -> None:
        """Mark the pod EXITED now; kill its container just after (the caller may be inside it)."""
        if pod.desired_status == "RUNNING":
            pod.billed_usd += self.running_charge(pod)
        pod.desired_status = "EXITED"
        pod.last_status_change = status_change
        self._stopped_at[pod.id] = time.monotonic()
        self._ready.discard(pod.id)
        self._stop_async(pod.id)

    def terminate(self, pod: Pod) -> None:
        self.halt(pod, f"Terminated by user: {js_date()}")
        pod.terminated_at = now_iso()
        self._join_stop(pod.id)
        shutil.rmtree(self.store.pod_dir(pod.id), ignore_errors=True)

    def reboot_running(self) -> None:
        """After a sandbox restart, bring back the containers of pods that should be running."""
        for pod in self.store.live_pods():
            if pod.desired_status == "RUNNING":
                self.boot(pod)

    def shutdown(self) -> None:
        for thread in list(self._stopping.values()):
            thread.join()
        self.host.stop_all()

    def set_link(self, pod: Pod, netem: links.Netem) -> None:
        """`sandbox link`: change a running emulated pod's link; LinkError says why it cannot."""
        if pod.desired_status != "RUNNING":
            raise links.LinkError(f"pod {pod.id} is not running; start it first.")
        if self.host.link(pod.id) is None:
            if self.network != "emulated":
                raise links.LinkError(
                    f"pod {pod.id} is on the shared loopback, which is never shaped; restart the sandbox with "
                    "`podreconcile sandbox up --network emulated` to give each pod a link of its own.")
            raise links.LinkError(f"pod {pod.id}'s link is not up (it is booting or stopping); try again.")
        self.host.set_link(pod.id, netem)

    def link_view(self, pod: Pod) -> dict | None:
        """The pod's link for `sandbox status`: addresses and settings, or None on the loopback."""
        link = self.host.link(pod.id) if pod.desired_status == "RUNNING" else None
        if link is None:
            return None
        return {"podIp": link.pod_ip, "gatewayIp": link.host_ip, "device": link.device,
                "netem": self.host.link_settings(pod.id).describe()}  # fmt: skip

    # --- views ---

    def phase(self, pod: Pod) -> str:
        """The pod's v2 status: PROVISIONING (first boot) or STARTING (later ones), RUNNING, EXITED."""
        if pod.terminated_at is not None:
            return "TERMINATED"
        if pod.desired_status != "RUNNING":
            return "EXITED"
        if time.monotonic() - pod.started_monotonic < self.boot_delay / 2:
            return "PROVISIONING" if pod.boots <= 1 else "STARTING"
        return "RUNNING"

    def booted(self, pod: Pod) -> bool:
        """Whether the running pod's container is up: sshd answers (or the boot delay passed)."""
        return self.phase(pod) == "RUNNING" and self._sshd_ready(pod)

    def running_charge(self, pod: Pod) -> float:
        """USD charged for the current run so far (0 when the pod is not running)."""
        if pod.desired_status != "RUNNING" or not pod.started_wall:
            return 0.0
        return pod.cost_per_hr * max(0.0, time.time() - pod.started_wall) / 3600

    def port_entries(self, pod: Pod) -> list[dict]:
        """The running pod's published ports, as GraphQL's runtime.ports lists them."""
        return self._port_entries(pod)

    def runtime_view(self, pod: Pod) -> dict | None:
        """RunPod's `runtime`: null while booting, `ports: null` until sshd answers, then ports."""
        if pod.desired_status != "RUNNING":
            stopped = self._stopped_at.get(pod.id)
            if stopped is None or time.monotonic() - stopped > STALE_RUNTIME_SECONDS:
                return None
        elapsed = time.monotonic() - pod.started_monotonic
        if elapsed < self.boot_delay / 2:
            return None
        uptime = {"uptimeInSeconds": int(elapsed)}
        if not self._sshd_ready(pod) and pod.desired_status == "RUNNING":
            return {**uptime, "ports": None}
        return {**uptime, "ports": self._port_entries(pod)}

    def _sshd_ready(self, pod: Pod) -> bool:
        if pod.ssh_port is None:
            return time.monotonic() - pod.started_monotonic >= self.boot_delay
        if pod.id not in self._ready and self.host.ssh_ready(pod.id):
            self._ready.add(pod.id)
        return pod.id in self._ready

    def _port_entries(self, pod: Pod) -> list[dict]:
        entries = []
        for number, kind in parse_ports(self._live_ports.get(pod.id, pod.ports)):
            if kind == "tcp" and number == 22 and pod.ssh_port:
                entries.append(_port(pod.ssh_host, True, 22, pod.ssh_port, "tcp"))
            elif kind == "http":
                entries.append(_port("100.65.0.2", False, number, 60000 + number % 5000, "http"))
        return entries

    # --- helpers ---

    def _launch(self, pod: Pod, link: links.LinkInfo | None) -> PodLaunch:
        pod_dir = self.store.pod_dir(pod.id)
        container = pod_dir / "container"
        return PodLaunch(
            pod_id=pod.id,
            env=self._env(pod, link),
            volume_dir=self._volume_dir(pod, container),
            volume_mount_path=pod.volume_mount_path,
            container_dir=container,
            ssh_port=pod.ssh_port,
            boot_delay=self.store.image_sshd.get(pod.image, self.boot_delay),
            link=link,
        )

    def _volume_dir(self, pod: Pod, container: Path) -> Path:
        if pod.network_volume_id:
            path = self.store.volume_dir(pod.network_volume_id)
        elif pod.volume_gb > 0:
            path = self.store.pod_dir(pod.id) / "volume"
        else:
            # No volume at all: the mount path is plain container disk, gone at the next stop.
            path = container.parent / "container-volume"
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _env(self, pod: Pod, link: links.LinkInfo | None) -> dict[str, str]:
        # On an emulated link the API is at the link's gateway (which forwards to the loopback API).
        api_url = self.api_url
        if link is not None:
            parts = urlsplit(api_url)
            api_url = urlunsplit(parts._replace(netloc=f"{link.host_ip}:{parts.port}"))
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "RUNPOD_POD_ID": pod.id,
            "RUNPOD_POD_HOSTNAME": pod.pod_host_id,
            "RUNPOD_DC_ID": pod.data_center_id,
            "RUNPOD_GPU_COUNT": str(pod.gpu_count),
            "RUNPOD_CPU_COUNT": "8",
            "RUNPOD_PUBLIC_IP": pod.ssh_host,
            "RUNPOD_API_KEY": pod.pod_api_key,
            "RUNPOD_API_URL": api_url,
            "RUNPOD_GRAPHQL_URL": api_url,
            "CUDA_VERSION": "12.4.1",
        }
        if pod.ssh_port:
            env["RUNPOD_TCP_PORT_22"] = str(pod.ssh_port)
        if pod.network_volume_id:
            env["RUNPOD_VOLUME_ID"] = pod.network_volume_id
        if pod.start_ssh and self.store.pub_key:
            env["PUBLIC_KEY"] = self.store.pub_key
        env.update({k: v for k, v in pod.env})
        return env

    def _stop_async(self, pod_id: str) -> None:
        self._join_stop(pod_id)
        thread = threading.Thread(target=self._stop_later, args=(pod_id,), daemon=True)
        self._stopping[pod_id] = thread
        thread.start()

    def _stop_later(self, pod_id: str) -> None:
        time.sleep(0.2)  # let the HTTP answer reach a caller that runs inside this pod
        self.host.stop(pod_id)

    def _join_stop(self, pod_id: str) -> None:
        thread = self._stopping.pop(pod_id, None)
        if thread is not None:
            thread.join()


def _port(ip: str, public: bool, private: int, public_port: int, kind: str) -> dict:
    return {"ip": ip, "isIpPublic": public, "privatePort": private, "publicPort": public_port, "type": kind}
