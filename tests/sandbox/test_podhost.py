"""PodHost: sandbox pods as namespaces with a real sshd, reached only through real SSH clients.

Needs root (namespaces, mounts), util-linux `unshare`, openssh-server, tmux and rsync.
Every pod is stopped by the `pod_host` fixture, so the file can run twice, or side by side.
The throwaway key is the session's `ssh_key` from tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paramiko
import pytest

from podreconcile.sandbox.podhost import RUNPODCTL, PodHost, PodHostError, PodLaunch
from tests.helpers import ssh_client, wait_until

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root: namespaces and mounts"),
    pytest.mark.timeout(60),
]

READY_TIMEOUT = 10.0
API_KEY = "rpa_SANDBOXPODKEY"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def pod_host(tmp_path: Path) -> Iterator[PodHost]:
    host = PodHost(tmp_path / "state")
    yield host
    host.stop_all()


@pytest.fixture
def launch(tmp_path: Path, ssh_key: Path) -> Callable[..., PodLaunch]:
    """Builds a PodLaunch with a free port and folders under tmp_path; keywords override."""

    def make(pod_id: str = "pod1", **overrides: object) -> PodLaunch:
        env = {
            "PUBLIC_KEY": ssh_key.with_suffix(".pub").read_text(),
            "RUNPOD_POD_ID": pod_id,
            "RUNPOD_API_KEY": API_KEY,
        }
        fields = {
            "pod_id": pod_id,
            "env": {**env, **overrides.pop("extra_env", {})},  # type: ignore[dict-item]
            "volume_dir": tmp_path / "volumes" / pod_id,
            "volume_mount_path": "/workspace",
            "container_dir": tmp_path / "containers" / pod_id,
            "ssh_port": free_port(),
            "boot_delay": 0.0,
        }
        return PodLaunch(**{**fields, **overrides})  # type: ignore[arg-type]

    return make


# --- helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ready(host: PodHost, launch: PodLaunch) -> None:
    host.start(launch)
    deadline = time.monotonic() + READY_TIMEOUT
    while not host.ssh_ready(launch.pod_id):
        assert host.is_running(launch.pod_id), host.log_path(launch.pod_id).read_text()
        assert time.monotonic() < deadline, host.log_path(launch.pod_id).read_text()
        time.sleep(0.02)


def ssh_command(key: Path, port: int) -> list[str]:
    """The OpenSSH client, as a user would run it against a RunPod pod."""
    return [
        "ssh", "-i", str(key), "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
        "root@127.0.0.1",
    ]  # fmt: skip


def ssh(key: Path, port: int, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ssh_command(key, port), command], capture_output=True, text=True, timeout=20
    )


def paramiko_run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=20)
    output = stdout.read().decode()
    return stdout.channel.recv_exit_status(), output


def host_key(key: Path, port: int) -> str:
    client = ssh_client(port, key)
    try:
        return client.get_transport().get_remote_server_key().get_base64()
    finally:
        client.close()


def namespace_members(pid_namespace: str) -> list[int]:
    """Host pids of every process in the given PID namespace (e.g. 'pid:[4026532179]')."""
    members = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == pid_namespace:
                members.append(int(entry))
        except OSError:
            pass  # exited while scanning
    return members


def pid_namespace_of(host: PodHost, pod_id: str) -> str:
    init = host.init_pid(pod_id)
    assert init is not None
    return os.readlink(f"/proc/{init}/ns/pid")


def wait_for_log(host: PodHost, pod_id: str, text: str) -> None:
    wait_until(lambda: text in host.log_path(pod_id).read_text(), READY_TIMEOUT, 0.02)


# --- storage ----------------------------------------------------------------------------------


def test_volume_survives_restart_container_disk_and_host_keys_do_not(pod_host, launch, ssh_key):
    first = launch()
    workspace_existed = Path("/workspace").exists()
    start_ready(pod_host, first)
    key_before = host_key(ssh_key, first.ssh_port)
    client = ssh_client(first.ssh_port, ssh_key)
    status, _ = paramiko_run(
        client,
        "echo kept > /workspace/kept.txt && echo lost > /root/lost.txt"
        " && touch /etc/pod-marker /usr/local/bin/pod-marker /tmp/pod-marker /top-level-marker",
    )
    client.close()
    assert status == 0
    assert (first.volume_dir / "kept.txt").read_text() == "kept\n"
    for path in ("/etc/pod-marker", "/usr/local/bin/pod-marker", "/top-level-marker"):
        assert not Path(path).exists(), f"{path} leaked to the host"
    assert Path("/workspace").exists() == workspace_existed

    pod_host.stop(first.pod_id)
    assert not first.container_dir.exists()  # RunPod clears the container disk on stop
    second = launch(ssh_port=free_port())  # RunPod maps a new public port on every start
    start_ready(pod_host, second)

    result = ssh(ssh_key, second.ssh_port, "cat /workspace/kept.txt; ls /root /tmp /etc/pod-marker")
    assert result.stdout.startswith("kept\n")
    assert "lost.txt" not in result.stdout
    assert "pod-marker" not in result.stdout
    assert host_key(ssh_key, second.ssh_port) != key_before


def test_rsync_and_sftp_reach_the_volume(pod_host, launch, ssh_key, tmp_path):
    pod = launch(volume_mount_path="/data/volume")  # a mount point that does not exist on the host
    data_existed = Path("/data").exists()
    start_ready(pod_host, pod)
    source = tmp_path / "code"
    source.mkdir()
    (source / "train.py").write_text("print('hi')\n")
    rsh = " ".join(ssh_command(ssh_key, pod.ssh_port)[:-1])
    subprocess.run(
        ["rsync", "-a", "-e", rsh, f"{source}/", "root@127.0.0.1:/data/volume/code/"],
        check=True, timeout=20, capture_output=True,
    )  # fmt: skip
    assert (pod.volume_dir / "code" / "train.py").read_text() == "print('hi')\n"
    client = ssh_client(pod.ssh_port, ssh_key)
    with client.open_sftp() as sftp, sftp.open("/data/volume/code/train.py") as remote:
        assert remote.read() == b"print('hi')\n"
    # TCP forwarding (the TensorBoard tunnel): through the pod to its own sshd, which greets.
    tunnel = client.get_transport().open_channel(
        "direct-tcpip", ("127.0.0.1", pod.ssh_port), ("127.0.0.1", 0), timeout=5
    )
    assert tunnel.recv(4) == b"SSH-"
    tunnel.close()
    client.close()
    assert Path("/data").exists() == data_existed


# --- environment ------------------------------------------------------------------------------


def test_env_lives_in_pid1_and_rp_environment_not_in_sessions(pod_host, launch, ssh_key):
    tricky = 'quote" dollar$HOME back`tick` back\\slash\nsecond line'
    pod = launch(extra_env={"TRICKY": tricky, "lower_case": "skipped"})
    start_ready(pod_host, pod)

    pid1 = ssh(ssh_key, pod.ssh_port, "tr '\\0' '\\n' < /proc/1/environ").stdout
    assert f"RUNPOD_API_KEY={API_KEY}" in pid1 and "RUNPOD_POD_ID=pod1" in pid1
    session = ssh(ssh_key, pod.ssh_port, "env").stdout
    assert "RUNPOD_API_KEY" not in session and "PUBLIC_KEY" not in session
    assert "/usr/local/bin" in session  # sshd's own PATH

    rp_environment = ssh(ssh_key, pod.ssh_port, "cat /etc/rp_environment").stdout
    assert f'export RUNPOD_API_KEY="{API_KEY}"' in rp_environment
    assert "PUBLIC_KEY" not in rp_environment and "lower_case" not in rp_environment
    sourced = ssh(ssh_key, pod.ssh_port, 'source /etc/rp_environment && printf %s "$TRICKY"')
    assert sourced.stdout == tricky
    bashrc = ssh(ssh_key, pod.ssh_port, "tail -n 1 /root/.bashrc; hostname").stdout
    assert bashrc == "source /etc/rp_environment\npod1\n"


# --- processes --------------------------------------------------------------------------------


def test_tmux_survives_disconnect_and_dies_with_stop(pod_host, launch, ssh_key):
    pod = launch()
    start_ready(pod_host, pod)
    client = ssh_client(pod.ssh_port, ssh_key)
    status, _ = paramiko_run(client, "tmux new-session -d -s train 'sleep 1000'")
    client.close()
    assert status == 0

    # A new connection finds the session; its orphans are reaped by PID 1 (no zombie left).
    orphan = "sh -c '(sleep 0.1 &)'; sleep 0.5"
    command = f"{orphan}; tmux has-session -t train && ps -e -o stat= | grep -c '^Z'"
    result = ssh(ssh_key, pod.ssh_port, command)
    assert result.stdout.strip() == "0", result.stdout + result.stderr
    namespace = pid_namespace_of(pod_host, pod.pod_id)
    assert len(namespace_members(namespace)) >= 4  # init, sshd, tmux server, sleep

    pod_host.stop(pod.pod_id)
    assert namespace_members(namespace) == []
    assert not pod_host.is_running(pod.pod_id)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(pod.container_dir) not in mounts and str(pod.volume_dir) not in mounts


def test_stop_kills_processes_that_ignore_sigterm(pod_host, launch, ssh_key):
    pod = launch()
    start_ready(pod_host, pod)
    command = "tmux new-session -d -s stubborn \"bash -c 'trap \\\"\\\" TERM HUP; sleep 1000'\""
    assert ssh(ssh_key, pod.ssh_port, command).returncode == 0
    namespace = pid_namespace_of(pod_host, pod.pod_id)
    began = time.monotonic()
    pod_host.stop(pod.pod_id)
    assert time.monotonic() - began < 3.0
    assert namespace_members(namespace) == []


def test_stop_is_idempotent_and_quiet_for_unknown_pods(pod_host, launch):
    pod = launch(boot_delay=5.0)
    pod_host.start(pod)
    with pytest.raises(PodHostError, match="already running"):
        pod_host.start(pod)
    began = time.monotonic()
    pod_host.stop(pod.pod_id)  # right after start, during the boot delay
    assert time.monotonic() - began < 1.0  # SIGTERM was heeded: no wait for SIGKILL
    pod_host.stop(pod.pod_id)
    pod_host.stop("never-started")
    assert not pod_host.is_running(pod.pod_id)
    assert not pod_host.ssh_ready(pod.pod_id)


def test_pod_outlives_the_process_that_started_it_and_a_new_host_stops_it(tmp_path, launch, ssh_key):
    pod = launch()
    script = (
        "import json, sys; from pathlib import Path\n"
        "from podreconcile.sandbox.podhost import PodHost, PodLaunch\n"
        "fields = json.loads(sys.argv[1])\n"
        "for name in ('volume_dir', 'container_dir'): fields[name] = Path(fields[name])\n"
        f"PodHost(Path({str(tmp_path / 'state')!r})).start(PodLaunch(**fields))\n"
    )
    fields = dataclasses.asdict(pod)
    fields.update(volume_dir=str(pod.volume_dir), container_dir=str(pod.container_dir))
    subprocess.run([sys.executable, "-c", script, json.dumps(fields)], check=True, timeout=20)

    restarted = PodHost(tmp_path / "state")
    try:
        assert restarted.is_running(pod.pod_id)
        wait_until(lambda: restarted.ssh_ready(pod.pod_id), READY_TIMEOUT, 0.02)
        assert ssh(ssh_key, pod.ssh_port, "true").returncode == 0
    finally:
        restarted.stop_all()
    assert not restarted.is_running(pod.pod_id)
    assert not (tmp_path / "state" / pod.pod_id / "pid").exists()


# --- sshd -------------------------------------------------------------------------------------


def test_without_public_key_or_port_no_sshd_listens(pod_host, launch):
    keyless = launch("keyless", extra_env={"PUBLIC_KEY": ""})
    portless = launch("portless", ssh_port=None)
    pod_host.start(keyless)
    pod_host.start(portless)
    wait_for_log(pod_host, "keyless", "boot done")
    wait_for_log(pod_host, "portless", "boot done")
    time.sleep(0.3)  # sshd would have been listening by now
    assert pod_host.is_running("keyless") and pod_host.is_running("portless")
    assert not pod_host.ssh_ready("keyless") and not pod_host.ssh_ready("portless")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", keyless.ssh_port), timeout=1).close()


def test_ssh_ready_within_a_second_after_boot_delay(pod_host, launch):
    pod = launch(boot_delay=1.0)
    began = time.monotonic()
    pod_host.start(pod)
    assert time.monotonic() - began < 0.5  # start returns at once
    while not pod_host.ssh_ready(pod.pod_id):
        assert time.monotonic() - began < pod.boot_delay + 1.0
        time.sleep(0.02)
    assert time.monotonic() - began >= pod.boot_delay


def test_invalid_launches_are_refused(pod_host, launch, tmp_path):
    for overrides in (
        {"volume_mount_path": "workspace"},
        {"volume_mount_path": "/proc/x"},
        {"volume_mount_path": "/"},
        {"container_dir": Path("/usr/local/pod-disk")},
        {"container_dir": Path("/tmp")},
        {"container_dir": tmp_path, "volume_dir": tmp_path / "volume"},
        {"pod_id": "../escape"},
    ):
        with pytest.raises(PodHostError):
            pod_host.start(launch(**overrides))
    assert not Path("/usr/local/pod-disk").exists()


# --- runpodctl --------------------------------------------------------------------------------


class StubGraphQL:
    """A one-route HTTP server recording requests and answering with a chosen status and body."""

    def __init__(self, status: int = 200, body: dict | None = None) -> None:
        self.requests: list[dict] = []
        self.status = status
        self.body = body or {"data": {"podStop": {"id": "x", "desiredStatus": "EXITED"}}}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                headers = dict(self.headers)
                stub.requests.append({"path": self.path, "headers": headers, "body": body})
                payload = json.dumps(stub.body).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/graphql"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubGraphQL]:
    server = StubGraphQL()
    yield server
    server.close()


def test_runpodctl_in_pod_stops_its_pod_with_graphql_variables(pod_host, launch, ssh_key, stub):
    pod = launch("selfstop", extra_env={"RUNPOD_GRAPHQL_URL": stub.url})
    start_ready(pod_host, pod)
    exported = "while IFS= read -r -d '' l; do export \"$l\"; done < /proc/1/environ"
    command = f'command -v runpodctl; {exported}; runpodctl stop pod "$RUNPOD_POD_ID"'
    result = ssh(ssh_key, pod.ssh_port, command)
    assert result.stdout == '/usr/local/bin/runpodctl\npod "selfstop" stopped\n', result.stderr

    [request] = stub.requests
    assert request["path"] == "/graphql"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request["body"]) == {
        "query": "mutation stopPod($podId: String!) { podStop(input: {podId: $podId}) "
        "{ id desiredStatus lastStatusChange } }",
        "variables": {"podId": "selfstop"},
    }


def run_runpodctl(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The same script, run on the host with the system python3 as inside a pod."""
    return subprocess.run(
        ["/usr/bin/python3", str(RUNPODCTL), *args],
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=20,
    )  # fmt: skip


