"""Shared set-up for the benchmarks: a throwaway sandbox, an SSH key, and a pod to talk to."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from podreconcile.adapters.runpod_graphql import RunPod
from podreconcile.core.ports import CreateRequest
from podreconcile.sandbox import daemon


@contextlib.contextmanager
def sandbox(boot_delay: float):
    """Yield (provider, key_path, home) for a sandbox that is torn down afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        home, key = Path(tmp) / "home", Path(tmp) / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        running = daemon.up(home, boot_delay=boot_delay)
        os.environ["RUNPOD_API_BASE_URL"] = running.url
        try:
            yield RunPod(running.api_key), key, home
        finally:
            daemon.down(home)


def create(provider: RunPod, key: Path, name: str) -> str:
    return provider.create_pod(CreateRequest(
        name=name, image="img", gpu_type_id="NVIDIA GeForce RTX 4090", gpu_count=1, cloud="secure",
        interruptible=False, bid_per_gpu=None, container_disk_gb=10, volume_gb=5, volume_mount_path="/workspace",
        ports="22/tcp", env={"PUBLIC_KEY": key.with_suffix(".pub").read_text().strip()}, network_volume_id=None))


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def report(name: str, ours: float, baseline: float, unit: str = "s") -> None:
    print(f"{name}: ours {ours:.3f} {unit}, baseline {baseline:.3f} {unit}, ratio {ours / baseline:.2f}")
