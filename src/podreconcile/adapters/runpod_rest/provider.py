"""RunPod's REST v2 API as core's Provider: one request per operation (account: two).

Lists come whole: RunPod's document defines no paging for `GET /v2/pods` or
`GET /v2/network-volumes` (no cursor, no page parameters, no Link header), so there is none to follow.

Pod actions answer 409 when the action is not valid in the pod's status (`actions` lists the valid
ones). A stop or start that meets a 409 reads the pod once: already stopped (or started) is done;
anything else is a PermanentError naming the status, never a blind retry.
"""

from __future__ import annotations

from pydantic import ValidationError

from podreconcile.adapters.runpod_rest import errors, facts, models
from podreconcile.adapters.runpod_rest.client import DEFAULT_BASE_URL, Client, segment
from podreconcile.core.errors import PermanentError, UserError
from podreconcile.core.observation import PodFacts, PodStatus, VolumeFacts
from podreconcile.core.ports import (
    ActionConflictError,
    CreateRequest,
    GpuOffer,
    NoCapacityError,
    NotFoundError,
    PodPatch,
)

_STOPPED = (PodStatus.EXITED, PodStatus.TERMINATED)


class RestProvider:
    """The Provider over REST v2. Spot pods are not in v2: those calls go to the GraphQL provider."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.api_base_url = client.base_url

    @classmethod
    def connect(cls, api_key: str, base_url: str = DEFAULT_BASE_URL) -> "RestProvider":
        return cls(Client(api_key, base_url))

    def __repr__(self) -> str:
        return f"RestProvider(base_url={self.api_base_url!r}, api_key=<hidden>)"

    def close(self) -> None:
        self._client.close()

    # ---- reading ----

    def account(self) -> tuple[list[PodFacts], list[VolumeFacts]]:
        volumes = self._client.read("list network volumes", "GET", "/network-volumes", models.NetworkVolumeList)
        return self.list_pods(), [facts.volume_facts(v) for v in volumes.network_volumes]

    def list_pods(self) -> list[PodFacts]:
        listed = self._client.read("list pods", "GET", "/pods", models.PodList)
        return [facts.pod_facts(p) for p in listed.pods]

    def get_pod(self, pod_id: str) -> PodFacts | None:
        try:
            pod = self._client.read(f"get pod {pod_id}", "GET", f"/pods/{segment(pod_id)}", models.Pod)
        except NotFoundError:
            return None
        return facts.pod_facts(pod)

    def gpu_prices(self, cloud: str, interruptible: bool) -> dict[str, float]:
        if interruptible:
            raise PermanentError("RunPod's v2 API has no spot prices; spot pods go through the GraphQL provider.")
        return {o.id: o.price_per_gpu for o in self._offers(None, cloud, 1, stock=False)
                if o.price_per_gpu is not None}

    def gpu_catalog(self, data_center: str | None, cloud: str, gpu_count: int = 1) -> list[GpuOffer]:
        return self._offers(data_center, cloud, gpu_count, stock=True)

    def _offers(self, data_center: str | None, cloud: str, gpu_count: int, stock: bool) -> list[GpuOffer]:
        per_type: dict[str, list[GpuOffer]] = {}
        for tier in _clouds(cloud):
            params = {"include": "AVAILABILITY", "product": "POD", "count": gpu_count, "cloud": tier} if stock else {}
            listed = self._client.read("read the GPU catalog", "GET", "/catalog/gpus", models.GpuTypeList,
                                       params=params)
            for gpu in listed.gpus:
                per_type.setdefault(gpu.id, []).append(facts.offer(gpu, tier, data_center if stock else None))
        return [facts.best_of(offers) for offers in per_type.values()]

    # ---- changing ----

    def create_pod(self, req: CreateRequest) -> str:
        if req.interruptible:
            raise PermanentError("RunPod's v2 API has no interruptible (spot) pods; they go through the GraphQL provider.")
        last: NoCapacityError | None = None
        for tier in _clouds(req.cloud, network_volume=bool(req.network_volume_id)):
            try:
                pod = self._client.read(f"create pod {_sent(req, tier)}", "POST", "/pods", models.Pod,
                                        body=_create_body(req, tier).body())
                return pod.id
            except NoCapacityError as error:
                last = error  # cloud "all": the other tier may have one
        raise last or NoCapacityError(f"RunPod has no {req.gpu_type_id}")

    def resume_pod(self, pod_id: str, gpu_count: int, bid_per_gpu: float | None = None) -> None:
        """Start the pod (v2 starts it with the GPU count it was made with)."""
        if bid_per_gpu is not None:
            raise PermanentError("RunPod's v2 API cannot resume a spot pod with a bid; that goes through GraphQL.")
        self._action(pod_id, "start", done=lambda status: status.is_up)

    def stop_pod(self, pod_id: str) -> None:
        self._action(pod_id, "stop", done=lambda status: status in _STOPPED)

    def restart_pod(self, pod_id: str) -> None:
        """v2's restart; a pod still booting (which RunPod lets only stop) is stopped and started."""
        try:
            self._client.call(f"restart pod {pod_id}", "POST", f"/pods/{segment(pod_id)}/action",
                              body=models.PodActionRequest(action="restart").body())
        except ActionConflictError:
            pod = self.get_pod(pod_id)
            if pod is None or pod.status not in (PodStatus.PROVISIONING, PodStatus.STARTING):
                raise
            self.stop_pod(pod_id)
            self.resume_pod(pod_id, pod.gpu_count or 1)

    def terminate_pod(self, pod_id: str) -> None:
        """Terminate; a pod that is already gone is not an error."""
        try:
            self._client.call(f"terminate pod {pod_id}", "DELETE", f"/pods/{segment(pod_id)}")
        except NotFoundError:
            pass

    def patch_pod(self, pod_id: str, patch: PodPatch) -> PodFacts:
        body = models.PatchPod(image=patch.image, env=patch.env, args=patch.args,
                               ports=list(patch.ports) if patch.ports is not None else None,
                               disk=patch.container_disk_gb)
        pod = self._client.read(f"update pod {pod_id} ({', '.join(patch.changed())})", "PATCH",
                                f"/pods/{segment(pod_id)}", models.Pod, body=body.body())
        return facts.pod_facts(pod)

    def _action(self, pod_id: str, action: str, done) -> None:
        """POST the action; on 409, read the pod: `done(status)` means it is already so."""
        body = models.PodActionRequest(action=action).body()
        try:
            self._client.call(f"{action} pod {pod_id}", "POST", f"/pods/{segment(pod_id)}/action", body=body)
        except ActionConflictError as conflict:
            pod = self.get_pod(pod_id)
            if pod is not None and done(pod.status):
                return
            if pod is None and action == "stop":
                return  # gone is stopped too
            now = pod.status.value if pod else "gone"
            allowed = ", ".join(a.value for a in pod.actions or ()) if pod else ""
            raise PermanentError(f"{conflict}; the pod is {now}" + (f" (RunPod allows: {allowed})" if allowed else "")
                                 + f", so it cannot {action} now; check it with `podreconcile status`.") from None


