"""The sandbox as the unmodified runpod SDK and real SSH clients see it.

Every test here talks to the sandbox only through public runpod SDK functions, `run_graphql_query`,
plain HTTP, and real SSH clients (paramiko and OpenSSH `ssh`).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.helpers import ssh_client, ssh_run, wait_for_ssh_port, wait_until

pytestmark = pytest.mark.e2e

NO_CAPACITY = "There are no longer any instances available with the requested specifications. Please refresh and try again."
HOST_BUSY = "There are not enough free GPUs on the host machine to start this pod."


def make_pod(runpod, name="t", **kwargs):
    args = dict(image_name="runpod/pytorch:2.4.0", gpu_type_id="NVIDIA GeForce RTX 4090", ports="22/tcp",
                volume_in_gb=5, volume_mount_path="/workspace", support_public_ip=True)
    args.update(kwargs)
    return runpod.create_pod(name, **args)


def wait_status(runpod, pod_id, status):
    return wait_until(lambda: (runpod.get_pod(pod_id) or {}).get("desiredStatus") == status)


@pytest.fixture
def pod(sdk):
    created = make_pod(sdk)
    yield created
    try:
        sdk.terminate_pod(created["id"])
    except Exception:  # noqa: BLE001 - a test may have terminated it already
        pass


def test_gpu_catalogue(sdk):
    gpus = sdk.get_gpus()
    assert {"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090", "memoryInGb": 24} in gpus
    gpu = sdk.get_gpu("NVIDIA A100 80GB PCIe")
    assert gpu["lowestPrice"]["minimumBidPrice"] < gpu["lowestPrice"]["uninterruptablePrice"]
    with pytest.raises(ValueError, match="No GPU found"):
        sdk.get_gpu("NVIDIA Imaginary 9000")


def test_create_reports_runtime_only_once_sshd_is_up(sdk, pod, ssh_key):
    first = sdk.get_pod(pod["id"])
    assert first["desiredStatus"] == "RUNNING" and first["runtime"] is None
    assert first["podType"] == "RESERVED" and first["machine"]["gpuDisplayName"] == "RTX 4090"
    assert pod["machine"]["podHostId"].startswith(pod["id"] + "-")
    port = wait_for_ssh_port(sdk, pod["id"])
    assert ssh_run(port, ssh_key, "echo hello") == (0, "hello\n")
    assert any(p["id"] == pod["id"] for p in sdk.get_pods())


def test_volume_survives_stop_and_resume_but_home_does_not(sdk, pod, ssh_key):
    port = wait_for_ssh_port(sdk, pod["id"])
    client = ssh_client(port, ssh_key)
    client.exec_command("echo kept > /workspace/f && echo lost > /root/g && sync")[1].channel.recv_exit_status()
    client.close()
    assert sdk.stop_pod(pod["id"])["desiredStatus"] == "EXITED"
    assert "Exited by user" in sdk.get_pod(pod["id"])["lastStatusChange"]
    resumed = sdk.resume_pod(pod["id"], 1)
    assert resumed["desiredStatus"] == "RUNNING"
    new_port = wait_for_ssh_port(sdk, pod["id"])
    assert new_port != port, "a new public port at each start"
    assert ssh_run(new_port, ssh_key, "cat /workspace/f; cat /root/g || echo gone")[1] == "kept\ngone\n"


def test_host_keys_change_at_every_start(sdk, pod, ssh_key):
    def host_key():
        client = ssh_client(wait_for_ssh_port(sdk, pod["id"]), ssh_key)
        key = client.get_transport().get_remote_server_key().get_base64()
        client.close()
        return key

    before = host_key()
    sdk.stop_pod(pod["id"])
    sdk.resume_pod(pod["id"], 1)
    assert host_key() != before


def test_tmux_survives_disconnect_and_dies_with_stop(sdk, pod, ssh_key):
    port = wait_for_ssh_port(sdk, pod["id"])
    assert ssh_run(port, ssh_key, "tmux new-session -d -s work 'sleep 600'")[0] == 0
    assert ssh_run(port, ssh_key, "tmux has-session -t work && echo alive")[1] == "alive\n"
    sdk.stop_pod(pod["id"])
    sdk.resume_pod(pod["id"], 1)
    port = wait_for_ssh_port(sdk, pod["id"])
    assert ssh_run(port, ssh_key, "tmux has-session -t work 2>/dev/null && echo alive || echo dead")[1] == "dead\n"


def test_env_in_pid1_not_in_ssh_sessions(sdk, ssh_key):
    pod = make_pod(sdk, env={"MY_SETTING": "on"})
    try:
        port = wait_for_ssh_port(sdk, pod["id"])
        code, out = ssh_run(port, ssh_key, "tr '\\0' '\\n' < /proc/1/environ; echo ---; env")
        pid1, session = out.split("---\n")
        assert f"RUNPOD_POD_ID={pod['id']}" in pid1 and "MY_SETTING=on" in pid1 and "RUNPOD_API_KEY=" in pid1
        assert "RUNPOD_API_KEY" not in session and "MY_SETTING" not in session
        assert "MY_SETTING=on" in sdk.get_pod(pod["id"])["env"]
    finally:
        sdk.terminate_pod(pod["id"])


def test_runpodctl_inside_the_pod_stops_it(sdk, pod, ssh_key):
    port = wait_for_ssh_port(sdk, pod["id"])
    command = ("while IFS= read -r -d '' v; do export \"$v\"; done < /proc/1/environ; "
               "runpodctl stop pod \"$RUNPOD_POD_ID\"")
    code, out = ssh_run(port, ssh_key, command)
    assert (code, out.strip()) == (0, f'pod "{pod["id"]}" stopped')
    wait_status(sdk, pod["id"], "EXITED")


def test_pod_key_acts_on_its_own_pod_only(sdk, pod, ssh_key):
    other = make_pod(sdk, name="other")
    try:
        port = wait_for_ssh_port(sdk, pod["id"])
        _, out = ssh_run(port, ssh_key, "tr '\\0' '\\n' < /proc/1/environ | sed -n 's/^RUNPOD_API_KEY=//p'")
        pod_key = out.strip()
        from runpod.api.graphql import run_graphql_query
        from runpod.error import QueryError

        with pytest.raises(QueryError, match="not authorized"):
            run_graphql_query(f'mutation {{ podStop(input: {{podId: "{other["id"]}"}}) {{ id }} }}', api_key=pod_key)
        with pytest.raises(QueryError, match="not authorized"):
            run_graphql_query("query { myself { id } }", api_key=pod_key)
        assert sdk.get_pod(other["id"])["desiredStatus"] == "RUNNING"
    finally:
        sdk.terminate_pod(other["id"])


def test_terminate_removes_the_pod(sdk):
    from runpod.error import QueryError

    pod = make_pod(sdk)
    assert sdk.terminate_pod(pod["id"]) is None
    assert sdk.get_pod(pod["id"]) is None
    assert all(p["id"] != pod["id"] for p in sdk.get_pods())
    with pytest.raises(QueryError, match="^pod not found to terminate$"):
        sdk.terminate_pod(pod["id"])


def test_network_volume_outlives_pods_and_pins_the_data_center(sdk, sandbox, ssh_key):
    from runpod.error import QueryError

    volume_id = sandbox.cli("volume", "create", "shared", "--size-gb", "10", "--data-center", "US-KS-2").stdout.strip()
    assert {"id": volume_id, "name": "shared", "size": 10, "dataCenterId": "US-KS-2"} in sdk.get_user()["networkVolumes"]
    first = make_pod(sdk, network_volume_id=volume_id, cloud_type="SECURE", volume_in_gb=0)
    port = wait_for_ssh_port(sdk, first["id"])
    assert ssh_run(port, ssh_key, "echo data > /workspace/d && echo $RUNPOD_VOLUME_ID")[0] == 0
    sdk.terminate_pod(first["id"])
    second = make_pod(sdk, network_volume_id=volume_id, cloud_type="SECURE", volume_in_gb=0)
    try:
        port = wait_for_ssh_port(sdk, second["id"])
        assert ssh_run(port, ssh_key, "cat /workspace/d")[1] == "data\n"
        from runpod.api.graphql import run_graphql_query

        query = f'query {{ pod(input: {{podId: "{second["id"]}"}}) {{ machine {{ dataCenterId }} }} }}'
        assert run_graphql_query(query)["data"]["pod"]["machine"]["dataCenterId"] == "US-KS-2"
    finally:
        sdk.terminate_pod(second["id"])
    with pytest.raises(QueryError, match="US-KS-2"):
        make_pod(sdk, network_volume_id=volume_id, cloud_type="SECURE", data_center_id="EU-RO-1")
    with pytest.raises(QueryError, match="Secure Cloud"):
        make_pod(sdk, network_volume_id=volume_id, cloud_type="COMMUNITY")


def test_pod_volume_disk_dies_with_terminate(sdk, sandbox, ssh_key):
    pod = make_pod(sdk)
    wait_for_ssh_port(sdk, pod["id"])
    pod_dir = sandbox.home / "pods" / pod["id"]
    assert pod_dir.exists()
    sdk.terminate_pod(pod["id"])
    assert not pod_dir.exists()


@pytest.mark.parametrize("value", ['say "hi"', "C:\\dir\\new", "line1\nline2", "x\\", '{"a": 1}', "tab\there",
                                   'x" }, { key: "EVIL", value: "y', "$(touch /tmp/pwned); `id`"])
def test_escaped_env_values_reach_the_pod_exactly(sdk, ssh_key, value):
    from runpod.api.graphql import run_graphql_query

    literal = json.dumps(value, ensure_ascii=False)  # a JSON string is a valid GraphQL string literal
    query = (
        'mutation { podFindAndDeployOnDemand(input: {name: "env", imageName: "img", gpuTypeId: "NVIDIA GeForce RTX 4090",'
        f' gpuCount: 1, ports: "22/tcp", env: [{{key: "ODD", value: {literal}}}]}}) {{ id }} }}'
    )
    pod_id = run_graphql_query(query)["data"]["podFindAndDeployOnDemand"]["id"]
    try:
        port = wait_for_ssh_port(sdk, pod_id)
        client = ssh_client(port, ssh_key)
        _, out, _ = client.exec_command("cat /proc/1/environ")
        entries = out.read().decode().split("\0")
        client.close()
        assert f"ODD={value}" in entries
        assert not any(e.startswith("EVIL=") for e in entries)
    finally:
        sdk.terminate_pod(pod_id)


def test_sdk_pasted_quotes_are_refused_with_the_parsers_message(sdk):
    from runpod.error import QueryError

    with pytest.raises(QueryError, match="Syntax Error"):
        make_pod(sdk, env={"Q": 'say "hi"'})
    with pytest.raises(QueryError, match="Syntax Error: Unterminated string"):
        make_pod(sdk, env={"N": "line1\nline2"})


def test_nul_in_env_is_refused_clearly(sdk):
    from runpod.api.graphql import run_graphql_query
    from runpod.error import QueryError

    query = ('mutation { podFindAndDeployOnDemand(input: {name: "n", imageName: "i", gpuTypeId: "NVIDIA GeForce RTX 4090",'
             ' env: [{key: "Z", value: "a\\u0000b"}]}) { id } }')
    with pytest.raises(QueryError, match="NUL"):
        run_graphql_query(query)


class TestFaults:
    def test_http_500_json(self, sdk, sandbox):
        from runpod.error import QueryError

        sandbox.cli("fault", "myself", "--times", "1", "--error", "http-500")
        with pytest.raises(QueryError, match="Something went wrong"):
            sdk.get_user()
        assert sdk.get_user()["id"]

    def test_http_500_html(self, sdk, sandbox):
        sandbox.cli("fault", "myself", "--times", "1", "--error", "http-500", "--body", "html")
        with pytest.raises(requests.exceptions.JSONDecodeError):
            sdk.get_user()

    def test_http_429_html_and_json(self, sdk, sandbox):
        from runpod.error import QueryError

        sandbox.cli("fault", "myself", "--times", "1", "--error", "http-429")
        with pytest.raises(requests.exceptions.JSONDecodeError):
            sdk.get_pods()
        sandbox.cli("fault", "myself", "--times", "1", "--error", "http-429", "--body", "json")
        with pytest.raises(QueryError, match="Too many requests"):
            sdk.get_pods()
        raw = requests.post(f"{sandbox.running.url}/graphql", json={"query": "{ myself { id } }"},
                            headers={"Authorization": f"Bearer {sandbox.running.api_key}"}, timeout=5)
        assert raw.status_code == 200

    def test_no_capacity_on_create(self, sdk, sandbox):
        from runpod.error import QueryError

        sandbox.cli("fault", "podFindAndDeployOnDemand", "--times", "1", "--error", "no-capacity")
        with pytest.raises(QueryError) as raised:
            make_pod(sdk)
        assert str(raised.value) == NO_CAPACITY

    def test_host_gpus_busy_on_resume(self, sdk, sandbox, pod):
        from runpod.error import QueryError

        sdk.stop_pod(pod["id"])
        sandbox.cli("fault", "podResume", "--times", "1", "--error", "host-gpus-busy")
        with pytest.raises(QueryError) as raised:
            sdk.resume_pod(pod["id"], 1)
        assert str(raised.value) == HOST_BUSY
        assert sdk.get_pod(pod["id"])["desiredStatus"] == "EXITED"

    def test_timeout_after_the_call_took_effect(self, sdk, sandbox, monkeypatch):
        import runpod.api.graphql as transport

        # The SDK waits 30 s; shorten only the HTTP library's timeout so the test stays quick.
        real_post = requests.post
        monkeypatch.setattr(transport.requests, "post", lambda *a, **k: real_post(*a, **{**k, "timeout": 1}))
        sandbox.cli("fault", "podFindAndDeployOnDemand", "--times", "1", "--error", "timeout", "--hang", "3")
        before = {p["id"] for p in sdk.get_pods()}
        with pytest.raises(requests.exceptions.Timeout):
            make_pod(sdk, name="timed-out")
        created = [p for p in sdk.get_pods() if p["id"] not in before]
        assert [p["name"] for p in created] == ["timed-out"], "a timed-out create may still have created the pod"
        sdk.terminate_pod(created[0]["id"])

    def test_calls_are_counted_by_operation(self, sdk, sandbox):
        before = json.loads(sandbox.cli("calls").stdout)
        sdk.get_pods()
        sdk.get_gpu("NVIDIA GeForce RTX 4090")
        after = json.loads(sandbox.cli("calls").stdout)
        assert after["myself"] == before.get("myself", 0) + 1
        assert after["gpuTypes"] == before.get("gpuTypes", 0) + 1


def test_spot_pods_preempt_and_bid_resume(sdk, sandbox, ssh_key):
    from runpod.api.graphql import run_graphql_query
    from runpod.error import QueryError

    query = ('mutation { podRentInterruptable(input: {bidPerGpu: 0.5, name: "spot", imageName: "img", cloudType: SECURE,'
             ' gpuTypeId: "NVIDIA GeForce RTX 4090", gpuCount: 1, ports: "22/tcp", volumeInGb: 5,'
             ' volumeMountPath: "/workspace"}) { id desiredStatus } }')
    pod_id = run_graphql_query(query)["data"]["podRentInterruptable"]["id"]
    try:
        port = wait_for_ssh_port(sdk, pod_id)
        ssh_run(port, ssh_key, "echo kept > /workspace/k")
        assert sdk.get_pod(pod_id)["podType"] == "INTERRUPTABLE"
        sandbox.cli("preempt", pod_id)
        pod = sdk.get_pod(pod_id)
        assert pod["desiredStatus"] == "EXITED" and pod["lastStatusChange"].startswith("Outbid: ")
        with pytest.raises(QueryError, match="^Cannot resume a spot pod as an on demand pod.$"):
            sdk.resume_pod(pod_id, 1)
        run_graphql_query(f'mutation {{ podBidResume(input: {{podId: "{pod_id}", bidPerGpu: 0.5, gpuCount: 1}}) {{ id }} }}')
        port = wait_for_ssh_port(sdk, pod_id)
        assert ssh_run(port, ssh_key, "cat /workspace/k")[1] == "kept\n"
    finally:
        sdk.terminate_pod(pod_id)


class TestBadInput:
    def test_missing_and_wrong_key(self, sdk, sandbox, monkeypatch):
        from runpod.error import AuthenticationError

        monkeypatch.setattr(sdk, "api_key", None)
        with pytest.raises(AuthenticationError, match="No API key provided"):
            sdk.get_pods()
        monkeypatch.setattr(sdk, "api_key", "rpa_WRONG")
        with pytest.raises(AuthenticationError, match="Unauthorized request"):
            sdk.get_pods()
        raw = requests.post(f"{sandbox.running.url}/graphql", json={"query": "{ myself { id } }"}, timeout=5)
        assert raw.status_code == 401
        query_param = requests.post(f"{sandbox.running.url}/graphql?api_key={sandbox.running.api_key}",
                                    json={"query": "{ myself { id } }"}, timeout=5)
        assert query_param.json()["data"]["myself"]["id"]

    def test_malformed_and_invalid_queries(self, sdk):
        from runpod.api.graphql import run_graphql_query
        from runpod.error import QueryError

        with pytest.raises(QueryError, match="Syntax Error"):
            run_graphql_query("query { myself { id ")
        with pytest.raises(QueryError, match="Cannot query field 'nope'"):
            run_graphql_query("query { myself { nope } }")
        assert sdk.get_gpus(), "the sandbox keeps serving"

    def test_unknown_pod_and_gpu(self, sdk):
        from runpod.error import QueryError

        assert sdk.get_pod("doesnotexist00") is None
        with pytest.raises(QueryError):
            sdk.stop_pod("doesnotexist00")
        with pytest.raises(ValueError, match="No GPU found"):
            make_pod(sdk, gpu_type_id="NVIDIA Imaginary 9000")
        assert sdk.get_gpus()


def test_state_survives_down_and_up(tmp_path, ssh_key):
    from podreconcile.sandbox import daemon

    home = tmp_path / "home"
    first = daemon.up(home, boot_delay=0.2)
    try:
        volume = daemon.graphql(first, 'mutation { createNetworkVolume(input: {name: "v", size: 1, dataCenterId: "EU-RO-1"}) { id } }')
        pod_id = daemon.graphql(first, 'mutation { podFindAndDeployOnDemand(input: {name: "p", imageName: "i", '
                                       'gpuTypeId: "NVIDIA RTX A6000", ports: "22/tcp", volumeInGb: 1}) { id } }')["podFindAndDeployOnDemand"]["id"]
        daemon.graphql(first, f'mutation {{ podStop(input: {{podId: "{pod_id}"}}) {{ id }} }}')
    finally:
        assert daemon.down(home)
    assert daemon.running(home) is None
    second = daemon.up(home, boot_delay=0.2)
    try:
        assert second.api_key == first.api_key
        world = daemon.graphql(second, "{ myself { networkVolumes { id } pods { id desiredStatus } } }")["myself"]
        assert world["networkVolumes"] == [{"id": volume["createNetworkVolume"]["id"]}]
        assert world["pods"] == [{"id": pod_id, "desiredStatus": "EXITED"}]
    finally:
        daemon.down(home)


def test_up_twice_prints_the_same_exports_and_down_leaves_no_process(tmp_path):
    import subprocess

    home = str(tmp_path / "h")
    first = subprocess.run(["podreconcile", "sandbox", "up", "--home", home, "--boot-delay", "0.2"],
                           capture_output=True, text=True, check=True).stdout
    second = subprocess.run(["podreconcile", "sandbox", "up", "--home", home], capture_output=True, text=True, check=True).stdout
    assert first == second and first.startswith("export RUNPOD_API_BASE_URL=http://127.0.0.1:")
    env = dict(line.removeprefix("export ").split("=", 1) for line in first.splitlines())
    body = {"query": 'mutation { podFindAndDeployOnDemand(input: {name: "p", imageName: "i", gpuTypeId: "NVIDIA RTX A6000", ports: "22/tcp"}) { id } }'}
    requests.post(env["RUNPOD_API_BASE_URL"] + "/graphql", json=body,
                  headers={"Authorization": f"Bearer {env['RUNPOD_API_KEY']}"}, timeout=10).raise_for_status()
    time.sleep(0.5)
    subprocess.run(["podreconcile", "sandbox", "down", "--home", home], check=True, capture_output=True)
    leftovers = subprocess.run(["pgrep", "-f", home], capture_output=True, text=True).stdout
    assert leftovers == ""
