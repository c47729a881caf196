"""How soon after a pod's boot delay podreconcile reaches it over SSH.

- sandbox readiness: the time from create until an SSH handshake succeeds, minus the boot delay,
  against the baseline of one handshake with an already-running pod (the floor). Goal: < 1 s.
- apply's wait: `wait_for_ssh_port` (backoff from 0.25 s) against a poller with a fixed 10 s
  interval, the way the shell scripts waited. Ratio < 1 means podreconcile gets there sooner.

Run: .venv/bin/python bench/ssh_ready.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import create, report, sandbox, timed  # noqa: E402

from podreconcile.adapters import ssh  # noqa: E402
from podreconcile.engine import retry
from podreconcile.engine.observe import wait_for_ssh_port  # noqa: E402

BOOT_DELAY = 2.0


def until_ssh(provider, key, pod_id: str) -> None:
    pod = wait_for_ssh_port(provider, pod_id)
    retry.call(lambda: ssh.connect(ssh.Endpoint(pod.ssh.host, pod.ssh.port), key).close(), deadline=30, first_wait=0.05)


def fixed_interval(provider, key, pod_id: str, interval: float = 10.0) -> None:
    while True:
        pod = provider.get_pod(pod_id)
        if pod.ssh is not None:
            try:
                ssh.connect(ssh.Endpoint(pod.ssh.host, pod.ssh.port), key).close()
                return
            except Exception:  # noqa: BLE001 - the naive script retries anything
                pass
        time.sleep(interval)


def main() -> None:
    with sandbox(BOOT_DELAY) as (provider, key, _):
        pod_id = create(provider, key, "bench-ready")
        ready, _ = timed(lambda: until_ssh(provider, key, pod_id))
        pod = provider.get_pod(pod_id)
        handshake, _ = timed(lambda: ssh.connect(ssh.Endpoint(pod.ssh.host, pod.ssh.port), key).close())
        after_delay = ready - BOOT_DELAY
        report("SSH answers after the boot delay", after_delay, handshake)
        print(f"  goal < 1 s after the boot delay: {'met' if after_delay < 1 else 'MISSED'} ({after_delay:.2f} s)")

        second = create(provider, key, "bench-fixed")
        naive, _ = timed(lambda: fixed_interval(provider, key, second))
        third = create(provider, key, "bench-backoff")
        ours, _ = timed(lambda: until_ssh(provider, key, third))
        report("apply's wait for SSH vs a fixed 10 s poll", ours, naive)


if __name__ == "__main__":
    main()
