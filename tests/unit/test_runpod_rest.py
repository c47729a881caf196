"""The REST v2 provider against RunPod's documented behaviour, played by httpx.MockTransport.

Every answer here is shaped as RunPod's OpenAPI document for v2 says (api-reference-v2/openapi.json:
Pod, ListPodsResponse, NetworkVolume, GpuType, ErrorResponse as application/problem+json, 409 on a
pod action not valid in the pod's status, 429 with Retry-After). It is RunPod's behaviour, not ours.
"""

from __future__ import annotations

import json

import httpx
import pytest

from podreconcile.adapters.runpod_rest import Client, RestProvider
from podreconcile.adapters.runpod_rest.models import CreatePod, PatchPod
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Endpoint, PodAction, PodStatus
from podreconcile.core.ports import (
    CreateRequest,
    HostGpusBusyError,
    NoCapacityError,
    NotFoundError,
    PodPatch,
    StockLevel,
)
from podreconcile.engine import retry

KEY = "rpa_SECRETKEY_0123456789"
ENV_SECRET = "hf_SECRET_TOKEN_value"
BASE = "https://api.example.test"
CAPACITY = ("There are no longer any instances available with the requested specifications. "
            "Please refresh and try again.")
ACTIONS = {"PROVISIONING": ["stop", "terminate"], "STARTING": ["stop", "terminate"],
           "RUNNING": ["stop", "restart", "terminate"], "EXITED": ["start", "terminate"],
           "ERROR": ["start", "terminate"], "TERMINATED": []}


def v2_pod(pod_id="k3x9q2m7p1z8w4", status="RUNNING", **changes) -> dict:
    """A pod as v2 answers it: every documented field present, some null."""
    running = status == "RUNNING"
    pod = {
        "id": pod_id, "name": "podreconcile-tiny", "status": status, "actions": ACTIONS.get(status, []),
        "image": "runpod/pytorch:2.4.0", "args": "", "disk": 30, "env": {"HF_TOKEN": ENV_SECRET},
        "ports": ["22/tcp", "6006/http"], "registry": None,
        "mounts": {"network": [{"volumeId": "vol7abc", "path": "/workspace"}]},
        "gpu": {"id": "NVIDIA GeForce RTX 4090", "count": 1}, "cloud": "SECURE", "dataCenterId": "EU-RO-1",
        "cudaVersion": "12.8",
        "ssh": {"proxy": {"host": "ssh.runpod.io", "port": 22, "username": f"{pod_id}-1a2b3c4d",
                          "command": f"ssh {pod_id}-1a2b3c4d@ssh.runpod.io"},
                "direct": {"host": "203.0.113.7", "port": 40122, "username": "root",
                           "command": "ssh root@203.0.113.7 -p 40122"} if running else None},
        "template": None, "cost": 0.69 if running else 0.0, "locked": False, "globalNetworking": {"enabled": False},
        "runtime": {"uptime": 120, "ports": [{"private": 22, "public": 40122, "type": "tcp", "ip": "203.0.113.7"}]}
        if running else None,
        "createdAt": "2026-11-30T10:00:00Z", "startedAt": "2026-11-30T10:01:00Z" if running else None,
    }
    pod.update(changes)
    return pod


