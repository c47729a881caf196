"""API calls and SSH connections per command run (docs/benchmarks.md, "API calls and SSH connections
per command"): a command lists the account once and hands the listing on, and keeps to one SSH
connection (`Accepted publickey` lines of the pod's sshd log)."""

from __future__ import annotations

import json
import signal

import pytest

from tests.e2e.test_apply import wait_for_line
from tests.e2e.test_day2 import FAKE_TENSORBOARD, free_port, start_long_training
from tests.helpers import ssh_run, wait_for_ssh_port, wait_until

pytestmark = pytest.mark.e2e

PODS = {"v2.pods.list": 1}  # one listing of the account (its network volumes too only when the spec names one)


def api_calls(project) -> dict[str, int]:
    return {k: v for k, v in json.loads(project.sandbox.cli("calls").stdout).items() if not k.startswith("s3.")}


def ssh_logins(project, pod_id: str) -> int:
    log = project.sandbox.home / "run" / pod_id / "pod.log"  # appended at every start
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if "Accepted publickey for " in line)


class Count:
    """The API calls (by operation) and SSH connections made between entering and leaving."""

    def __init__(self, project, pod_id: str) -> None:
        self.project, self.pod_id = project, pod_id

    def __enter__(self):
        self._calls, self._logins = api_calls(self.project), ssh_logins(self.project, self.pod_id)
        return self

    def __exit__(self, *exc) -> None:
        after = api_calls(self.project)
        self.calls = {k: v - self._calls.get(k, 0) for k, v in after.items() if v != self._calls.get(k, 0)}
        self.ssh = ssh_logins(self.project, self.pod_id) - self._logins

    def listings(self) -> dict[str, int]:
        return {k: v for k, v in self.calls.items() if k.endswith(".list")}


def counted(project, pod_id: str, *args: str) -> Count:
    with Count(project, pod_id) as count:
        result = project.cli(*args)
    assert result.returncode == 0, result.stderr
    return count


def test_each_command_lists_the_account_once_and_opens_one_ssh_connection(project, sdk):
    start_long_training(project, steps=3000)
    pod_id = project.pod()["id"]
    port = wait_for_ssh_port(sdk, pod_id)
    install = f"cat > /usr/local/bin/tensorboard <<'EOF'\n{FAKE_TENSORBOARD}EOF\nchmod +x /usr/local/bin/tensorboard"
    assert ssh_run(port, project.ssh_key, install)[0] == 0

    # A running pod: one listing, then one connection (`status` observes as `plan` does: bench/plan.py counts it).
    for args in (("logs", "--tail", "3"), ("pull", "checkpoint-10"), ("ssh", "--", "true")):
        count = counted(project, pod_id, *args)
        assert (count.calls, count.ssh) == (PODS, 1), args
    (project.root / "data" / "tiny.txt").write_text("changed\n")
    count = counted(project, pod_id, "sync-data")
    assert (count.calls, count.ssh) == (PODS, 1), "a small upload goes over the command's connection"

    with Count(project, pod_id) as count:
        tunnel = project.popen("tensorboard", "--port", str(free_port()))
        wait_for_line(tunnel.stdout, "TensorBoard: http://127.0.0.1:")
    tunnel.send_signal(signal.SIGINT)
    tunnel.communicate(timeout=20)
    assert (count.calls, count.ssh) == (PODS, 1)

    count = counted(project, pod_id, "stop")  # the listing, one look at the run, the stop and its check
    assert (count.listings(), count.calls["v2.pods.action"], count.ssh) == (PODS, 1, 1)
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")

    # `logs --start`: one listing for the visit's plan; start, poll for the port, stop, check it stopped.
    count = counted(project, pod_id, "logs", "--start", "--tail", "2")
    assert (count.listings(), count.calls["v2.pods.action"], count.ssh) == (PODS, 2, 1)

    count = counted(project, pod_id, "destroy", "--yes")
    assert (count.calls, count.ssh) == ({"v2.pods.list": 1, "v2.pods.delete": 1}, 0)


def test_a_first_apply_with_a_small_data_file_keeps_to_one_ssh_connection(project):
    """Its data step sends examples/tiny's small file over SFTP on the open connection: rsync would be
    a second connection, worth it only for a large upload (datasync.rsync_pays_off)."""
    result = project.cli("apply", "--yes", "--detach")
    assert result.returncode == 0, result.stderr
    assert "sftp" in result.stderr or "sftp" in result.stdout
    assert ssh_logins(project, project.state["pod_id"]) == 1


def test_logs_follow_lists_the_pods_once_and_reads_nothing_again(project):
    """The follow's first round takes the pod from the command's one listing, not a second `get`."""
    start_long_training(project, steps=3000)
    pod_id = project.state["pod_id"]
    with Count(project, pod_id) as count:
        follower = project.popen("logs", "--follow", "--tail", "2")
        wait_for_line(follower.stdout, r"step")
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=30)
    assert count.calls == PODS and count.ssh == 1
