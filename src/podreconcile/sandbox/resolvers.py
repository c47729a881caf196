"""Resolvers for RunPod's GraphQL operations, with RunPod's own error wording.

Each root field is a method on `Api`; graphql-core calls it with `(info, **args)`. Errors are
raised as `GraphQLError(message)` so the answer carries `errors[0].message`, `path` and
`data.<op>: null`, as RunPod sends them.
"""

from __future__ import annotations

import secrets
import time

from graphql import GraphQLError

from .lifecycle import Lifecycle, parse_ports
from .store import (
    DATA_CENTERS,
    GPU_TYPES,
    Pod,
    Store,
    Volume,
    gpu_type,
    js_date,
    random_id,
)

NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
HOST_GPUS_BUSY = "There are not enough free GPUs on the host machine to start this pod."
SPOT_AS_ON_DEMAND = "Cannot resume a spot pod as an on demand pod."
GENERIC = "Something went wrong. Please try again later or contact support."
NOT_FOUND_TO_TERMINATE = "pod not found to terminate"
VOLUME_NEEDS_SECURE = "Network volumes are only available for Pods in the Secure Cloud."
NOT_AUTHORIZED = "You are not authorized to perform this action."


class Api:
    """The root value: one method per Query and Mutation field."""

    def __init__(self, store: Store, lifecycle: Lifecycle) -> None:
        self.store = store
        self.life = lifecycle

    # ---- queries ----

    def myself(self, info) -> dict:
        _require_user(info)
        pods = [self.pod_view(p) for p in self.store.live_pods()]
        return {
            "id": "user_sandbox",
            "email": "sandbox@localhost",
            "pubKey": self.store.pub_key,
            "clientBalance": 100.0,
            "currentSpendPerHr": round(sum(p.cost_per_hr for p in self.store.live_pods() if p.desired_status == "RUNNING"), 3),
            "pods": pods,
            "networkVolumes": [_volume_view(v) for v in self.store.volumes.values()],
        }

    def pod(self, info, input: dict) -> dict | None:
        pod = self.store.find_pod(input["podId"])
        if pod is None:
            return None
        _require_access(info, pod)
        return self.pod_view(pod)

    def gpuTypes(self, info, input: dict | None = None) -> list[dict]:
        wanted = (input or {}).get("id")
        return [_gpu_view(g) for g in GPU_TYPES if wanted is None or g.id == wanted]

    # ---- pod creation ----

    def podFindAndDeployOnDemand(self, info, input: dict) -> dict:
        _require_user(info)
        return self._deploy(input, interruptible=False, bid=None)

    def podRentInterruptable(self, info, input: dict) -> dict:
        _require_user(info)
        gpu = _known_gpu(input.get("gpuTypeId"))
        if input["bidPerGpu"] < gpu.spot_price:
            raise GraphQLError(f"Your bid per GPU is below the minimum bid of ${gpu.spot_price}/hr for this GPU type.")
        return self._deploy(input, interruptible=True, bid=input["bidPerGpu"])

    def deployCpuPod(self, info, input: dict) -> dict:
        _require_user(info)
        return self._deploy({**input, "gpuTypeId": None, "gpuCount": 0}, interruptible=False, bid=None)

    def _deploy(self, args: dict, interruptible: bool, bid: float | None) -> dict:
        return self.pod_view(self.create_pod(args, interruptible, bid))

    def create_pod(self, args: dict, interruptible: bool, bid: float | None) -> Pod:
        """Create and boot a pod from GraphQL-shaped input (REST v2 translates its body to it)."""
        image = args.get("imageName")
        if not image and not args.get("templateId"):
            raise GraphQLError("Please provide an image name or a template.")
        gpu = _known_gpu(args["gpuTypeId"]) if args.get("gpuTypeId") else None
        gpu_count = args.get("gpuCount", 1) if gpu else 0
        if gpu and not 1 <= gpu_count <= gpu.max_count:
            raise GraphQLError(NO_CAPACITY)
        cloud = args.get("cloudType") or "ALL"
        volume = self._volume_for(args, cloud)
        data_center = self._data_center(args, volume, gpu)
        ports = (args.get("ports") or "").replace(" ", "")
        try:
            parse_ports(ports)
        except ValueError as bad:
            raise GraphQLError(f"Invalid port specification: {bad}.") from None
        env = env_pairs(args.get("env") or [])
        pod = Pod(
            id=self.store.new_pod_id(),
            name=args.get("name") or "",
            image=image or "runpod/base:0.0.0",
            gpu_type_id=gpu.id if gpu else None,
            gpu_count=gpu_count,
            cloud_type=cloud,
            interruptible=interruptible,
            bid_per_gpu=bid,
            container_disk_gb=args.get("containerDiskInGb") or 10,
            volume_gb=0 if volume else (args.get("volumeInGb") or 0),
            volume_mount_path=args.get("volumeMountPath") or "/runpod-volume",
            ports=ports,
            env=env,
            docker_args=args.get("dockerArgs") or "",
            network_volume_id=volume.id if volume else None,
            data_center_id=data_center,
            machine_id=random_id(12),
            pod_host_suffix=f"{secrets.randbelow(10**8):08d}",
            cost_per_hr=_price(gpu, gpu_count, cloud, bid),
            pod_api_key="rpa_POD" + secrets.token_hex(14).upper(),
            start_ssh=args.get("startSsh", True) is not False,
        )
        self.store.pods[pod.id] = pod
        self.life.boot(pod)
        self.store.save()
        return pod

    def _volume_for(self, args: dict, cloud: str) -> Volume | None:
        volume_id = args.get("networkVolumeId")
        if not volume_id:
            return None
        volume = self.store.volumes.get(volume_id)
        if volume is None:
            raise GraphQLError(f"Network volume {volume_id} not found.")
        if cloud != "SECURE":
            raise GraphQLError(VOLUME_NEEDS_SECURE)
        return volume

    def _data_center(self, args: dict, volume: Volume | None, gpu) -> str:
        """Where the pod lands: the first candidate data center with stock of its GPU type."""
        wanted = args.get("dataCenterId")
        candidates = [wanted] if wanted else list(args.get("dataCenterIds") or ())
        if any(dc not in DATA_CENTERS for dc in candidates):
            raise GraphQLError(NO_CAPACITY)
        if volume:
            if candidates and volume.data_center_id not in candidates:
                raise GraphQLError(
                    f"Network volume {volume.id} is in data center {volume.data_center_id}; "
                    f"a pod using it cannot be deployed in {', '.join(candidates)}."
                )
            candidates = [volume.data_center_id]
        for data_center in candidates or DATA_CENTERS:
            if gpu is None or self.store.stock_level(gpu.id, data_center) != "NONE":
                return data_center
        raise GraphQLError(NO_CAPACITY)

    # ---- pod transitions ----

    def podResume(self, info, input: dict) -> dict:
        pod = self._user_pod(info, input["podId"])
        if pod.interruptible:
            raise GraphQLError(SPOT_AS_ON_DEMAND)
        return self._resume(pod, input["gpuCount"])

    def podBidResume(self, info, input: dict) -> dict:
        pod = self._user_pod(info, input["podId"])
        pod.bid_per_gpu = input["bidPerGpu"]
        return self._resume(pod, input["gpuCount"])

    def _resume(self, pod: Pod, gpu_count: int) -> dict:
        self.resume_pod(pod, gpu_count)
        return self.pod_view(pod)

    def resume_pod(self, pod: Pod, gpu_count: int) -> None:
        """Start a stopped pod on its host; HOST_GPUS_BUSY when the host's GPUs are gone."""
        if pod.desired_status == "RUNNING":
            return
        gpu = gpu_type(pod.gpu_type_id) if pod.gpu_type_id else None
        if gpu and not 0 <= gpu_count <= gpu.max_count:
            raise GraphQLError(HOST_GPUS_BUSY)
        if gpu and gpu_count and self.store.stock_level(gpu.id, pod.data_center_id) == "NONE":
            raise GraphQLError(HOST_GPUS_BUSY)
        pod.gpu_count = gpu_count
        self.life.boot(pod)
        self.store.save()

    def podStop(self, info, input: dict) -> dict:
        pod = self.store.find_pod(input["podId"])
        if pod is None:
            raise GraphQLError("Pod not found.")
        _require_access(info, pod)
        if pod.desired_status == "RUNNING":
            self.life.halt(pod, f"Exited by user: {js_date()}")
            self.store.save()
        return self.pod_view(pod)

    def podTerminate(self, info, input: dict) -> None:
        pod = self.store.find_pod(input["podId"])
        if pod is None:
            raise GraphQLError(NOT_FOUND_TO_TERMINATE)
        _require_access(info, pod)
        self.life.terminate(pod)
        self.store.save()
        return None

    def _user_pod(self, info, pod_id: str) -> Pod:
        _require_user(info)
        pod = self.store.find_pod(pod_id)
        if pod is None:
            raise GraphQLError("Pod not found.")
        return pod

    # ---- account and volumes ----

    def updateUserSettings(self, info, input: dict) -> dict:
        _require_user(info)
        if "pubKey" in input:
            self.store.pub_key = input["pubKey"]
            self.store.save()
        return {"id": "user_sandbox", "pubKey": self.store.pub_key}

    def createNetworkVolume(self, info, input: dict) -> dict:
        _require_user(info)
        if input["dataCenterId"] not in DATA_CENTERS:
            raise GraphQLError(f"Unknown data center {input['dataCenterId']}.")
        if input["size"] < 1:
            raise GraphQLError("Network volume size must be at least 1 GB.")
        volume = Volume(self.store.new_volume_id(), input["name"], input["size"], input["dataCenterId"])
        self.store.volumes[volume.id] = volume
        self.store.volume_dir(volume.id).mkdir(parents=True, exist_ok=True)
        self.store.save()
        return _volume_view(volume)

    def deleteNetworkVolume(self, info, input: dict) -> None:
        _require_user(info)
        if input["id"] not in self.store.volumes:
            raise GraphQLError(f"Tried to delete nonexistent network volume {input['id']}.")
        if any(p.network_volume_id == input["id"] for p in self.store.live_pods()):
            raise GraphQLError("Network volume is in use by a pod.")
        del self.store.volumes[input["id"]]
        self.store.save()
        return None

    # ---- views ----

    def pod_view(self, pod: Pod) -> dict:
        gpu = gpu_type(pod.gpu_type_id) if pod.gpu_type_id else None
        running = pod.desired_status == "RUNNING"
        return {
            "id": pod.id,
            "name": pod.name,
            "containerDiskInGb": pod.container_disk_gb,
            "costPerHr": pod.cost_per_hr,
            "adjustedCostPerHr": pod.cost_per_hr,
            "createdAt": pod.created_at,
            "lastStartedAt": pod.last_started_at,
            "desiredStatus": pod.desired_status,
            "dockerArgs": pod.docker_args,
            "dockerId": None,
            "env": [f"{k}={v}" for k, v in pod.env],
            "gpuCount": pod.gpu_count,
            "imageName": pod.image,
            "lastStatusChange": pod.last_status_change,
            "machineId": pod.machine_id,
            "memoryInGb": 31.0 * max(pod.gpu_count, 1),
            "podType": "INTERRUPTABLE" if pod.interruptible else "RESERVED",
            "port": None,
            "ports": pod.ports,
            "uptimeSeconds": int(time.monotonic() - pod.started_monotonic) if running else 0,
            "vcpuCount": 8.0,
            "volumeInGb": float(pod.volume_gb),
            "volumeMountPath": pod.volume_mount_path,
            "networkVolumeId": pod.network_volume_id,
            "runtime": self.life.runtime_view(pod),
            "machine": {
                "podHostId": pod.pod_host_id,
                "gpuDisplayName": gpu.display_name if gpu else None,
                "gpuTypeId": pod.gpu_type_id,
                "dataCenterId": pod.data_center_id,
                "location": pod.data_center_id,
                "secureCloud": pod.cloud_type == "SECURE",
            },
        }


