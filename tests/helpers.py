"""Helpers for end-to-end tests: wait for a pod's SSH port, reach it with paramiko or OpenSSH."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import paramiko


def wait_for_ssh_port(runpod, pod_id: str, timeout: float = 20) -> int:
    """Poll get_pod as RunPod's own CLI does: RUNNING, runtime present, a 22/tcp port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = runpod.get_pod(pod_id)
        runtime = pod and pod.get("runtime")
        if pod and pod["desiredStatus"] == "RUNNING" and runtime and runtime.get("ports"):
            for port in runtime["ports"]:
                if port["privatePort"] == 22 and port["type"] == "tcp":
                    return port["publicPort"]
        time.sleep(0.1)
    raise AssertionError(f"pod {pod_id} had no SSH port after {timeout} s")


def ssh_client(port: int, key: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=port, username="root", key_filename=str(key),
                   look_for_keys=False, allow_agent=False, timeout=10)
    return client


def ssh_run(port: int, key: Path, command: str) -> tuple[int, str]:
    """Run a command with the OpenSSH client; returns (exit code, stdout)."""
    result = subprocess.run(
        ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "BatchMode=yes", "-i", str(key), "-p", str(port), "root@127.0.0.1", command],
        capture_output=True, text=True, timeout=30,
    )
    return result.returncode, result.stdout


def wait_until(predicate, timeout: float = 15, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def lock_free(path: Path, create: bool = False) -> bool:
    """Whether nobody holds the flock on `path`: tried exclusively, as the runner does, and let go at once."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def network_emulation_missing() -> str | None:
    """Why the sandbox's emulated links cannot run on this machine, or None when they can."""
    from podreconcile.sandbox import links

    reason = links.unavailable_reason()
    if reason:
        return reason
    if subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode != 0:
        return "this machine cannot make network namespaces (unshare --net failed)"
    return None