def _sent(req: CreateRequest, tier: str) -> str:
    """What a create sends, for its error messages: every field but env values (they may be secrets)."""
    where = req.data_center_id or "any data center"
    volume = f"network volume {req.network_volume_id}" if req.network_volume_id else f"volume {req.volume_gb} GB"
    env = ", ".join(sorted(req.env)) or "none"
    return (f"{req.name} (image {req.image}, {req.gpu_count} x {req.gpu_type_id}, {tier} cloud, {where}, "
            f"disk {req.container_disk_gb} GB, {volume} at {req.volume_mount_path}, ports {req.ports}, env {env})")


def _clouds(cloud: str, network_volume: bool = False) -> list[str]:
    """v2 tiers for the spec's cloud: "all" tries Secure then Community (network volumes: Secure only)."""
    if cloud.lower() == "community":
        return ["COMMUNITY"]
    if cloud.lower() == "all" and not network_volume:
        return ["SECURE", "COMMUNITY"]
    return ["SECURE"]


def _create_body(req: CreateRequest, tier: str) -> models.CreatePod:
    try:
        return models.CreatePod(
            name=req.name, image=req.image, gpu=models.GpuRequest(id=req.gpu_type_id, count=req.gpu_count),
            cloud=tier, disk=req.container_disk_gb, env=dict(req.env),
            ports=[p.strip() for p in req.ports.split(",") if p.strip()], mounts=_mounts(req),
            data_center_ids=[req.data_center_id] if req.data_center_id else None, start_ssh=True,
        )
    except ValidationError as error:
        raise errors.shape_error(f"create pod {req.name} (our request)", error) from None


def _mounts(req: CreateRequest) -> models.Mounts | None:
    if req.network_volume_id:
        return models.Mounts(network=[models.NetworkMount(volume_id=req.network_volume_id, path=req.volume_mount_path)])
    if not req.volume_gb:
        return None
    if req.volume_gb < 10:
        raise UserError(f"pod.volume_gb is {req.volume_gb}, but RunPod makes a pod's volume disk of 10 GB or more; "
                        "set pod.volume_gb to 10 or more.")
    return models.Mounts(persistent=models.PersistentMount(size=req.volume_gb, path=req.volume_mount_path))
