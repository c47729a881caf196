"""REST v2 pods: list, create, get, update (PATCH), delete and actions, on the GraphQL side's store.

A pod created here is the same object `myself.pods` lists over GraphQL, and the reverse. Creation
goes through the resolvers' `create_pod`, so placement, stock, volumes and prices follow one set of
rules; their GraphQL errors (RunPod's sentences) become `400` problems here.

PATCH changes fields in place. `name` and `locked` act at once; `image`, `args`, `env`, `ports`,
`disk` and a mount's `path` are stored at once and take effect at the pod's next start or restart
(a running container keeps its process, and the pod's PID 1 reads its environment at start).
"""

from __future__ import annotations

import os

from graphql import GraphQLError

from .lifecycle import Lifecycle, parse_ports
from .resolvers import NO_CAPACITY, Api, env_pairs
from .rest import Problem, Request
from .rest_checks import CREATE_POD, POD_ACTION, UPDATE_POD
from .rest_views import ACTIONS, CUDA_VERSION, pod_view
from .store import Pod, Store, gpu_type, js_date

DEFAULT_DISK_GB = 20
KERNEL_DIRS = ("/proc", "/dev", "/sys")


class PodRoutes:
    def __init__(self, store: Store, life: Lifecycle, api: Api) -> None:
        self.store = store
        self.life = life
        self.api = api

    def list_pods(self, req: Request):
        _account_only(req)
        return 200, {"pods": [pod_view(p, self.life) for p in self.store.live_pods()]}

    def get_pod(self, req: Request):
        pod = self._pod(req)
        return 200, pod_view(pod, self.life)

    def create_pod(self, req: Request):
        _account_only(req)
        body = req.body(CREATE_POD)
        args = self._create_args(body)
        try:
            pod = self.api.create_pod(args, interruptible=False, bid=None)
        except GraphQLError as error:
            raise Problem(400, error.message) from None
        return 201, pod_view(pod, self.life)

    def update_pod(self, req: Request):
        _account_only(req)
        pod = self._pod(req)
        body = req.body(UPDATE_POD)
        _refuse_unsupported(body)
        self._check_mounts(pod, body.get("mounts") or {})
        ports = _ports(body["ports"]) if "ports" in body else None
        env = _env(body["env"]) if "env" in body else None
        _apply_update(pod, body, ports, env)
        self.store.save()
        return 200, pod_view(pod, self.life)

    def delete_pod(self, req: Request):
        _account_only(req)
        pod = self._pod(req)
        self.life.terminate(pod)
        self.store.save()
        return 204, None

    def pod_action(self, req: Request):
        body = req.body(POD_ACTION)
        pod = self._pod(req)
        action = body["action"]
        if req.caller is not None and action != "stop":
            raise Problem(403, "access denied")
        status = self.life.phase(pod)
        if action not in ACTIONS[status]:
            valid = ", ".join(ACTIONS[status]) or "none"
            raise Problem(409, f"Cannot {action} a pod in status {status}; valid actions now: {valid}.")
        if pod.locked and action in ("stop", "restart"):
            raise Problem(409, "The pod is locked; unlock it (PATCH locked: false) first.")
        if action == "terminate":
            self.life.terminate(pod)
            self.store.save()
            return 204, None
        self._transition(pod, action)
        self.store.save()
        return 200, pod_view(pod, self.life)

    # ---- helpers ----

    def _transition(self, pod: Pod, action: str) -> None:
        if action == "start":
            try:
                self.api.resume_pod(pod, pod.gpu_count)
            except GraphQLError as error:
                raise Problem(400, error.message) from None
        else:
            self.life.halt(pod, f"Exited by user: {js_date()}")
            if action == "restart":
                self.life.boot(pod)

    def _pod(self, req: Request) -> Pod:
        """The pod the path names; a pod-scoped key reaches its own pod only."""
        pod = self.store.find_pod(req.params["id"])
        if pod is None:
            raise Problem(404, "pod not found")
        if req.caller is not None and req.caller.id != pod.id:
            raise Problem(403, "access denied")
        return pod

    def _create_args(self, body: dict) -> dict:
        """The create body, checked across fields, as the resolvers' GraphQL-shaped input."""
        _refuse_unsupported(body)
        if ("gpu" in body) == ("cpu" in body):
            raise Problem(400, "Exactly one of gpu or cpu must be set.")
        if "image" not in body:
            raise Problem(422, "Request validation failed.", ["$: missing property 'image'"])
        mounts = body.get("mounts") or {}
        if mounts.get("persistent") and mounts.get("network"):
            raise Problem(400, "mounts.persistent and mounts.network are mutually exclusive.")
        if "cpu" in body and mounts.get("persistent"):
            raise Problem(400, "CPU pods cannot have a persistent mount; use a network volume.")
        gpu = self._gpu_request(body.get("gpu"))
        persistent = mounts.get("persistent") or {}
        network = (mounts.get("network") or [{}])[0]
        if network and network["volumeId"] not in self.store.volumes:
            raise Problem(404, f"network volume {network['volumeId']} not found")
        path = persistent.get("path") or network.get("path")
        if path is not None:
            _check_mount_path(path)
        return {
            "name": body["name"],
            "imageName": body["image"],
            "gpuTypeId": gpu["id"] if gpu else None,
            "gpuCount": gpu.get("count", 1) if gpu else 0,
            "cloudType": body.get("cloud", "SECURE"),
            "containerDiskInGb": body.get("disk", DEFAULT_DISK_GB),
            "volumeInGb": persistent.get("size", 0),
            "volumeMountPath": path,
            "networkVolumeId": network.get("volumeId"),
            "dataCenterIds": body.get("dataCenterIds") or [],
            "ports": _ports(body.get("ports") or []),
            "env": [{"key": k, "value": v} for k, v in (body.get("env") or {}).items()],
            "dockerArgs": body.get("args", ""),
            "startSsh": body.get("startSsh", False),
        }

    def _gpu_request(self, gpu: dict | None) -> dict | None:
        if gpu is None:
            return None
        if gpu_type(gpu["id"]) is None:
            raise Problem(400, f"GPU type '{gpu['id']}' does not exist; GET /v2/catalog/gpus lists the GPU types.")
        allowed, minimum = gpu.get("allowedCudaVersions") or [], gpu.get("minCudaVersion")
        if allowed and minimum:
            raise Problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive.")
        if (allowed and CUDA_VERSION not in allowed) or (minimum and _version(minimum) > _version(CUDA_VERSION)):
            raise Problem(400, NO_CAPACITY)
        return gpu

    def _check_mounts(self, pod: Pod, mounts: dict) -> None:
        """PATCH mounts: the kind is fixed at create, a volume id never changes, a disk never shrinks."""
        if "network" in mounts:
            if mounts["network"] == []:
                raise Problem(400, "Clearing mounts is not supported.")
            if pod.network_volume_id is None:
                raise Problem(400, "The mount kind is fixed at create: this pod has no network mount.")
            if mounts["network"][0]["volumeId"] != pod.network_volume_id:
                raise Problem(400, "The volumeId of a network mount cannot change.")
            _check_mount_path(mounts["network"][0]["path"])
        if "persistent" in mounts:
            if pod.volume_gb <= 0 or pod.network_volume_id:
                raise Problem(400, "The mount kind is fixed at create: this pod has no persistent mount.")
            if mounts["persistent"]["size"] < pod.volume_gb:
                raise Problem(400, "A persistent mount cannot shrink.")
            _check_mount_path(mounts["persistent"]["path"])


