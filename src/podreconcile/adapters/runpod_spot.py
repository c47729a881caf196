"""Spot pods: REST v2 for everything, RunPod's GraphQL only for what v2 lacks.

v2 has no interruptible pods: creating one, resuming one with a bid and reading spot prices still
need GraphQL while RunPod serves it. Everything else (listing, reading, stopping, terminating,
patching, the catalog) goes through v2, so nothing else depends on GraphQL.
"""

from __future__ import annotations

from podreconcile.adapters.runpod_graphql import RunPod
from podreconcile.adapters.runpod_rest import RestProvider
from podreconcile.core.observation import PodFacts, VolumeFacts
from podreconcile.core.ports import ApiRetiredError, CreateRequest, GpuOffer, PodPatch

SPOT_GONE = ("RunPod has retired its GraphQL API, the only API that rents spot pods, so pod.interruptible: true "
             "can no longer be served; switch to on-demand: set pod.interruptible: false and remove pod.bid_per_gpu")


def _spot(call):
    """A GraphQL call for spot; once GraphQL is gone, the one sentence that says how to switch."""
    try:
        return call()
    except ApiRetiredError:
        raise ApiRetiredError(SPOT_GONE + ".") from None


class SpotProvider:
    def __init__(self, rest: RestProvider, graphql: RunPod) -> None:
        self._rest, self._graphql = rest, graphql
        self.api_base_url = rest.api_base_url

    def __repr__(self) -> str:
        return f"SpotProvider({self._rest!r}, {self._graphql!r})"

    def close(self) -> None:
        self._rest.close()

    def create_pod(self, req: CreateRequest) -> str:
        if req.interruptible:
            return _spot(lambda: self._graphql.create_pod(req))
        return self._rest.create_pod(req)

    def resume_pod(self, pod_id: str, gpu_count: int, bid_per_gpu: float | None = None) -> None:
        if bid_per_gpu is not None:
            _spot(lambda: self._graphql.resume_pod(pod_id, gpu_count, bid_per_gpu))
        else:
            self._rest.resume_pod(pod_id, gpu_count)

    def gpu_prices(self, cloud: str, interruptible: bool) -> dict[str, float]:
        if interruptible:
            return _spot(lambda: self._graphql.gpu_prices(cloud, interruptible))
        return self._rest.gpu_prices(cloud, interruptible)

    def account(self) -> tuple[list[PodFacts], list[VolumeFacts]]:
        return self._rest.account()

    def list_pods(self) -> list[PodFacts]:
        return self._rest.list_pods()

    def get_pod(self, pod_id: str) -> PodFacts | None:
        return self._rest.get_pod(pod_id)

    def stop_pod(self, pod_id: str) -> None:
        self._rest.stop_pod(pod_id)

    def restart_pod(self, pod_id: str) -> None:
        self._rest.restart_pod(pod_id)

    def terminate_pod(self, pod_id: str) -> None:
        self._rest.terminate_pod(pod_id)

    def patch_pod(self, pod_id: str, patch: PodPatch) -> PodFacts:
        return self._rest.patch_pod(pod_id, patch)

    def gpu_catalog(self, data_center: str | None, cloud: str, gpu_count: int = 1) -> list[GpuOffer]:
        return self._rest.gpu_catalog(data_center, cloud, gpu_count)
