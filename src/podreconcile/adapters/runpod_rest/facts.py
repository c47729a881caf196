"""RunPod v2 answers -> core's facts: pods, network volumes, catalog offers."""

from __future__ import annotations

from podreconcile.adapters.runpod_rest import models
from podreconcile.core.observation import (
    Endpoint,
    PodAction,
    PodFacts,
    PodStatus,
    VolumeFacts,
)
from podreconcile.core.ports import GpuOffer, StockLevel

_STOCK_RANK = {StockLevel.UNKNOWN: 0, StockLevel.NONE: 1, StockLevel.LOW: 2, StockLevel.MEDIUM: 3,
               StockLevel.HIGH: 4}


def pod_facts(pod: models.Pod) -> PodFacts:
    """One pod. SSH is `ssh.direct` (sshd on the published 22/tcp), only while the pod is up."""
    status = PodStatus.parse(pod.status)
    network = (pod.mounts.network or []) if pod.mounts else []
    return PodFacts(
        id=pod.id,
        name=pod.name,
        status=status,
        image=pod.image,
        gpu_type_id=pod.gpu.id if pod.gpu else None,
        gpu_count=pod.gpu.count if pod.gpu else 0,
        network_volume_id=network[0].volume_id if network else None,
        data_center_id=pod.data_center_id,
        cost_per_hr=pod.cost,
        uptime_seconds=pod.runtime.uptime if pod.runtime else None,
        started_at=pod.started_at,
        ssh=_direct_ssh(pod) if status.is_up else None,
        actions=PodAction.parse_all(pod.actions),
    )


def _direct_ssh(pod: models.Pod) -> Endpoint | None:
    direct = pod.ssh.direct if pod.ssh else None
    return Endpoint(direct.host, direct.port) if direct else None


def volume_facts(volume: models.NetworkVolume) -> VolumeFacts:
    return VolumeFacts(volume.id, volume.name, volume.size, volume.data_center)


def offer(gpu: models.GpuType, cloud: str, data_center: str | None) -> GpuOffer:
    """One GPU type as seen for `cloud` (SECURE | COMMUNITY), in `data_center` when given."""
    secure = cloud == "SECURE"
    offered = gpu.secure if secure else gpu.community
    price = gpu.price.secure if secure else gpu.price.community
    most = gpu.max_count.secure if secure else gpu.max_count.community
    return GpuOffer(id=gpu.id, name=gpu.name, memory_gb=gpu.memory, price_per_gpu=price if offered else None,
                    stock=_stock(gpu, data_center) if offered else StockLevel.NONE, max_count=most)


def _stock(gpu: models.GpuType, data_center: str | None) -> StockLevel:
    if data_center is None:
        return StockLevel.parse(gpu.availability) if gpu.availability else StockLevel.UNKNOWN
    if gpu.availability is None:
        return StockLevel.UNKNOWN  # availability was not reported at all
    here = next((d for d in gpu.data_centers or () if d.id == data_center), None)
    return StockLevel.parse(here.availability) if here else StockLevel.NONE


def best_of(offers: list[GpuOffer]) -> GpuOffer:
    """One GPU type across clouds ("all"): the most stock, and the lowest price among clouds offering it."""
    prices = [o.price_per_gpu for o in offers if o.price_per_gpu is not None]
    top = max(offers, key=lambda o: _STOCK_RANK[o.stock])
    counts = [o.max_count for o in offers if o.max_count]
    return GpuOffer(id=top.id, name=top.name, memory_gb=top.memory_gb, price_per_gpu=min(prices) if prices else None,
                    stock=top.stock, max_count=max(counts) if counts else None)