def _account_only(req: Request) -> None:
    if req.caller is not None:
        raise Problem(403, "access denied")


def _refuse_unsupported(body: dict) -> None:
    """The sandbox has no templates and no registry credentials: naming one is a 404, as for any unknown id."""
    if "templateId" in body:
        raise Problem(404, f"template {body['templateId']} not found")
    if body.get("registry"):
        raise Problem(404, f"container registry credential {body['registry']} not found")
    if body.get("globalNetworking"):
        raise Problem(400, "Global networking is not available in this data center.")


def _apply_update(pod: Pod, body: dict, ports: str | None, env: list | None) -> None:
    simple = {"name": "name", "image": "image", "args": "docker_args", "disk": "container_disk_gb", "locked": "locked"}
    for field, attribute in simple.items():
        if field in body:
            setattr(pod, attribute, body[field])
    if ports is not None:
        pod.ports = ports
    if env is not None:
        pod.env = env
    mounts = body.get("mounts") or {}
    if mounts.get("persistent"):
        pod.volume_gb = mounts["persistent"]["size"]
        pod.volume_mount_path = mounts["persistent"]["path"]
    if mounts.get("network"):
        pod.volume_mount_path = mounts["network"][0]["path"]


def _ports(ports: list[str]) -> str:
    joined = ",".join(ports)
    try:
        parse_ports(joined)
    except ValueError as bad:
        raise Problem(400, f"Invalid port '{bad}': expected NUMBER/tcp or NUMBER/http.") from None
    return joined


def _env(env: dict[str, str]) -> list[list[str]]:
    try:
        return env_pairs([{"key": k, "value": v} for k, v in env.items()])
    except GraphQLError as error:
        raise Problem(400, error.message) from None


def _check_mount_path(path: str) -> None:
    normalized = path.startswith("/") and os.path.normpath(path) == path and path != "/"
    if not normalized or any(path == d or path.startswith(d + "/") for d in KERNEL_DIRS):
        raise Problem(400, f"Mount path '{path}' must be a normalized absolute path outside /proc, /dev and /sys.")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))