def problem(status: int, detail: str, title: str = "", **headers) -> httpx.Response:
    body = {"title": title or {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                               409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests"}.get(status, "Error"),
            "status": status, "detail": detail}
    return httpx.Response(status, headers={"Content-Type": "application/problem+json", **headers},
                          content=json.dumps(body).encode())


def ok(body, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


class FakeV2:
    """Routes requests to answers queued per (method, path); records every request."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.answers: dict[tuple[str, str], list] = {}

    def on(self, method: str, path: str, *answers) -> "FakeV2":
        self.answers.setdefault((method, path), []).extend(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers.get((request.method, request.url.path))
        if not queue:
            return problem(404, "no such route in the test")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def provider(self) -> RestProvider:
        return RestProvider(Client(KEY, BASE, transport=httpx.MockTransport(self)))

    def bodies(self, method: str, path: str) -> list:
        return [json.loads(r.content) for r in self.requests if (r.method, r.url.path) == (method, path)]


@pytest.fixture
def v2():
    return FakeV2()


def request(**changes) -> CreateRequest:
    values = dict(name="podreconcile-tiny", image="runpod/pytorch:2.4.0", gpu_type_id="NVIDIA GeForce RTX 4090",
                  gpu_count=1, cloud="secure", interruptible=False, bid_per_gpu=None, container_disk_gb=30,
                  volume_gb=20, volume_mount_path="/workspace", ports="22/tcp, 6006/http",
                  env={"HF_TOKEN": ENV_SECRET, "PUBLIC_KEY": "ssh-ed25519 AAAA me"}, network_volume_id=None)
    values.update(changes)
    return CreateRequest(**values)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert KEY not in text and ENV_SECRET not in text


# ---- reading pods ----

@pytest.mark.parametrize("raw, status", [
    ("PROVISIONING", PodStatus.PROVISIONING), ("STARTING", PodStatus.STARTING), ("RUNNING", PodStatus.RUNNING),
    ("EXITED", PodStatus.EXITED), ("ERROR", PodStatus.ERROR), ("TERMINATED", PodStatus.TERMINATED),
    ("HIBERNATING", PodStatus.UNKNOWN),
])
def test_the_pods_status_and_actions_map_into_core(v2, raw, status):
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", raw, actions=ACTIONS.get(raw, []) + ["migrate"])))
    pod = v2.provider().get_pod("p1")
    assert pod.status is status
    assert pod.actions == tuple(PodAction(a) for a in ACTIONS.get(raw, []))  # "migrate" is unknown: left out
    assert pod.status.is_up == (raw in ("PROVISIONING", "STARTING", "RUNNING"))


def test_ssh_comes_from_ssh_direct_only_while_the_pod_is_up(v2):
    stale = v2_pod("p2", "EXITED")
    stale["ssh"]["direct"] = {"host": "203.0.113.9", "port": 1, "username": "root", "command": "ssh"}
    v2.on("GET", "/v2/pods", ok({"pods": [v2_pod("p1"), v2_pod("p3", "STARTING"), stale]}))
    pods = {p.id: p for p in v2.provider().list_pods()}
    assert pods["p1"].ssh == Endpoint("203.0.113.7", 40122)
    assert pods["p3"].ssh is None  # direct is null until 22/tcp is published
    assert pods["p2"].ssh is None  # a stopped pod's endpoint is not used


def test_a_pod_reads_into_facts(v2):
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", unknownNewField={"x": 1})))  # new fields are tolerated
    pod = v2.provider().get_pod("p1")
    assert (pod.name, pod.image, pod.gpu_type_id, pod.gpu_count) == ("podreconcile-tiny", "runpod/pytorch:2.4.0",
                                                                     "NVIDIA GeForce RTX 4090", 1)
    assert (pod.network_volume_id, pod.data_center_id, pod.cost_per_hr) == ("vol7abc", "EU-RO-1", 0.69)
    assert (pod.uptime_seconds, pod.started_at, pod.interruptible) == (120, "2026-11-30T10:01:00Z", False)
    assert_no_secrets(repr(pod))


def test_a_missing_pod_is_none(v2):
    v2.on("GET", "/v2/pods/gone1", problem(404, "pod not found"))
    assert v2.provider().get_pod("gone1") is None


def test_account_lists_pods_and_network_volumes_with_the_key_as_a_bearer_header(v2):
    v2.on("GET", "/v2/pods", ok({"pods": [v2_pod("p1")]}))
    v2.on("GET", "/v2/network-volumes", ok({"networkVolumes": [
        {"id": "vol7abc", "name": "data", "size": 50, "dataCenter": "EU-RO-1", "type": "STANDARD"}]}))
    pods, volumes = v2.provider().account()
    assert [p.id for p in pods] == ["p1"]
    assert [(v.id, v.name, v.size_gb, v.data_center_id) for v in volumes] == [("vol7abc", "data", 50, "EU-RO-1")]
    for sent in v2.requests:
        assert sent.headers["Authorization"] == f"Bearer {KEY}" and KEY not in str(sent.url)


def test_a_long_list_comes_whole_in_one_answer(v2):
    # The document defines no paging for GET /v2/pods: one answer holds every pod.
    v2.on("GET", "/v2/pods", ok({"pods": [v2_pod(f"pod{i:04d}") for i in range(250)]}))
    assert len(v2.provider().list_pods()) == 250 and len(v2.requests) == 1


def test_an_answer_without_a_documented_field_fails_naming_the_field_not_values(v2):
    broken = v2_pod("p1")
    del broken["status"]
    v2.on("GET", "/v2/pods/p1", ok(broken))
    with pytest.raises(PermanentError) as caught:
        v2.provider().get_pod("p1")
    assert "status" in str(caught.value)
    assert_no_secrets(str(caught.value))


def test_a_2xx_that_is_not_json_is_temporary(v2):
    v2.on("GET", "/v2/pods", httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<html>hi</html>"))
    with pytest.raises(TemporaryError):
        v2.provider().list_pods()


# ---- creating ----

def test_create_sends_one_gpu_type_env_as_an_object_and_a_persistent_mount(v2):
    v2.on("POST", "/v2/pods", ok(v2_pod("new1", "PROVISIONING"), 201))
    assert v2.provider().create_pod(request(data_center_id="EU-RO-1")) == "new1"
    (body,) = v2.bodies("POST", "/v2/pods")
    assert body == {
        "name": "podreconcile-tiny", "image": "runpod/pytorch:2.4.0",
        "gpu": {"id": "NVIDIA GeForce RTX 4090", "count": 1}, "cloud": "SECURE", "disk": 30,
        "env": {"HF_TOKEN": ENV_SECRET, "PUBLIC_KEY": "ssh-ed25519 AAAA me"}, "ports": ["22/tcp", "6006/http"],
        "mounts": {"persistent": {"size": 20, "path": "/workspace"}}, "dataCenterIds": ["EU-RO-1"], "startSsh": True,
    }


def test_create_with_a_network_volume_mounts_it_instead_of_a_volume_disk(v2):
    v2.on("POST", "/v2/pods", ok(v2_pod("new1", "PROVISIONING"), 201))
    v2.provider().create_pod(request(network_volume_id="vol7abc", cloud="all"))
    (body,) = v2.bodies("POST", "/v2/pods")
    assert body["mounts"] == {"network": [{"volumeId": "vol7abc", "path": "/workspace"}]}
    assert body["cloud"] == "SECURE" and "dataCenterIds" not in body  # network volumes live in Secure Cloud


def test_create_in_all_clouds_tries_secure_then_community(v2):
    v2.on("POST", "/v2/pods", problem(400, CAPACITY), ok(v2_pod("new2", "PROVISIONING"), 201))
    assert v2.provider().create_pod(request(cloud="all")) == "new2"
    assert [b["cloud"] for b in v2.bodies("POST", "/v2/pods")] == ["SECURE", "COMMUNITY"]


def test_no_capacity_is_runpods_sentence_in_a_400(v2):
    v2.on("POST", "/v2/pods", problem(400, CAPACITY))
    with pytest.raises(NoCapacityError) as caught:
        v2.provider().create_pod(request())
    assert_no_secrets(str(caught.value))


def test_a_volume_disk_under_runpods_floor_is_a_user_error_before_any_call(v2):
    with pytest.raises(UserError, match="pod.volume_gb"):
        v2.provider().create_pod(request(volume_gb=5))
    assert v2.requests == []


def test_the_request_models_are_strict_and_hide_env():
    with pytest.raises(ValueError):
        CreatePod(name="x", image="i", gpu={"id": "g", "count": 1}, bogus=1)
    model = CreatePod(name="x", image="i", gpu={"id": "g", "count": 1}, env={"T": ENV_SECRET})
    patch = PatchPod(env={"T": ENV_SECRET})
    assert_no_secrets(repr(model), str(model), repr(patch), repr(PodPatch(env={"T": ENV_SECRET})))


# ---- actions ----

def test_stop_posts_the_stop_action(v2):
    v2.on("POST", "/v2/pods/p1/action", ok(v2_pod("p1", "EXITED")))
    v2.provider().stop_pod("p1")
    assert v2.bodies("POST", "/v2/pods/p1/action") == [{"action": "stop"}]


def test_a_409_on_stop_of_a_stopped_pod_is_done_after_reading_it(v2):
    v2.on("POST", "/v2/pods/p1/action", problem(409, "action stop is not valid for pod status EXITED"))
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", "EXITED")))
    v2.provider().stop_pod("p1")
    assert [(r.method, r.url.path) for r in v2.requests] == [("POST", "/v2/pods/p1/action"), ("GET", "/v2/pods/p1")]


def test_a_409_on_start_of_a_running_pod_is_done(v2):
    v2.on("POST", "/v2/pods/p1/action", problem(409, "action start is not valid for pod status RUNNING"))
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", "RUNNING")))
    v2.provider().resume_pod("p1", 1)
    assert v2.bodies("POST", "/v2/pods/p1/action") == [{"action": "start"}]


def test_restart_posts_the_restart_action(v2):
    v2.on("POST", "/v2/pods/p1/action", ok(v2_pod("p1", "STARTING")))
    v2.provider().restart_pod("p1")
    assert v2.bodies("POST", "/v2/pods/p1/action") == [{"action": "restart"}]


def test_a_restart_of_a_pod_still_starting_is_a_stop_then_a_start(v2):
    v2.on("POST", "/v2/pods/p1/action", problem(409, "action restart is not valid for pod status STARTING"),
          ok(v2_pod("p1", "EXITED")), ok(v2_pod("p1", "STARTING")))
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", "STARTING")))
    v2.provider().restart_pod("p1")
    assert v2.bodies("POST", "/v2/pods/p1/action") == [{"action": "restart"}, {"action": "stop"}, {"action": "start"}]


def test_a_409_on_restart_of_a_stopped_pod_is_not_hidden(v2):
    v2.on("POST", "/v2/pods/p1/action", problem(409, "action restart is not valid for pod status EXITED"))
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", "EXITED")))
    with pytest.raises(PermanentError):
        v2.provider().restart_pod("p1")


def test_a_409_in_another_status_is_permanent_and_never_retried(v2):
    v2.on("POST", "/v2/pods/p1/action", problem(409, "action stop is not valid for pod status ERROR"))
    v2.on("GET", "/v2/pods/p1", ok(v2_pod("p1", "ERROR")))
    sleeps = []
    with pytest.raises(PermanentError) as caught:
        retry.call(lambda: v2.provider().stop_pod("p1"), sleep=sleeps.append)
    assert "ERROR" in str(caught.value) and "start, terminate" in str(caught.value)
    assert sleeps == [] and len(v2.bodies("POST", "/v2/pods/p1/action")) == 1


def test_a_host_without_free_gpus_refuses_the_start(v2):
    v2.on("POST", "/v2/pods/p1/action",
          problem(400, "There are not enough free GPUs on the host machine to start this pod."))
    with pytest.raises(HostGpusBusyError):
        v2.provider().resume_pod("p1", 1)


def test_terminate_deletes_and_a_missing_pod_is_quiet(v2):
    v2.on("DELETE", "/v2/pods/p1", httpx.Response(204))
    v2.on("DELETE", "/v2/pods/gone1", problem(404, "pod not found"))
    provider = v2.provider()
    provider.terminate_pod("p1")
    provider.terminate_pod("gone1")
    assert [r.url.path for r in v2.requests] == ["/v2/pods/p1", "/v2/pods/gone1"]


def test_a_pod_id_cannot_change_the_path(v2):
    v2.provider().get_pod("../account/ssh-keys")
    assert v2.requests[0].url.raw_path == b"/v2/pods/..%2Faccount%2Fssh-keys"


def test_patch_sends_only_the_changed_fields(v2):
    v2.on("PATCH", "/v2/pods/p1", ok(v2_pod("p1", "EXITED", image="runpod/pytorch:2.5.0")))
    pod = v2.provider().patch_pod("p1", PodPatch(image="runpod/pytorch:2.5.0", container_disk_gb=40,
                                                 ports=("22/tcp",)))
    assert v2.bodies("PATCH", "/v2/pods/p1") == [{"image": "runpod/pytorch:2.5.0", "ports": ["22/tcp"], "disk": 40}]
    assert pod.image == "runpod/pytorch:2.5.0" and pod.status is PodStatus.EXITED


# ---- catalog ----

def gpu_type(gpu_id: str, name: str, availability: str | None, centers: list | None, secure=0.69, community=0.44):
    gpu = {"id": gpu_id, "name": name, "pool": None, "manufacturer": "NVIDIA", "memory": 24, "secure": True,
           "community": True, "price": {"secure": secure, "community": community},
           "maxCount": {"secure": 8, "community": 4}}
    if availability is not None:
        gpu["availability"] = availability
    if centers is not None:
        gpu["dataCenters"] = [{"id": c, "name": c, "availability": a} for c, a in centers]
    return gpu


def test_the_catalog_gives_price_and_stock_per_data_center(v2):
    v2.on("GET", "/v2/catalog/gpus", ok({"gpus": [
        gpu_type("NVIDIA GeForce RTX 4090", "RTX 4090", "HIGH", [("US-KS-2", "HIGH"), ("EU-RO-1", "LOW")]),
        gpu_type("NVIDIA RTX A6000", "RTX A6000", "MEDIUM", [("US-KS-2", "MEDIUM")]),
        gpu_type("NVIDIA H100 80GB HBM3", "H100", "NONE", None),
        gpu_type("NVIDIA L40S", "L40S", "PLENTY", [("EU-RO-1", "PLENTY")]),
    ]}))
    offers = {o.id: o for o in v2.provider().gpu_catalog("EU-RO-1", "secure", gpu_count=2)}
    assert offers["NVIDIA GeForce RTX 4090"].stock is StockLevel.LOW
    assert offers["NVIDIA RTX A6000"].stock is StockLevel.NONE  # not offered in that data center
    assert offers["NVIDIA H100 80GB HBM3"].stock is StockLevel.NONE
    assert offers["NVIDIA L40S"].stock is StockLevel.UNKNOWN  # a level this version does not know
    assert offers["NVIDIA GeForce RTX 4090"].price_per_gpu == 0.69 and offers["NVIDIA RTX A6000"].max_count == 8
    params = dict(v2.requests[0].url.params)
    assert params == {"include": "AVAILABILITY", "product": "POD", "count": "2", "cloud": "SECURE"}


def test_the_catalog_in_all_clouds_takes_the_best_stock_and_lowest_price(v2):
    v2.on("GET", "/v2/catalog/gpus",
          ok({"gpus": [gpu_type("NVIDIA GeForce RTX 4090", "RTX 4090", "NONE", None)]}),
          ok({"gpus": [gpu_type("NVIDIA GeForce RTX 4090", "RTX 4090", "MEDIUM", [("US-KS-2", "MEDIUM")])]}))
    (offer,) = v2.provider().gpu_catalog(None, "all")
    assert (offer.stock, offer.price_per_gpu) == (StockLevel.MEDIUM, 0.44)
    assert [r.url.params["cloud"] for r in v2.requests] == ["SECURE", "COMMUNITY"]


def test_gpu_prices_for_the_cloud(v2):
    v2.on("GET", "/v2/catalog/gpus", ok({"gpus": [gpu_type("NVIDIA GeForce RTX 4090", "RTX 4090", None, None)]}))
    assert v2.provider().gpu_prices("community", False) == {"NVIDIA GeForce RTX 4090": 0.44}


# ---- errors ----

@pytest.mark.parametrize("answer, kind, words", [
    (problem(401, "invalid bearer token"), UserError, "RUNPOD_API_KEY"),
    (problem(403, "access denied"), UserError, "access to pods"),
    (problem(402, "insufficient balance"), UserError, "balance"),
    (problem(404, "pod not found"), NotFoundError, "pod not found"),
    (problem(400, "mounts: persistent and network are mutually exclusive"), PermanentError, "mutually exclusive"),
    (problem(422, "Request validation failed."), PermanentError, "validation"),
    (problem(500, "internal error", title="Internal Server Error"), TemporaryError, "HTTP 500"),
    (problem(503, "upstream unavailable", title="Service Unavailable"), TemporaryError, "HTTP 503"),
    (httpx.Response(502, headers={"Content-Type": "text/html"}, content=b"<html><h1>502 Bad Gateway</h1></html>"),
     TemporaryError, "HTML page"),
    (httpx.Response(403, headers={"Content-Type": "text/html"}, content=b"<html>Access denied</html>"),
     UserError, "HTTP 403"),
    (problem(429, "rate limit exceeded for the minute window", **{"Retry-After": "7"}), TemporaryError, "7 s"),
])
def test_each_problem_becomes_our_error(v2, answer, kind, words):
    v2.on("POST", "/v2/pods/p1/action", answer)
    with pytest.raises(kind) as caught:
        v2.provider().stop_pod("p1")
    assert type(caught.value) is kind and words in str(caught.value)
    assert_no_secrets(str(caught.value), repr(caught.value))


def test_validation_errors_are_named(v2):
    answer = problem(422, "Request validation failed.")
    body = json.loads(answer.content)
    body["errors"] = ["$.gpu.count: must be >= 1"]
    v2.on("POST", "/v2/pods", httpx.Response(422, headers={"Content-Type": "application/problem+json"}, json=body))
    with pytest.raises(PermanentError, match=r"gpu\.count"):
        v2.provider().create_pod(request())


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out"),
                                     httpx.ConnectError("refused"), httpx.RemoteProtocolError("closed")])
def test_timeouts_and_network_failures_are_temporary(v2, failure):
    v2.on("GET", "/v2/pods", failure)
    with pytest.raises(TemporaryError) as caught:
        v2.provider().list_pods()
    assert_no_secrets(str(caught.value))


def test_429_with_retry_after_2_waits_2_seconds_then_succeeds(v2):
    v2.on("GET", "/v2/pods", problem(429, "rate limit exceeded", **{"Retry-After": "2"}), ok({"pods": []}))
    sleeps: list[float] = []
    assert retry.call(v2.provider().list_pods, sleep=sleeps.append) == []
    assert sleeps == [2.0]  # the backoff's first wait is under 1 s: Retry-After sets it


def test_a_retry_after_past_the_deadline_gives_up_at_once(v2):
    v2.on("GET", "/v2/pods", problem(429, "rate limit exceeded", **{"Retry-After": "600"}))
    sleeps: list[float] = []
    with pytest.raises(TemporaryError) as caught:
        retry.call(v2.provider().list_pods, deadline=60, sleep=sleeps.append)
    assert sleeps == [] and caught.value.retry_after == 600


def test_an_http_date_retry_after_is_read():
    from calendar import timegm

    from podreconcile.adapters.runpod_rest.errors import retry_after

    answer = httpx.Response(429, headers={"Retry-After": "Mon, 30 Nov 2026 18:00:05 GMT"})
    assert retry_after(answer, now=float(timegm((2026, 11, 30, 18, 0, 0)))) == 5.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_secrets_stay_out_of_reprs():
    provider = RestProvider.connect(KEY, BASE)
    try:
        assert_no_secrets(repr(provider), repr(provider._client), repr(request()))
    finally:
        provider.close()


# ---- spot: GraphQL only for what v2 lacks ----

class GraphqlCalls:
    """Stands in for the GraphQL provider: records what reaches it."""

    api_base_url = BASE

    def __init__(self):
        self.calls: list[str] = []

    def create_pod(self, req):
        self.calls.append("create_pod")
        return "spot1"

    def resume_pod(self, pod_id, gpu_count, bid_per_gpu=None):
        self.calls.append(f"resume_pod bid={bid_per_gpu}")

    def gpu_prices(self, cloud, interruptible):
        self.calls.append("gpu_prices")
        return {}


def test_a_spot_spec_uses_graphql_only_to_create_resume_and_price_spot_pods(v2):
    from podreconcile.adapters.runpod_spot import SpotProvider

    graphql = GraphqlCalls()
    v2.on("GET", "/v2/pods", ok({"pods": [v2_pod("p1", "EXITED")]}))
    v2.on("POST", "/v2/pods/p1/action", ok(v2_pod("p1", "EXITED")))
    spot = SpotProvider(v2.provider(), graphql)
    assert spot.create_pod(request(interruptible=True, bid_per_gpu=0.2)) == "spot1"
    spot.resume_pod("p1", 1, 0.2)
    spot.gpu_prices("secure", True)
    spot.list_pods()
    spot.stop_pod("p1")
    assert graphql.calls == ["create_pod", "resume_pod bid=0.2", "gpu_prices"]
    assert [(r.method, r.url.path) for r in v2.requests] == [("GET", "/v2/pods"), ("POST", "/v2/pods/p1/action")]
