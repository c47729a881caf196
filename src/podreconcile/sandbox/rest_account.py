"""REST v2 beyond pods: network volumes, the account's SSH keys, the catalog and pod billing.

The catalog's stock comes from `Store.stock` (set by `podreconcile sandbox stock`): a GPU type with
stock NONE in a data center shows NONE there and cannot be placed there (RunPod's capacity
sentence). Query parameters follow the published contract: those valid only with
`include=AVAILABILITY` are refused without it (400), malformed values are 422, and a parameter the
route does not take is refused by name (400).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .rest import Problem, Request, check_query
from .rest_checks import CREATE_VOLUME, SSH_KEYS, UPDATE_VOLUME
from .rest_views import (
    CUDA_VERSION,
    DATA_CENTER_INFO,
    data_center_view,
    gpu_view,
    volume_view,
)
from .store import DATA_CENTERS, GPU_TYPES, Store, Volume, gpu_type

GPU_QUERY = ("include", "product", "count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion")
AVAILABILITY_ONLY = GPU_QUERY[2:]
DATA_CENTER_QUERY = ("include", "regions", "networkVolumeTypes", "compliance", "globalNetwork")
BILLING_QUERY = ("startTime", "endTime", "bucketSize", "lastN", "podId")
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1),
           "month": timedelta(days=31), "year": timedelta(days=366)}  # fmt: skip


class AccountRoutes:
    def __init__(self, store: Store, life) -> None:
        self.store = store
        self.life = life

    # ---- network volumes ----

    def list_volumes(self, req: Request):
        _account_only(req)
        return 200, {"networkVolumes": [volume_view(v) for v in self.store.volumes.values()]}

    def create_volume(self, req: Request):
        _account_only(req)
        body = req.body(CREATE_VOLUME)
        if body["dataCenter"] not in DATA_CENTERS:
            raise Problem(400, f"Unknown data center {body['dataCenter']}; GET /v2/catalog/datacenters lists them.")
        volume = Volume(self.store.new_volume_id(), body["name"], body["size"], body["dataCenter"])
        self.store.volumes[volume.id] = volume
        self.store.volume_dir(volume.id).mkdir(parents=True, exist_ok=True)
        self.store.save()
        return 201, volume_view(volume)

    def get_volume(self, req: Request):
        return 200, volume_view(self._volume(req))

    def update_volume(self, req: Request):
        volume = self._volume(req)
        body = req.body(UPDATE_VOLUME)
        if body.get("size", volume.size) < volume.size:
            raise Problem(400, f"A network volume cannot shrink: it has {volume.size} GB.")
        volume.name = body.get("name", volume.name)
        volume.size = body.get("size", volume.size)
        self.store.save()
        return 200, volume_view(volume)

    def delete_volume(self, req: Request):
        volume = self._volume(req)
        if any(p.network_volume_id == volume.id for p in self.store.live_pods()):
            raise Problem(400, "The network volume is in use by a pod; terminate the pod first.")
        del self.store.volumes[volume.id]
        self.store.save()
        return 204, None

    def _volume(self, req: Request) -> Volume:
        _account_only(req)
        volume = self.store.volumes.get(req.params["id"])
        if volume is None:
            raise Problem(404, "network volume not found")
        return volume

    # ---- SSH keys ----

    def get_ssh_keys(self, req: Request):
        _account_only(req)
        return 200, {"keys": [k for k in (self.store.pub_key or "").splitlines() if k.strip()]}

    def put_ssh_keys(self, req: Request):
        _account_only(req)
        keys = req.body(SSH_KEYS)["keys"]
        self.store.pub_key = "\n".join(keys) or None
        self.store.save()
        return 200, {"keys": keys}

    # ---- catalog ----

    def list_gpus(self, req: Request):
        _account_only(req)
        availability = _availability(req)
        views = [gpu_view(g, self.store, availability) for g in GPU_TYPES]
        if availability and availability["countries"]:
            views = [v for v in views if v.get("dataCenters")]
        return 200, {"gpus": views}

    def get_gpu(self, req: Request):
        _account_only(req)
        availability = _availability(req)
        gpu = gpu_type(req.params["id"])
        if gpu is None:
            raise Problem(404, f"GPU type {req.params['id']} not found")
        return 200, gpu_view(gpu, self.store, availability)

    def list_data_centers(self, req: Request):
        _account_only(req)
        with_gpus = _data_center_include(req)
        regions = _enum_list(req, "regions", ("NORTH_AMERICA", "SOUTH_AMERICA", "EUROPE", "ASIA", "MIDDLE_EAST",
                                              "AFRICA", "OCEANIA", "ANTARCTICA", "UNKNOWN"))  # fmt: skip
        volume_types = _enum_list(req, "networkVolumeTypes", ("STANDARD", "HIGH_PERFORMANCE"))
        compliance = req.arg_list("compliance")
        global_network = req.arg("globalNetwork")
        if global_network not in (None, "true", "false"):
            raise Problem(422, "Request validation failed.", ["$.globalNetwork: expected a boolean"])
        chosen = [
            dc for dc in DATA_CENTERS
            if (not regions or DATA_CENTER_INFO[dc][1] in regions)
            and set(volume_types) <= {"STANDARD"} and not compliance and global_network != "true"
        ]  # fmt: skip
        return 200, {"dataCenters": [data_center_view(dc, self.store, with_gpus) for dc in chosen]}

    def get_data_center(self, req: Request):
        _account_only(req)
        with_gpus = _data_center_include(req)
        check_query(req.query, ("include",))
        if req.params["id"] not in DATA_CENTERS:
            raise Problem(404, f"data center {req.params['id']} not found")
        return 200, data_center_view(req.params["id"], self.store, with_gpus)

    # ---- billing ----

    def pod_billing(self, req: Request):
        _account_only(req)
        check_query(req.query, BILLING_QUERY)
        bucket = req.arg("bucketSize") or "day"
        if bucket not in BUCKETS:
            raise Problem(422, "Request validation failed.", [f"$.bucketSize: must be one of {', '.join(BUCKETS)}"])
        if req.arg("lastN") and (req.arg("startTime") or req.arg("endTime")):
            raise Problem(400, "lastN and startTime/endTime are mutually exclusive.")
        start = _bucket_start(datetime.now(UTC), bucket)
        end = start + BUCKETS[bucket]
        pod_id = req.arg("podId")
        pods = [p for p in self.store.pods.values() if pod_id is None or p.id == pod_id]
        records = [_billing_record(start, end, p.id, p.billed_usd + self.life.running_charge(p), bool(p.gpu_type_id))
                   for p in pods]  # fmt: skip
        totals = {k: round(sum(r[k] for r in records), 6) for k in ("totalAmount", "gpuAmount", "cpuAmount", "diskAmount")}
        query = {"startTime": _iso(start), "endTime": _iso(end), "bucketSize": bucket, "podId": pod_id}
        metadata = {"query": query, "recordCount": len(records), "uniquePodCount": len(records), "totals": totals}
        return 200, {"records": records, "metadata": metadata}


def _account_only(req: Request) -> None:
    if req.caller is not None:
        raise Problem(403, "access denied")


def _availability(req: Request) -> dict | None:
    """The availability request of a GPU catalog call, or None when it asks for none."""
    check_query(req.query, GPU_QUERY)
    include = _enum_list(req, "include", ("AVAILABILITY",))
    products = _enum_list(req, "product", ("POD", "CLUSTER", "SERVERLESS"))
    if not include:
        extra = [name for name in ("product", *AVAILABILITY_ONLY) if name in req.query]
        if extra:
            raise Problem(400, f"Query parameter '{extra[0]}' is valid only with include=AVAILABILITY.")
        return None
    if not products:
        raise Problem(400, "include=AVAILABILITY requires product (POD, CLUSTER or SERVERLESS).")
    count = req.arg("count") or "1"
    if not count.isdigit() or int(count) < 1:
        raise Problem(422, "Request validation failed.", ["$.count: must be an integer >= 1"])
    _enum_list(req, "cloud", ("SECURE", "COMMUNITY"))
    countries = req.arg_list("countryCodes")
    bad = [c for c in countries if not re.fullmatch(r"[A-Z]{2}", c)]
    if bad:
        raise Problem(422, "Request validation failed.", [f"$.countryCodes: '{bad[0]}' is not an ISO 3166-1 alpha-2 code"])
    return {"count": int(count), "countries": countries, "cuda_ok": _cuda_ok(req)}


def _cuda_ok(req: Request) -> bool:
    exact, minimum = req.arg_list("cudaVersions"), req.arg("minCudaVersion")
    if exact and minimum:
        raise Problem(400, "cudaVersions and minCudaVersion are mutually exclusive.")
    if any(not re.fullmatch(r"\d+\.\d+", v) for v in exact) or (minimum and not re.fullmatch(r"\d+(\.\d+)?", minimum)):
        raise Problem(422, "Request validation failed.", ["$.cudaVersions: expected major.minor versions"])
    if exact:
        return CUDA_VERSION in exact
    return not minimum or tuple(map(int, minimum.split("."))) <= tuple(map(int, CUDA_VERSION.split(".")))


def _data_center_include(req: Request) -> bool:
    check_query(req.query, DATA_CENTER_QUERY)
    return "GPU_AVAILABILITY" in _enum_list(req, "include", ("GPU_AVAILABILITY", "CPU_AVAILABILITY"))


def _enum_list(req: Request, name: str, values: tuple[str, ...]) -> list[str]:
    chosen = req.arg_list(name)
    wrong = [v for v in chosen if v not in values]
    if wrong:
        raise Problem(422, "Request validation failed.", [f"$.{name}: '{wrong[0]}' is not one of {', '.join(values)}"])
    return chosen


def _bucket_start(now: datetime, bucket: str) -> datetime:
    if bucket == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "year":
        return day.replace(month=1, day=1)
    return day


def _billing_record(start: datetime, end: datetime, pod_id: str, amount: float, gpu: bool) -> dict:
    amount = round(amount, 6)
    return {"startTime": _iso(start), "endTime": _iso(end), "podId": pod_id, "totalAmount": amount,
            "gpuAmount": amount if gpu else 0.0, "cpuAmount": 0.0 if gpu else amount, "diskAmount": 0.0}  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

