"""The issue's "a second launch with unchanged requirements spends under 5 s before training starts":
from `apply` starting to the training process started on the pod, read from the run's status.json
on the pod's volume while apply runs (the runner writes state "running" when it spawns the training)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from harness import Context, wait_until

RUN = "tiny_run"


def read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not there yet, or caught mid-rewrite
        return {}


def apply_to_training(ctx: Context, root: Path, env: dict, pod_id: str, args: list[str]) -> tuple[float, float, dict]:
    """(apply's wall time, seconds from apply's start to the new launch's training process started,
    that launch's status.json)."""
    path = ctx.pod_volume(pod_id) / ".podreconcile" / "runs" / RUN / "status.json"
    before = read_status(path).get("launch_id")
    started = time.perf_counter()
    apply = subprocess.Popen(["podreconcile", "apply", *args], cwd=root, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def training_started():
        status = read_status(path)
        if status.get("launch_id") not in (None, before) and status.get("state") not in (None, "setup"):
            return time.perf_counter(), status
        if apply.poll() not in (None, 0, 2):
            raise RuntimeError(f"podreconcile apply exited {apply.returncode}: {apply.stderr.read()[-2000:]}")
        return None

    try:
        at, status = wait_until(training_started, 300, step=0.01)
        apply.wait(timeout=300)
    finally:
        if apply.poll() is None:
            apply.kill()
        apply.communicate()
    return time.perf_counter() - started if apply.returncode in (0, 2) else float("nan"), at - started, status
