"""Emulated links: sandbox pods in network namespaces of their own, slowed, made lossy and cut.

Runs sandboxes with `--network emulated` and drives them as a user would (`podreconcile sandbox
link ...`), reaching the pods with real SSH clients at the endpoint the API reports. Every sandbox
is shut down by its fixture, and the tests check that a pod's link leaves nothing behind (device,
link process, network namespace), so the file can run twice in a row and side by side.
Time is only ever asserted as a lower bound (a delay cannot be beaten) or with generous deadlines.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from podreconcile.sandbox import daemon, links
from tests.helpers import network_emulation_missing, wait_until

BOOT_DELAY = 0.3
GPU = "NVIDIA GeForce RTX 4090"
KEY_QUERY = "mutation Key($k: String) { updateUserSettings(input: {pubKey: $k}) { id } }"
PORTS_QUERY = "query Pod($id: String!) { pod(input: {podId: $id}) { runtime { ports { ip publicPort privatePort type } } } }"


WHY_NOT = network_emulation_missing()
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""), pytest.mark.timeout(120)]


# --- fixtures and helpers ---------------------------------------------------------------------


class Box:
    """A sandbox started for these tests, and what a user does with it."""

    def __init__(self, home: Path, running: daemon.Running, ssh_key: Path) -> None:
        self.home = home
        self.running = running
        self.ssh_key = ssh_key

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = ["podreconcile", "sandbox", *args, "--home", str(self.home)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def create(self, name: str = "netem-pod") -> str:
        body = {"name": name, "image": "runpod/pytorch:2.4.0", "gpu": {"id": GPU, "count": 1}, "ports": ["22/tcp"],
                "mounts": {"persistent": {"size": 10, "path": "/workspace"}}, "startSsh": True}  # fmt: skip
        return daemon.v2(self.running, "POST", "/v2/pods", body)["id"]

    def endpoint(self, pod_id: str, timeout: float = 30) -> tuple[str, int]:
        """The pod's SSH endpoint once it answers, as v2's ssh.direct reports it."""

        def direct():
            pod = daemon.v2(self.running, "GET", f"/v2/pods/{pod_id}")
            return pod["runtime"] and pod["ssh"]["direct"]

        direct_ssh = wait_until(direct, timeout=timeout)
        return direct_ssh["host"], direct_ssh["port"]

    def action(self, pod_id: str, name: str) -> None:
        """stop, start or terminate, as v2 does them."""
        if name == "terminate":
            daemon.v2(self.running, "DELETE", f"/v2/pods/{pod_id}")
        else:
            daemon.v2(self.running, "POST", f"/v2/pods/{pod_id}/action", {"action": name})

    def link(self, pod_id: str) -> dict:
        """The pod's link as the sandbox recorded it (device, link process)."""
        return json.loads((self.home / "run" / pod_id / "link.json").read_text())

    def status_line(self, pod_id: str) -> str:
        return next(line for line in self.cli("status").stdout.splitlines() if pod_id in line)

    def ssh(self, host: str, port: int) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(host, port=port, username="root", key_filename=str(self.ssh_key), look_for_keys=False,
                       allow_agent=False, timeout=20, banner_timeout=20, auth_timeout=20)  # fmt: skip
        return client


def start_box(home: Path, ssh_key: Path, **options: str) -> Box:
    running = daemon.up(home, boot_delay=BOOT_DELAY, network="emulated", **options)
    daemon.graphql(running, KEY_QUERY, {"k": ssh_key.with_suffix(".pub").read_text().strip()})
    return Box(home, running, ssh_key)


@pytest.fixture(scope="module")
def box(tmp_path_factory, ssh_key) -> Iterator[Box]:
    home = tmp_path_factory.mktemp("netem-home")
    yield start_box(home, ssh_key)
    daemon.down(home)


def run(client: paramiko.SSHClient, command: str, timeout: float = 60) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    output = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
    return output


def api_port(box: Box) -> int:
    return int(box.running.url.rsplit(":", 1)[1])


def api_call_ms(host: str, port: int) -> str:
    """A command for the pod: one call to the sandbox's health check; prints the status and the milliseconds."""
    program = ("import time, urllib.request; t = time.monotonic(); "
               f"r = urllib.request.urlopen('http://{host}:{port}/_sandbox/health', timeout=30); "
               "print(r.status, (time.monotonic() - t) * 1000)")  # fmt: skip
    return f'python3 -c "{program}"'


def handshake_ms(host: str, port: int, tries: int = 5) -> float:
    """The fastest of a few TCP handshakes (connect() returns after one round trip)."""
    best = float("inf")
    for _ in range(tries):
        started = time.monotonic()
        with socket.create_connection((host, port), timeout=20):
            best = min(best, (time.monotonic() - started) * 1000)
    return best


