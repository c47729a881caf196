"""`plan` on a converged pod (training running, nothing to do): wall time, API calls, SSH connections,
against the floor (one curl for the pods, one ssh for the run's facts: bench/baseline/floor_plan.sh)."""

from __future__ import annotations

from harness import BASELINE, Context, Project, before_tree, run_timed, variants, wait_until
from table import Row, count_calls, count_ssh_logins

NAME = "plan"
LONG_TRAINING = {"max_steps": 1_000_000, "save_steps": 1000, "step_seconds": 0.1}


def converged(ctx: Context, name: str) -> Project:
    """A project whose pod trains for as long as the benchmarks run: `plan` has nothing to do."""
    project = Project(ctx, name, run__stop_pod_when_done=False)
    project.edit("configs/tiny.yaml", **LONG_TRAINING)
    project.cli("apply", "--yes", "--detach")
    ctx.shape(project.pod_id)
    wait_until(lambda: (ctx.pod_volume(project.pod_id) / ".podreconcile" / "runs" / "tiny_run" / "status.json").exists())
    return project


def measure_plan(ctx: Context, project: Project, bench: str, before_rev: str | None = None,
                 with_floor: bool = True) -> list[Row]:
    pod_id = project.pod_id
    floor_env = ctx.ssh_env(pod_id)
    trees = variants(ctx, before_tree(ctx, before_rev))
    floor = Row(bench, "floor (curl + ssh)")
    walls = [Row(bench, label, baseline=floor.variant if with_floor else None) for label, _ in trees]
    calls = [Row(f"{bench}: API calls", label, unit="calls") for label, _ in trees]
    logins = [Row(f"{bench}: SSH connections", label, unit="conns") for label, _ in trees]
    for _, env in trees:  # warm caches (page cache, .pyc) before counting
        run_timed(["podreconcile", "plan"], env, project.root)
    for _ in range(ctx.runs):
        for i, (_, env) in enumerate(trees):
            calls_before, logins_before = ctx.calls(), count_ssh_logins(ctx.pod_log(pod_id))
            walls[i].samples.append(run_timed(["podreconcile", "plan"], env, project.root))
            calls[i].samples.append(count_calls(calls_before, ctx.calls()))
            logins[i].samples.append(count_ssh_logins(ctx.pod_log(pod_id)) - logins_before)
        if with_floor:
            floor.samples.append(run_timed(["bash", str(BASELINE / "floor_plan.sh")], floor_env, project.root))
    calls[0].note, logins[0].note = "target <= 2", "target 1"
    return ([floor] if with_floor else []) + walls + calls + logins


def run(ctx: Context, before_rev: str | None = None) -> list[Row]:
    project = converged(ctx, "bench-plan")
    rows = measure_plan(ctx, project, "plan, converged pod", before_rev)
    rows[1].note = "target <= 1.5x floor"
    project.cli("destroy", "--yes", check=False)
    return rows
