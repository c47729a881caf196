"""Issue 13's soak: apply / preempt / apply in a loop, counting pods, runs and lost steps.

60 s of preemptions by default (the whole suite stays short); PODRECONCILE_SOAK_SECONDS=600 soaks for
ten minutes. Each round: `apply --detach`, let training pass a new checkpoint, `sandbox preempt` the pod.
After each preemption the next apply must resume from the latest complete checkpoint (no step lost,
none skipped) on the one pod of the spec; at the end a last apply finishes the run and the pod stops.
The figures are printed (`-s` shows them) and asserted.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

SOAK_SECONDS = float(os.environ.get("PODRECONCILE_SOAK_SECONDS", "60"))
SAVE_STEPS = 10
# About 5 steps a second of soak at 0.02 s a step, most of each round being apply and boot: enough that
# the run outlives the soak, few enough that the last apply finishes it in seconds.
MAX_STEPS = max(600, int(SOAK_SECONDS * 10))


def latest_complete(project) -> int:
    if not project.pods():
        return 0
    steps = [int(p.name.split("-")[1]) for p in project.checkpoints().glob("checkpoint-*")
             if (p / "trainer_state.json").exists()]
    return max(steps, default=0)


def test_soak_apply_preempt_apply(project):
    project.edit("configs/tiny.yaml", max_steps=MAX_STEPS, save_steps=SAVE_STEPS, step_seconds=0.02)
    figures = {"rounds": 0, "pods_created": 0, "most_pods_at_once": 0, "runs": 0, "steps_lost": 0, "steps_skipped": 0}
    pod_ids: set[str] = set()
    started = time.monotonic()
    while time.monotonic() - started < SOAK_SECONDS and latest_complete(project) < MAX_STEPS - 5 * SAVE_STEPS:
        # Measured now, not at the preemption: the killed container may finish a save in its last moments.
        resumed_from = latest_complete(project) if figures["rounds"] else 0
        result = project.cli("apply", "--yes", "--detach")
        assert result.returncode == 0, result.stderr
        if resumed_from:
            attempt = wait_until(lambda: project.status().get("attempt") == figures["rounds"] + 1 and project.status(),
                                 timeout=30)
            said = re.search(r"checkpoint-(\d+)$", attempt.get("resumed_from") or "")
            assert said, attempt
            figures["steps_lost"] += max(0, resumed_from - int(said.group(1)))
            # A newer checkpoint than the one measured may have been completed by the dying container in its
            # last moments; resuming from it skips nothing. A skip is a resume from an incomplete one (and a
            # gap in the steps, counted as steps_missing below).
            resumed = project.checkpoints() / f"checkpoint-{said.group(1)}"
            figures["steps_skipped"] += 0 if (resumed / "trainer_state.json").exists() else SAVE_STEPS
        pods = project.pods()
        figures["most_pods_at_once"] = max(figures["most_pods_at_once"], len(pods))
        pod_ids |= {p["id"] for p in pods}
        floor = latest_complete(project)
        wait_until(lambda: latest_complete(project) >= floor + SAVE_STEPS, timeout=60, interval=0.2)
        project.sandbox.cli("preempt", pods[0]["id"])
        wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=30)
        figures["rounds"] += 1
    final = project.cli("apply", "--yes")
    assert final.returncode == 0, final.stderr
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=60)
    log = project.train_log()
    figures["runs"] = log.count("=== podreconcile run")
    figures["pods_created"] = len(pod_ids)
    done = {int(n) for n in re.findall(r"^step (\d+) ", log, re.M)}
    figures["steps_missing"] = len(set(range(1, MAX_STEPS + 1)) - done)
    figures["pods_leaked"] = sum(p["desiredStatus"] == "RUNNING" for p in project.all_pods() if p["id"] in pod_ids)
    print(f"\nsoak {SOAK_SECONDS:.0f} s: {figures}")
    assert figures["rounds"] >= 2 and figures["runs"] == figures["rounds"] + 1
    assert figures["pods_created"] == 1 and figures["most_pods_at_once"] == 1
    assert figures["steps_lost"] == figures["steps_skipped"] == figures["steps_missing"] == 0
    assert figures["pods_leaked"] == 0