def netns_members(link: dict) -> set[tuple[int, str]]:
    """Every process in the link's network namespace now, as (pid, start time): the pod's and the link's.

    Compared by process, not by namespace inode: the kernel reuses a freed namespace's inode number.
    """
    namespace = os.readlink(f"/proc/{link['pid']}/ns/net")
    members = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == namespace:
                    members.add((int(entry), links._start_time(int(entry))))
            except OSError:
                pass  # gone meanwhile
    return members


def leftovers(link: dict, members: set[tuple[int, str]]) -> list[str]:
    """What is left of a stopped pod's link: its device, or any process of its network namespace."""
    found = []
    if Path("/sys/class/net", link["device"]).exists():
        found.append(f"device {link['device']}")
    found += [f"process {pid} of the pod's network namespace" for pid, started in members
              if links._start_time(pid) == started]  # fmt: skip
    return found


def assert_gone(link: dict, namespace: set[tuple[int, str]]) -> None:
    try:
        wait_until(lambda: not leftovers(link, namespace), timeout=20)
    except AssertionError:
        raise AssertionError(f"left behind: {leftovers(link, namespace)}") from None
    assert link["device"] not in subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True, check=True).stdout


# --- tests ------------------------------------------------------------------------------------


def test_an_emulated_pod_is_reached_over_ssh_at_the_endpoint_the_api_reports(box: Box) -> None:
    pod_id = box.create()
    host, port = box.endpoint(pod_id)
    assert ipaddress.ip_address(host) in links.LINK_RANGE
    ports = daemon.graphql(box.running, PORTS_QUERY, {"id": pod_id})["pod"]["runtime"]["ports"]
    assert {"ip": host, "publicPort": port, "privatePort": 22, "type": "tcp"} in ports
    with box.ssh(host, port) as client:
        assert run(client, "hostname").strip() == pod_id
        assert f"inet {host}/30" in run(client, "ip -4 addr show dev eth0")
        # The pod reaches the API through its link's gateway, with its own environment's URL.
        environment = run(client, "tr '\\0' '\\n' < /proc/1/environ")
        gateway = box.link(pod_id)["host_ip"]
        assert f"RUNPOD_API_URL=http://{gateway}:{api_port(box)}/graphql" in environment
        # The laptop's API URL (127.0.0.1:<port>) works in the pod too, as in a loopback pod.
        for host in (gateway, "127.0.0.1"):
            assert run(client, api_call_ms(host, api_port(box))).split()[0] == "200"
    # No pod is on the shared loopback: nothing listens there for it.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_50ms_round_trip_shows_in_every_handshake_and_clears(box: Box, sandbox) -> None:
    pod_id = box.create()
    host, port = box.endpoint(pod_id)
    box.cli("link", pod_id, "--delay", "25ms")
    assert handshake_ms(host, port) >= 50
    with box.ssh(host, port) as client:
        started = time.monotonic()
        run(client, "true")  # a channel open, the command, its exit status: at least one round trip
        assert (time.monotonic() - started) * 1000 >= 50
        # The pod's own API calls cross its link too, whichever URL it uses.
        status, elapsed_ms = run(client, api_call_ms("127.0.0.1", api_port(box))).split()
        assert status == "200" and float(elapsed_ms) >= 50
    assert "link: delay 25ms" in box.status_line(pod_id)
    box.cli("link", pod_id, "--clear")
    assert handshake_ms(host, port) < 50
    # A pod of a loopback sandbox: no delay at all.
    loopback_pod = daemon.v2(sandbox.running, "POST", "/v2/pods", {
        "name": "loopback-pod", "image": "runpod/pytorch:2.4.0", "gpu": {"id": GPU, "count": 1},
        "ports": ["22/tcp"], "startSsh": True})["id"]  # fmt: skip
    loopback = Box(sandbox.home, sandbox.running, box.ssh_key)
    loopback_host, loopback_port = loopback.endpoint(loopback_pod)
    try:
        assert loopback_host == "127.0.0.1"
        assert handshake_ms(loopback_host, loopback_port) < 50
        refused = loopback.cli("link", loopback_pod, "--delay", "25ms", check=False)
        assert refused.returncode != 0 and "--network emulated" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        loopback.action(loopback_pod, "terminate")


def test_a_link_down_for_5s_makes_a_command_hang_then_recover(box: Box) -> None:
    pod_id = box.create()
    host, port = box.endpoint(pod_id)
    with box.ssh(host, port) as client:
        assert run(client, "echo before").strip() == "before"
        box.cli("link", pod_id, "--down", "--for", "5s")
        cut_at = time.monotonic()
        answers: list[tuple[str, float]] = []
        command = threading.Thread(target=lambda: answers.append((run(client, "echo back"), time.monotonic())))
        command.start()
        command.join(1.5)
        assert command.is_alive()  # nothing gets through a cut link: the command hangs
        command.join(60)
        assert answers, "the command never finished once the link was back"
        output, finished_at = answers[0]
        assert output.strip() == "back"  # on the same connection, once the link is back
        assert finished_at - cut_at >= 4.5
        assert run(client, "echo after").strip() == "after"
    assert "link: clear" in box.status_line(pod_id)  # the cut ended by itself