def test_runpodctl_reports_failures_but_exits_0_as_the_real_one_does(stub):
    env = {"RUNPOD_API_KEY": API_KEY, "RUNPOD_API_URL": stub.url}  # the fallback URL variable
    stub.status = 500
    failed = run_runpodctl(["stop", "pod", "abc"], env)
    assert (failed.returncode, failed.stdout) == (0, 'pod "abc" stop failed: statuscode 500\n')

    stub.status = 200
    stub.body = {"errors": [{"message": "pod not found"}], "data": {"podStop": None}}
    refused = run_runpodctl(["stop", "pod", "abc"], env)
    assert (refused.returncode, refused.stdout) == (0, 'pod "abc" stop failed: pod not found\n')

    stub.body = {"data": {"podStop": {"id": "abc", "desiredStatus": "RUNNING"}}}
    running = run_runpodctl(["stop", "pod", "abc"], env)
    assert (running.returncode, running.stdout) == (0, 'pod "abc" stop failed; status is RUNNING\n')
    assert len(stub.requests) == 3


def test_runpodctl_stops_over_rest_v2_once_graphql_is_gone(stub):
    env = {"RUNPOD_API_KEY": API_KEY, "RUNPOD_GRAPHQL_URL": stub.url}
    stub.status = 410  # the stub answers every path alike: GraphQL's 410, then the same 410 over REST
    gone = run_runpodctl(["stop", "pod", "abc"], env)
    assert (gone.returncode, gone.stdout) == (0, 'pod "abc" stop failed: statuscode 410\n')
    assert [r["path"] for r in stub.requests] == ["/graphql", "/v2/pods/abc/action"]
    assert json.loads(stub.requests[1]["body"]) == {"action": "stop"}
    assert stub.requests[1]["headers"]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("args", [[], ["pod", "stop", "abc"], ["get", "pod"], ["stop", "pod"]])
def test_runpodctl_other_grammar_prints_usage(args):
    result = run_runpodctl(args, {"RUNPOD_API_KEY": API_KEY})
    assert result.returncode == 1
    assert "runpodctl stop pod <podId>" in result.stderr


def test_tools_are_on_the_pods_path(pod_host, launch, ssh_key):
    pod = launch()
    on_host = Path("/usr/local/bin/runpodctl").exists()
    start_ready(pod_host, pod)
    result = ssh(ssh_key, pod.ssh_port, "command -v tmux python3 rsync bash runpodctl")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "/usr/local/bin/runpodctl"
    assert Path("/usr/local/bin/runpodctl").exists() == on_host  # written in the pod's /usr only
