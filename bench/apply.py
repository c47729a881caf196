"""`apply` from a stopped pod to training started (minus the sandbox's boot delay), and from training exit
to the pod stopped, against the shell-script way (bench/baseline/shell_way.sh: polls every 10 s, pip
installs every time, never stops the pod) and the floor (bench/baseline/floor_apply.sh)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness import BASELINE, BOOT_DELAY, Context, Project, run_timed, wait_until
from table import Row

NAME = "apply"
SHORT_TRAINING = {"max_steps": 10, "save_steps": 5, "step_seconds": 0.05}


def stopped(ctx: Context, pod_id: str) -> bool:
    return ctx.pod(pod_id)["desiredStatus"] == "EXITED"


def stop(ctx: Context, pod_id: str) -> None:
    ctx.graphql(f'mutation {{ podStop(input: {{podId: "{pod_id}"}}) {{ id }} }}')
    wait_until(lambda: stopped(ctx, pod_id), 120)


def exit_to_stop(ctx: Context, final: Path, pod_id: str, since: float) -> float:
    """Seconds from the training's last file (final_model.json) to RunPod reporting the pod EXITED."""
    wait_until(lambda: final.exists() and final.stat().st_mtime >= since, 300, step=0.02)
    exited_at = wait_until(lambda: stopped(ctx, pod_id) and time.time(), 300, step=0.02)
    return exited_at - final.stat().st_mtime


def exit_to_stop_following(ctx: Context, final: Path, pod_id: str, env: dict, root: Path) -> float:
    """The same with `apply` attached (its default): the runner waits for it to read the end first."""
    since = time.time()
    apply = subprocess.Popen(["podreconcile", "apply", "--yes", "--force-restart"], cwd=root, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        return exit_to_stop(ctx, final, pod_id, since)
    finally:
        apply.wait(timeout=120)


def run(ctx: Context) -> list[Row]:
    project = Project(ctx, "bench-apply", run__stop_pod_when_done=True)
    project.edit("configs/tiny.yaml", **SHORT_TRAINING)
    project.cli("apply", "--yes", "--detach")
    pod_id = project.pod_id
    ctx.shape(pod_id)
    wait_until(lambda: stopped(ctx, pod_id), 300)
    final = ctx.pod_volume(pod_id) / "tiny" / "outputs" / "tiny_run" / "final_model.json"
    env = {**ctx.env, "POD_ID": pod_id, "KEY": str(ctx.key), "CODE_DIR": str(project.root), "FOLLOW": "0"}
    bench = "apply: stopped pod -> training started, minus boot delay"
    ours, floor, shell = Row(bench, "podreconcile", baseline="floor"), Row(bench, "floor"), Row(bench, "shell way")
    shell.baseline = "floor"
    stop_bench = "training exit -> pod stopped (GPU s billed for nothing)"
    ours_stop, floor_stop = Row(stop_bench, "podreconcile", baseline="floor"), Row(stop_bench, "floor")
    following = Row(stop_bench, "podreconcile, apply following", baseline="floor", note="waits for the follower, cap 3 s")
    runs = max(2, ctx.runs // 2) if not ctx.quick else 1
    for _ in range(runs):
        since = time.time()
        ours.samples.append(run_timed(["podreconcile", "apply", "--yes", "--detach", "--force-restart"], env,
                                      project.root) - BOOT_DELAY)
        ours_stop.samples.append(exit_to_stop(ctx, final, pod_id, since))
        following.samples.append(exit_to_stop_following(ctx, final, pod_id, env, project.root))
        since = time.time()
        floor.samples.append(run_timed(["bash", str(BASELINE / "floor_apply.sh")], env, project.root) - BOOT_DELAY)
        floor_stop.samples.append(exit_to_stop(ctx, final, pod_id, since))
        shell.samples.append(run_timed(["bash", str(BASELINE / "shell_way.sh")], env, project.root) - BOOT_DELAY)
        stop(ctx, pod_id)
    ours.note = "until apply --detach returns; target <= 2x floor (< 5 s with unchanged requirements: bench launch)"
    shell_stop = Row(stop_bench, "shell way", note="never: nothing stops the pod; it bills until a human notices")
    project.cli("destroy", "--yes", check=False)
    return [floor, ours, shell, floor_stop, ours_stop, following, shell_stop]