def _require_user(info) -> None:
    if info.context["pod"] is not None:
        raise GraphQLError(NOT_AUTHORIZED)


def _require_access(info, pod: Pod) -> None:
    """A pod-scoped key may act on its own pod only."""
    caller = info.context["pod"]
    if caller is not None and caller.id != pod.id:
        raise GraphQLError(NOT_AUTHORIZED)


def _known_gpu(gpu_id: str | None):
    gpu = gpu_type(gpu_id or "")
    if gpu is None:
        raise GraphQLError(NO_CAPACITY)
    return gpu


def env_pairs(items: list[dict]) -> list[list[str]]:
    pairs = []
    for item in items:
        key, value = item["key"], item.get("value") or ""
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise GraphQLError(f"Invalid environment variable {key!r}: names cannot be empty or hold '=', and no value may hold a NUL character.")
        pairs.append([key, value])
    return pairs


def _price(gpu, count: int, cloud: str, bid: float | None) -> float:
    if gpu is None:
        return 0.08
    per_gpu = bid if bid is not None else (gpu.community_price if cloud == "COMMUNITY" else gpu.secure_price)
    return round(per_gpu * count, 3)


def _volume_view(volume: Volume) -> dict:
    return {"id": volume.id, "name": volume.name, "size": volume.size, "dataCenterId": volume.data_center_id}


def _gpu_view(gpu) -> dict:
    lowest = {
        "gpuName": gpu.display_name,
        "gpuTypeId": gpu.id,
        "minimumBidPrice": gpu.spot_price,
        "uninterruptablePrice": gpu.secure_price,
        "stockStatus": "High",
        "availableGpuCounts": [n for n in (1, 2, 4, 8) if n <= gpu.max_count],
    }
    return {
        "id": gpu.id,
        "displayName": gpu.display_name,
        "manufacturer": "Nvidia",
        "memoryInGb": gpu.memory_gb,
        "maxGpuCount": gpu.max_count,
        "cudaCores": 0,
        "secureCloud": True,
        "communityCloud": True,
        "securePrice": gpu.secure_price,
        "communityPrice": gpu.community_price,
        "oneMonthPrice": round(gpu.secure_price * 0.9, 3),
        "threeMonthPrice": round(gpu.secure_price * 0.85, 3),
        "oneWeekPrice": round(gpu.secure_price * 0.95, 3),
        "communitySpotPrice": round(gpu.community_price * 0.5, 3),
        "secureSpotPrice": gpu.spot_price,
        "lowestPrice": lambda info, input=None: lowest,
    }