def test_a_transfer_completes_over_a_link_that_loses_5_percent(box: Box) -> None:
    pod_id = box.create()
    host, port = box.endpoint(pod_id)
    box.cli("link", pod_id, "--loss", "5%", "--delay", "2ms")
    payload = os.urandom(1 << 20)
    with box.ssh(host, port) as client:
        with client.open_sftp() as sftp, sftp.open("/workspace/payload.bin", "wb") as remote:
            remote.write(payload)
        assert run(client, "sha256sum /workspace/payload.bin").split()[0] == hashlib.sha256(payload).hexdigest()


def test_runpodctl_in_an_emulated_pod_stops_it_and_its_link(box: Box) -> None:
    pod_id = box.create()
    host, port = box.endpoint(pod_id)
    link = box.link(pod_id)
    namespace = netns_members(link)
    with box.ssh(host, port) as client:
        command = ('while IFS= read -r -d "" l; do export "$l"; done < /proc/1/environ; '
                   'runpodctl stop pod "$RUNPOD_POD_ID"')  # fmt: skip
        assert "stopped" in run(client, command)
    wait_until(lambda: daemon.v2(box.running, "GET", f"/v2/pods/{pod_id}")["status"] == "EXITED")
    assert_gone(link, namespace)


def test_stop_and_preempt_leave_no_link_behind_and_a_restart_gets_a_new_one(box: Box) -> None:
    pod_id = box.create()
    box.endpoint(pod_id)
    first = box.link(pod_id)
    first_namespace = netns_members(first)
    box.action(pod_id, "stop")
    assert_gone(first, first_namespace)
    box.action(pod_id, "start")
    host, port = box.endpoint(pod_id)
    second = box.link(pod_id)
    with box.ssh(host, port) as client:
        assert run(client, "hostname").strip() == pod_id
    second_namespace = netns_members(second)
    assert (second["pid"], second["started"]) != (first["pid"], first["started"])
    assert len(second_namespace) >= 3  # the link process, unshare, pod_init, sshd...
    box.cli("preempt", pod_id)
    assert_gone(second, second_namespace)


def test_two_emulated_sandboxes_side_by_side(box: Box, tmp_path: Path, ssh_key: Path) -> None:
    other = start_box(tmp_path / "other-home", ssh_key, netem="delay 15ms")
    try:
        pods = [(b, b.create(f"side-{i}")) for i, b in enumerate((box, other))]
        endpoints = [b.endpoint(pod_id) for b, pod_id in pods]
        assert endpoints[0][0] != endpoints[1][0]
        for (b, pod_id), (host, port) in zip(pods, endpoints):
            with b.ssh(host, port) as client:
                assert run(client, "hostname").strip() == pod_id
        # The second sandbox's --netem applies to its new pods; the first sandbox's pod is unshaped.
        assert handshake_ms(*endpoints[1]) >= 30
        assert handshake_ms(*endpoints[0]) < 30
        assert "emulated links (new pods: delay 15ms) network" in other.cli("status").stdout
        link = other.link(pods[1][1])
        namespace = netns_members(link)
    finally:
        daemon.down(other.home)
    assert_gone(link, namespace)


def test_link_settings_are_refused_with_one_sentence(box: Box) -> None:
    pod_id = box.create()
    box.endpoint(pod_id)
    for args, words in [(("--delay", "fast"), "not a duration"), (("--loss", "150%"), "between 0% and 100%"),
                        (("--for", "5s"), "--for only goes with --down"), ((), "Give either --clear"),
                        (("--down", "--delay", "5ms"), "give it alone")]:  # fmt: skip
        result = box.cli("link", pod_id, *args, check=False)
        assert result.returncode != 0 and words in result.stderr and "Traceback" not in result.stderr
    unknown = box.cli("link", "nosuchpod", "--delay", "5ms", check=False)
    assert unknown.returncode != 0 and "no pod nosuchpod" in unknown.stderr
    with pytest.raises(daemon.SandboxError, match="already runs with network emulated"):
        daemon.up(box.home, network="loopback")


@pytest.mark.parametrize(("options", "words"), [
    ({"network": "bridged"}, "--network must be one of loopback, emulated"),
    ({"network": "loopback", "netem": "delay 5ms"}, "the loopback is never shaped"),
    ({"netem": "delay fast"}, "not a duration"),
])  # fmt: skip
def test_sandbox_up_refuses_a_network_it_cannot_make(tmp_path: Path, options: dict, words: str) -> None:
    with pytest.raises(daemon.SandboxError, match=words):
        daemon.up(tmp_path / "home", **options)
    assert not (tmp_path / "home").exists()  # refused before anything started
