"""The sandbox's world as RunPod's REST v2 API shows it: pods, volumes, GPU types, data centers.

Every field RunPod documents for an object is present (null where it has no value), and no other.
"""

from __future__ import annotations

import time

from .lifecycle import Lifecycle, parse_ports
from .store import DATA_CENTERS, GPU_TYPES, GpuType, Pod, Store, Volume

# The sandbox's data centers: name, region, ISO country.
DATA_CENTER_INFO = {
    "EU-RO-1": ("EU Romania 1", "EUROPE", "RO"),
    "US-KS-2": ("US Kansas 2", "NORTH_AMERICA", "US"),
    "CA-MTL-1": ("CA Montreal 1", "NORTH_AMERICA", "CA"),
}
CUDA_VERSION = "12.4"
CPU_FLAVOR = "cpu3c"
LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
ACTIONS = {
    "PROVISIONING": ["stop", "terminate"],
    "STARTING": ["stop", "terminate"],
    "RUNNING": ["stop", "restart", "terminate"],
    "EXITED": ["start", "terminate"],
    "ERROR": ["start", "terminate"],
    "TERMINATED": [],
}


def pod_view(pod: Pod, life: Lifecycle) -> dict:
    """GET /v2/pods/{id}: a pod as v2 shows it."""
    status = life.phase(pod)
    view = {
        "id": pod.id,
        "name": pod.name,
        "status": status,
        "actions": list(ACTIONS[status]),
        "image": pod.image,
        "args": pod.docker_args,
        "disk": pod.container_disk_gb,
        "env": {key: value for key, value in pod.env},
        "ports": [f"{n}/{kind}" for n, kind in parse_ports(pod.ports)],
        "registry": None,
        "mounts": _mounts(pod),
        "cloud": "COMMUNITY" if pod.cloud_type == "COMMUNITY" else "SECURE",
        "dataCenterId": pod.data_center_id,
        "cudaVersion": CUDA_VERSION if pod.gpu_type_id else None,
        "ssh": {"proxy": None, "direct": _direct_ssh(pod, status)},
        "template": None,
        "cost": pod.cost_per_hr if status not in ("EXITED", "TERMINATED") else 0.0,
        "locked": pod.locked,
        "runtime": _runtime(pod, life),
        "createdAt": pod.created_at,
        "startedAt": None if status == "PROVISIONING" else pod.last_started_at,
        "globalNetworking": {"enabled": False},
    }
    if pod.gpu_type_id:
        view["gpu"] = {"id": pod.gpu_type_id, "count": pod.gpu_count}
    else:
        view["cpu"] = {"id": CPU_FLAVOR, "vcpuCount": 8, "memory": 16}
    return view


def _mounts(pod: Pod) -> dict:
    if pod.network_volume_id:
        return {"network": [{"volumeId": pod.network_volume_id, "path": pod.volume_mount_path}]}
    if pod.volume_gb > 0:
        return {"persistent": {"size": pod.volume_gb, "path": pod.volume_mount_path}}
    return {}


def _direct_ssh(pod: Pod, status: str) -> dict | None:
    """sshd on the published 22/tcp port, once the container runs (it may refuse until sshd is up)."""
    if status != "RUNNING" or not pod.ssh_port:
        return None
    return {"host": pod.ssh_host, "port": pod.ssh_port, "username": "root",
            "command": f"ssh root@{pod.ssh_host} -p {pod.ssh_port}"}  # fmt: skip


def _runtime(pod: Pod, life: Lifecycle) -> dict | None:
    """Live telemetry: null unless the pod runs and its container has booted."""
    if not life.booted(pod):
        return None
    ports = [{"private": p["privatePort"], "public": p["publicPort"], "type": p["type"], "ip": p["ip"]}
             for p in life.port_entries(pod)]  # fmt: skip
    uptime = int(max(0.0, time.monotonic() - pod.started_monotonic))
    gpus = [{"util": 0, "memoryUtil": 0} for _ in range(pod.gpu_count)]
    return {"uptime": uptime, "gpus": gpus, "cpu": {"util": 0}, "memory": {"util": 0}, "ports": ports}


def volume_view(volume: Volume) -> dict:
    return {"id": volume.id, "name": volume.name, "size": volume.size, "dataCenter": volume.data_center_id,
            "type": "STANDARD"}  # fmt: skip


def gpu_view(gpu: GpuType, store: Store, availability: dict | None) -> dict:
    """A GPU type; with `availability` ({count, cloud, countries}) also its stock per data center."""
    view = {
        "id": gpu.id,
        "name": gpu.display_name,
        "pool": None,
        "manufacturer": "NVIDIA",
        "memory": gpu.memory_gb,
        "secure": True,
        "community": True,
        "price": {"secure": gpu.secure_price, "community": gpu.community_price},
        "maxCount": {"secure": gpu.max_count, "community": gpu.max_count},
    }
    if availability is None:
        return view
    unplaceable = availability["count"] > gpu.max_count or not availability["cuda_ok"]
    levels = {
        dc: ("NONE" if unplaceable else store.stock_level(gpu.id, dc))
        for dc in DATA_CENTERS
        if not availability["countries"] or DATA_CENTER_INFO[dc][2] in availability["countries"]
    }
    overall = max(levels.values(), key=LEVELS.index, default="NONE")
    view["availability"] = overall
    if overall != "NONE":
        view["dataCenters"] = [{"id": dc, "name": DATA_CENTER_INFO[dc][0], "availability": level}
                               for dc, level in levels.items()]  # fmt: skip
    view["cudaVersions"] = [{"version": CUDA_VERSION, "available": overall != "NONE"}]
    return view


def data_center_view(data_center: str, store: Store, with_gpus: bool) -> dict:
    name, region, _ = DATA_CENTER_INFO[data_center]
    view = {
        "id": data_center,
        "name": name,
        "region": region,
        "globalNetwork": False,
        "networkVolumeTypes": ["STANDARD"],
        "compliance": [],
    }
    if with_gpus:
        view["gpuAvailability"] = [
            {"id": g.id, "name": g.display_name, "availability": store.stock_level(g.id, data_center)}
            for g in GPU_TYPES
        ]
    return view
