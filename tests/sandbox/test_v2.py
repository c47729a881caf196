"""The sandbox's REST v2 API as a client sees it: plain httpx, real SSH, the `podreconcile sandbox` CLI.

Every answer goes through `conform` (an httpx response hook): it must match RunPod's published
contract as tests/sandbox/v2_contract.py reads it, with unknown fields forbidden, carry the RateLimit
headers, and errors must be `application/problem+json`. The sandboxes here are this module's own,
so their pods are only the ones these tests make.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from podreconcile.sandbox import daemon
from tests.helpers import ssh_run, wait_until
from tests.sandbox.v2_contract import PROBLEM, SUCCESS, operation, violations

pytestmark = pytest.mark.e2e

BOOT_DELAY = 0.4
GPU = "NVIDIA GeForce RTX 4090"
NO_CAPACITY = "There are no longer any instances available with the requested specifications. Please refresh and try again."
HOST_BUSY = "There are not enough free GPUs on the host machine to start this pod."
ANSWERS: list[tuple[str, int]] = []  # (operation, status) of every answer that conformed
RAN: set[str] = set()  # the tests of this module that ran in this process


@pytest.fixture(autouse=True)
def _record_ran(request):
    yield
    RAN.add(request.node.originalname)


def conform(response: httpx.Response) -> None:
    """Check one v2 answer against the contract; raising here fails the test that made the call."""
    response.read()
    op = operation(response.request.method, response.request.url.path)
    assert op, f"{response.request.method} {response.request.url.path} is no v2 operation"
    status, content_type = response.status_code, response.headers.get("content-type", "")
    if status < 400:
        assert status in SUCCESS[op], f"{op} answered {status}, which the document does not list"
        schema = SUCCESS[op][status]
        if schema is None:
            assert response.content == b""
        else:
            assert content_type.startswith("application/json")
            assert violations(response.json(), schema) == []
    elif content_type.startswith("text/html"):
        assert status >= 429, "only a 429 or 5xx from the edge comes as an HTML page"
    else:
        assert content_type.startswith("application/problem+json"), content_type
        assert violations(response.json(), PROBLEM) == []
        assert response.json()["status"] == status
    if status != 401:
        assert response.headers["RateLimit"].startswith('"minute";r=')
        assert response.headers["RateLimit-Policy"].startswith('"minute";q=')
    if status == 429:
        assert response.headers["Retry-After"].isdigit()
    ANSWERS.append((op, status))


class Box:
    """A sandbox of this module: its CLI, a conforming v2 client, and GraphQL as the account."""

    def __init__(self, home, running: daemon.Running) -> None:
        self.home = home
        self.running = running
        self.api = self.client(running.api_key)

    def client(self, key: str | None, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.running.url, headers=headers, timeout=timeout,
                            event_hooks={"response": [conform]})  # fmt: skip

    def cli(self, *args: str) -> str:
        command = ["podreconcile", "sandbox", *args, "--home", str(self.home)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def calls(self) -> dict:
        return json.loads(self.cli("calls"))


def start_box(tmp_path_factory, ssh_key, graphql: str) -> Box:
    home = tmp_path_factory.mktemp(f"v2-{graphql}")
    box = Box(home, daemon.up(home, boot_delay=BOOT_DELAY, graphql=graphql))
    answer = box.api.put("/v2/account/ssh-keys", json={"keys": [ssh_key.with_suffix(".pub").read_text().strip()]})
    assert answer.status_code == 200
    return box


@pytest.fixture(scope="module")
def box(tmp_path_factory, ssh_key):
    started = start_box(tmp_path_factory, ssh_key, "live")
    yield started
    daemon.down(started.home)


@pytest.fixture(scope="module")
def gone_box(tmp_path_factory, ssh_key):
    started = start_box(tmp_path_factory, ssh_key, "gone")
    yield started
    daemon.down(started.home)


def pod_body(**overrides) -> dict:
    body = {"name": "v2-pod", "image": "runpod/pytorch:2.4.0", "gpu": {"id": GPU, "count": 1}, "ports": ["22/tcp"],
            "mounts": {"persistent": {"size": 10, "path": "/workspace"}}, "startSsh": True}  # fmt: skip
    return {**body, **overrides}


def create(box: Box, **overrides) -> dict:
    answer = box.api.post("/v2/pods", json=pod_body(**overrides))
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_booted(box: Box, pod_id: str) -> dict:
    """Poll GET until RUNNING with runtime (the container booted) and ssh.direct; returns the pod."""

    def booted():
        pod = box.api.get(f"/v2/pods/{pod_id}").json()
        return pod if pod["status"] == "RUNNING" and pod["runtime"] and pod["ssh"]["direct"] else None

    return wait_until(booted, timeout=30)


def action(box: Box, pod_id: str, name: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or box.api).post(f"/v2/pods/{pod_id}/action", json={"action": name})


def pod_key(box: Box, pod_id: str) -> str:
    world = json.loads((box.home / "world.json").read_text())
    return next(p["pod_api_key"] for p in world["pods"] if p["id"] == pod_id)


def test_pod_lifecycle_over_v2_and_ssh(box, ssh_key):
    created = create(box, env={"MODE": "v2"})
    assert created["status"] == "PROVISIONING" and created["actions"] == ["stop", "terminate"]
    assert created["runtime"] is None and created["ssh"]["direct"] is None and created["startedAt"] is None
    assert created["gpu"] == {"id": GPU, "count": 1} and created["env"] == {"MODE": "v2"} and created["cost"] > 0
    assert created["id"] in [p["id"] for p in box.api.get("/v2/pods").json()["pods"]]

    pod = wait_booted(box, created["id"])
    assert pod["actions"] == ["stop", "restart", "terminate"] and pod["startedAt"]
    direct = pod["ssh"]["direct"]
    assert direct["username"] == "root" and direct["command"] == f"ssh root@{direct['host']} -p {direct['port']}"
    assert {"private": 22, "public": direct["port"], "type": "tcp", "ip": "127.0.0.1"} in pod["runtime"]["ports"]
    assert ssh_run(direct["port"], ssh_key, "echo $MODE; tr '\\0' '\\n' < /proc/1/environ | grep ^MODE=") == (0, "\nMODE=v2\n")

    renamed = box.api.patch(f"/v2/pods/{pod['id']}", json={"name": "renamed", "locked": True})
    assert renamed.status_code == 200 and (renamed.json()["name"], renamed.json()["locked"]) == ("renamed", True)
    assert action(box, pod["id"], "stop").status_code == 409
    assert box.api.patch(f"/v2/pods/{pod['id']}", json={"locked": False}).json()["locked"] is False
    stopped = action(box, pod["id"], "stop").json()
    assert (stopped["status"], stopped["cost"], stopped["runtime"], stopped["ssh"]["direct"]) == ("EXITED", 0, None, None)
    assert stopped["actions"] == ["start", "terminate"]
    again = action(box, pod["id"], "stop")
    assert again.status_code == 409 and "valid actions now: start, terminate" in again.json()["detail"]
    assert action(box, pod["id"], "restart").status_code == 409
    assert action(box, pod["id"], "start").json()["status"] in ("STARTING", "RUNNING")
    assert box.api.delete(f"/v2/pods/{pod['id']}").status_code == 204
    assert box.api.get(f"/v2/pods/{pod['id']}").status_code == 404
    assert box.api.delete(f"/v2/pods/{pod['id']}").status_code == 404
    assert action(box, pod["id"], "terminate").status_code == 404


def test_graphql_and_v2_share_one_world(box):
    query = ('mutation { podFindAndDeployOnDemand(input: {name: "from-gql", imageName: "img", cloudType: SECURE,'
             ' gpuTypeId: "NVIDIA RTX A6000", gpuCount: 2, env: [{key: "A", value: "1"}], ports: "22/tcp"}) { id } }')
    gql_id = daemon.graphql(box.running, query)["podFindAndDeployOnDemand"]["id"]
    seen = box.api.get(f"/v2/pods/{gql_id}").json()
    assert (seen["name"], seen["gpu"], seen["env"], seen["ports"]) == ("from-gql", {"id": "NVIDIA RTX A6000", "count": 2},
                                                                      {"A": "1"}, ["22/tcp"])  # fmt: skip
    v2_pod = create(box, name="from-v2")
    pods = daemon.graphql(box.running, "{ myself { pods { id name desiredStatus } } }")["myself"]["pods"]
    assert {"id": v2_pod["id"], "name": "from-v2", "desiredStatus": "RUNNING"} in pods
    assert action(box, gql_id, "stop").status_code == 200
    gql_view = daemon.graphql(box.running, f'{{ pod(input: {{podId: "{gql_id}"}}) {{ desiredStatus lastStatusChange }} }}')
    assert gql_view["pod"]["desiredStatus"] == "EXITED" and gql_view["pod"]["lastStatusChange"].startswith("Exited by user")
    assert box.api.delete(f"/v2/pods/{gql_id}").status_code == 204
    assert action(box, v2_pod["id"], "terminate").status_code == 204
    assert daemon.graphql(box.running, f'{{ pod(input: {{podId: "{v2_pod["id"]}"}}) {{ id }} }}')["pod"] is None


def test_unknown_and_invalid_fields_are_refused_by_name(box):
    answer = box.api.post("/v2/pods", json=pod_body(bogus=1, gpu={"id": GPU, "type": "x"}, interruptible=True))
    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"$: additional property 'bogus' not allowed",
                                           "$: additional property 'interruptible' not allowed",
                                           "$.gpu: additional property 'type' not allowed"}  # fmt: skip
    small = box.api.post("/v2/pods", json=pod_body(mounts={"persistent": {"size": 5, "path": "/workspace"}}))
    assert small.status_code == 422 and small.json()["errors"] == ["$.mounts.persistent.size: must be >= 10"]
    assert box.api.post("/v2/pods", json=pod_body(cpu={"id": "cpu3c", "vcpuCount": 2})).status_code == 400
    assert box.api.post("/v2/pods", json=pod_body(registry="cred-1")).status_code == 404
    unknown_gpu = box.api.post("/v2/pods", json=pod_body(gpu={"id": "NVIDIA Imaginary 9000"}))
    assert unknown_gpu.status_code == 400 and "does not exist" in unknown_gpu.json()["detail"]
    assert box.api.post("/v2/pods", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    pod = create(box)
    try:
        patch = box.api.patch(f"/v2/pods/{pod['id']}", json={"gpu": {"id": GPU}})
        assert patch.status_code == 422 and patch.json()["errors"] == ["$: additional property 'gpu' not allowed"]
        bad_action = action(box, pod["id"], "pause")
        assert bad_action.status_code == 422 and bad_action.json()["errors"][0].startswith("$.action: must be one of")
    finally:
        box.api.delete(f"/v2/pods/{pod['id']}")
    assert box.api.get("/v2/network-volumes", params={"x": 1}).status_code == 400


def test_keys_missing_wrong_and_pod_scoped(box):
    assert box.client(None).get("/v2/pods").json()["detail"] == "missing bearer token"
    assert box.client("rpa_WRONG").get("/v2/pods").status_code == 401
    assert box.client(None).get(f"/v2/pods?api_key={box.running.api_key}").status_code == 401
    mine, other = create(box, name="mine"), create(box, name="other")
    try:
        as_pod = box.client(pod_key(box, mine["id"]))
        assert as_pod.get(f"/v2/pods/{mine['id']}").json()["name"] == "mine"
        assert as_pod.get("/v2/pods").status_code == 403
        assert as_pod.get(f"/v2/pods/{other['id']}").status_code == 403
        assert action(box, other["id"], "stop", as_pod).status_code == 403
        assert as_pod.patch(f"/v2/pods/{mine['id']}", json={"name": "x"}).status_code == 403
        box.cli("fault", "v2.pods.action", "--times", "1", "--error", "http-403", "--pod-key")
        assert action(box, other["id"], "stop").json()["status"] == "EXITED", "the account key passes a --pod-key fault"
        refused = action(box, mine["id"], "stop", as_pod)
        assert (refused.status_code, refused.json()["detail"]) == (403, "access denied")
        assert action(box, mine["id"], "stop", as_pod).json()["status"] == "EXITED"
        assert action(box, mine["id"], "start", as_pod).status_code == 403
    finally:
        for pod in (mine, other):
            box.api.delete(f"/v2/pods/{pod['id']}")


def test_rate_limit_and_server_errors(box):
    before = box.calls().get("v2.pods.list", 0)
    box.cli("fault", "v2.pods.list", "--times", "1", "--error", "http-429", "--retry-after", "2")
    limited = box.api.get("/v2/pods")
    assert (limited.status_code, limited.headers["Retry-After"], limited.json()["title"]) == (429, "2", "Too Many Requests")
    assert box.api.get("/v2/pods").status_code == 200
    assert box.calls()["v2.pods.list"] == before + 2
    box.cli("fault", "v2.catalog.gpus", "--times", "1", "--error", "http-503")
    assert box.api.get("/v2/catalog/gpus").json()["status"] == 503
    box.cli("fault", "v2.catalog.gpus", "--times", "1", "--error", "http-500", "--body", "html")
    page = box.api.get("/v2/catalog/gpus")
    assert page.status_code == 500 and page.headers["content-type"] == "text/html"
    box.cli("fault", "v2.catalog.gpus", "--times", "1", "--error", "http-409")
    assert box.api.get("/v2/catalog/gpus").status_code == 409


def test_catalog_stock_and_no_capacity(box):
    wanted = {"include": "AVAILABILITY", "product": "POD"}
    gpus = box.api.get("/v2/catalog/gpus", params=wanted).json()["gpus"]
    rtx = next(g for g in gpus if g["id"] == GPU)
    assert rtx["availability"] == "HIGH" and rtx["price"]["secure"] > 0 and len(rtx["dataCenters"]) == 3
    box.cli("stock", GPU, "--level", "NONE", "--data-center", "EU-RO-1")
    try:
        one = box.api.get(f"/v2/catalog/gpus/{GPU}", params=wanted).json()
        assert {d["id"]: d["availability"] for d in one["dataCenters"]} == {"EU-RO-1": "NONE", "US-KS-2": "HIGH", "CA-MTL-1": "HIGH"}
        refused = box.api.post("/v2/pods", json=pod_body(dataCenterIds=["EU-RO-1"]))
        assert (refused.status_code, refused.json()["detail"]) == (400, NO_CAPACITY)
        placed = create(box, dataCenterIds=["EU-RO-1", "US-KS-2"])
        assert placed["dataCenterId"] == "US-KS-2"
        box.api.delete(f"/v2/pods/{placed['id']}")
        ro = box.api.get("/v2/catalog/datacenters/EU-RO-1", params={"include": "GPU_AVAILABILITY"}).json()
        assert {"id": GPU, "name": "RTX 4090", "availability": "NONE"} in ro["gpuAvailability"]
        stopped = action(box, create(box, dataCenterIds=["US-KS-2"])["id"], "stop").json()
        box.cli("stock", GPU, "--level", "NONE", "--data-center", "US-KS-2")
        busy = action(box, stopped["id"], "start")
        assert (busy.status_code, busy.json()["detail"]) == (400, HOST_BUSY)
        assert box.api.get(f"/v2/pods/{stopped['id']}").json()["status"] == "EXITED"
        box.api.delete(f"/v2/pods/{stopped['id']}")
        box.cli("stock", GPU, "--level", "NONE")
        with pytest.raises(daemon.SandboxError, match="no longer any instances"):
            daemon.graphql(box.running, f'mutation {{ podFindAndDeployOnDemand(input: {{name: "g", imageName: "i", '
                                        f'gpuTypeId: "{GPU}"}}) {{ id }} }}')  # fmt: skip
        gone = box.api.get(f"/v2/catalog/gpus/{GPU}", params=wanted).json()
        assert gone["availability"] == "NONE" and "dataCenters" not in gone
        assert box.api.post("/v2/pods", json=pod_body()).json()["detail"] == NO_CAPACITY
    finally:
        for where in ([], ["--data-center", "EU-RO-1"], ["--data-center", "US-KS-2"]):
            box.cli("stock", GPU, "--level", "HIGH", *where)
    assert box.api.get("/v2/catalog/gpus/NVIDIA Imaginary 9000").status_code == 404
    assert box.api.get("/v2/catalog/gpus", params={"include": "AVAILABILITY"}).status_code == 400
    assert box.api.get("/v2/catalog/gpus", params={"product": "POD"}).status_code == 400
    assert box.api.get("/v2/catalog/gpus", params={**wanted, "dataCenterId": "EU-RO-1"}).status_code == 400
    europe = box.api.get("/v2/catalog/datacenters", params={"regions": "EUROPE"}).json()["dataCenters"]
    assert [d["id"] for d in europe] == ["EU-RO-1"]


def test_create_faults_no_capacity_and_applied_timeout(box):
    box.cli("fault", "v2.pods.create", "--times", "1", "--error", "no-capacity")
    assert box.api.post("/v2/pods", json=pod_body()).json() == {"title": "Bad Request", "status": 400, "detail": NO_CAPACITY}
    before = {p["id"] for p in box.api.get("/v2/pods").json()["pods"]}
    box.cli("fault", "v2.pods.create", "--times", "1", "--error", "timeout", "--applied", "--hang", "3")
    with pytest.raises(httpx.ReadTimeout):
        box.client(box.running.api_key, timeout=1).post("/v2/pods", json=pod_body(name="timed-out"))
    created = [p for p in box.api.get("/v2/pods").json()["pods"] if p["id"] not in before]
    assert [p["name"] for p in created] == ["timed-out"], "a timed-out create may still have created the pod"
    box.api.delete(f"/v2/pods/{created[0]['id']}")


def test_patch_image_and_env_in_place_keeps_the_volume_disk(box, ssh_key):
    pod = create(box, env={"STEP": "one"})
    try:
        port = wait_booted(box, pod["id"])["ssh"]["direct"]["port"]
        assert ssh_run(port, ssh_key, "mkdir -p /workspace/ckpt && echo 7 > /workspace/ckpt/step && echo tmp > /root/t")[0] == 0
        assert action(box, pod["id"], "stop").status_code == 200
        patched = box.api.patch(f"/v2/pods/{pod['id']}", json={"image": "runpod/pytorch:2.5.0", "env": {"STEP": "two"},
                                                               "args": "sleep infinity"})  # fmt: skip
        assert patched.status_code == 200
        assert (patched.json()["status"], patched.json()["image"], patched.json()["env"]) == ("EXITED", "runpod/pytorch:2.5.0", {"STEP": "two"})
        assert action(box, pod["id"], "start").status_code == 200
        port = wait_booted(box, pod["id"])["ssh"]["direct"]["port"]
        environ = "tr '\\0' '\\n' < /proc/1/environ | grep ^STEP="
        assert ssh_run(port, ssh_key, f"cat /workspace/ckpt/step; cat /root/t 2>/dev/null || echo wiped; {environ}")[1] == "7\nwiped\nSTEP=two\n"

        change = {"env": {"STEP": "three"}, "ports": ["22/tcp", "6006/http"]}
        running = box.api.patch(f"/v2/pods/{pod['id']}", json=change).json()
        assert (running["status"], running["env"], running["ports"]) == ("RUNNING", {"STEP": "three"}, ["22/tcp", "6006/http"])
        assert [p["private"] for p in running["runtime"]["ports"]] == [22], "ports publish at the next start"
        assert ssh_run(port, ssh_key, environ)[1] == "STEP=two\n", "a running pod keeps its process until restarted"
        assert action(box, pod["id"], "restart").status_code == 200
        restarted = wait_booted(box, pod["id"])
        assert [p["private"] for p in restarted["runtime"]["ports"]] == [22, 6006]
        port = restarted["ssh"]["direct"]["port"]
        assert ssh_run(port, ssh_key, f"cat /workspace/ckpt/step; {environ}")[1] == "7\nSTEP=three\n"
        gql = daemon.graphql(box.running, f'{{ pod(input: {{podId: "{pod["id"]}"}}) {{ imageName env }} }}')["pod"]
        assert gql == {"imageName": "runpod/pytorch:2.5.0", "env": ["STEP=three"]}
    finally:
        box.api.delete(f"/v2/pods/{pod['id']}")


def test_network_volumes_ssh_keys_and_billing(box, ssh_key):
    made = box.api.post("/v2/network-volumes", json={"name": "data", "size": 10, "dataCenter": "US-KS-2"})
    assert made.status_code == 201
    volume = made.json()
    assert volume in box.api.get("/v2/network-volumes").json()["networkVolumes"]
    assert box.api.get(f"/v2/network-volumes/{volume['id']}").json() == volume
    assert box.api.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 20, "name": "bigger"}).json()["size"] == 20
    assert box.api.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 10}).status_code == 400
    assert box.api.patch(f"/v2/network-volumes/{volume['id']}", json={}).status_code == 422
    assert box.api.post("/v2/network-volumes", json={"name": "x", "size": 10, "dataCenter": "MARS-1"}).status_code == 400
    pod = create(box, mounts={"network": [{"volumeId": volume["id"], "path": "/data"}]}, dataCenterIds=[])
    assert pod["dataCenterId"] == "US-KS-2" and pod["mounts"] == {"network": [{"volumeId": volume["id"], "path": "/data"}]}
    assert box.api.delete(f"/v2/network-volumes/{volume['id']}").status_code == 400
    billing = box.api.get("/v2/billing/pods", params={"podId": pod["id"]}).json()
    assert [r["podId"] for r in billing["records"]] == [pod["id"]] and billing["metadata"]["query"]["podId"] == pod["id"]
    box.api.delete(f"/v2/pods/{pod['id']}")
    assert box.api.delete(f"/v2/network-volumes/{volume['id']}").status_code == 204
    assert box.api.get(f"/v2/network-volumes/{volume['id']}").status_code == 404

    assert box.api.get("/v2/account/ssh-keys").json() == {"keys": [ssh_key.with_suffix(".pub").read_text().strip()]}
    assert box.api.put("/v2/account/ssh-keys", json={"keys": ["not a key"]}).status_code == 422
    gql_keys = daemon.graphql(box.running, "{ myself { pubKey } }")["myself"]["pubKey"]
    assert gql_keys == ssh_key.with_suffix(".pub").read_text().strip()


def test_graphql_gone_answers_410_while_v2_works(gone_box):
    retired = httpx.post(f"{gone_box.running.url}/graphql", json={"query": "{ myself { id } }"},
                         headers={"Authorization": f"Bearer {gone_box.running.api_key}"})  # fmt: skip
    assert retired.status_code == 410 and retired.headers["content-type"] == "application/problem+json"
    assert retired.json()["title"] == "Gone"
    assert gone_box.api.get("/v2/pods").status_code == 200
    assert gone_box.calls()["graphql.gone"] == 1
    with pytest.raises(daemon.SandboxError, match="GraphQL API is gone"):
        daemon.graphql(gone_box.running, "{ myself { id } }")
    assert "GraphQL gone" in gone_box.cli("status")
    volume_id = gone_box.cli("volume", "create", "small", "--size-gb", "1").strip()
    assert daemon.v2(gone_box.running, "GET", f"/v2/network-volumes/{volume_id}")["name"] == "small"
    up = ["podreconcile", "sandbox", "up", "--home", str(gone_box.home)]
    again = subprocess.run(up, check=False, capture_output=True, text=True)
    assert again.returncode == 0 and f"export RUNPOD_API_BASE_URL={gone_box.running.url}" in again.stdout
    switched = subprocess.run([*up, "--graphql", "live"], check=False, capture_output=True, text=True)
    assert switched.returncode == 1 and "already runs with GraphQL gone" in switched.stderr


def test_runpodctl_in_the_pod_stops_it_with_graphql_gone(gone_box, ssh_key):
    pod = create(gone_box)
    port = wait_booted(gone_box, pod["id"])["ssh"]["direct"]["port"]
    before = gone_box.calls()
    command = "while IFS= read -r -d '' v; do export \"$v\"; done < /proc/1/environ; runpodctl stop pod \"$RUNPOD_POD_ID\""
    assert ssh_run(port, ssh_key, command) == (0, f'pod "{pod["id"]}" stopped\n')
    assert gone_box.api.get(f"/v2/pods/{pod['id']}").json()["status"] == "EXITED"
    calls = gone_box.calls()
    assert calls["v2.pods.action"] == before.get("v2.pods.action", 0) + 1
    assert calls["graphql.gone"] == before.get("graphql.gone", 0) + 1, "runpodctl tried GraphQL first"
    gone_box.api.delete(f"/v2/pods/{pod['id']}")


def test_every_operation_answered_and_conformed(request):
    """The answers above covered every v2 operation with a success, and errors of each kind."""
    # Parallel workers split this file (scripts/test runs it apart, in one process, for this check).
    others = {name for name in dir(request.module) if name.startswith("test_")} - {request.node.originalname}
    if not others <= RAN:
        pytest.skip("the coverage check needs every other test of this file run in this process")
    succeeded = {op for op, status in ANSWERS if status < 400}
    assert set(SUCCESS) - succeeded == set()
    assert {400, 401, 403, 404, 409, 422, 429, 500, 503} <= {status for _, status in ANSWERS}
