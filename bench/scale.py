"""How `plan`'s cost grows: with 1, 100 and 1,000 checkpoints on the volume, and with 100 to 10,000 (100,000
with --full) code files; each should stay flat: one API call and one SSH round trip, not one per item.
At each code size also a no-op `apply` (nothing to sync, training running): target under 3 s with 10,000
code files at 20 ms round trip, over one SSH connection."""

from __future__ import annotations

import json

from harness import Context, Project, before_tree, run_timed, variants
from plan import converged, measure_plan
from table import Row, count_ssh_logins

NAME = "scale"


def add_checkpoints(ctx: Context, project: Project, count: int) -> None:
    outputs = ctx.pod_volume(project.pod_id) / "tiny" / "outputs" / "tiny_run"
    for step in range(1, count + 1):
        folder = outputs / f"checkpoint-{step}"
        if not folder.exists():
            folder.mkdir(parents=True)
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def add_code(project: Project, count: int) -> None:
    for i in range(count):
        path = project.root / "gen" / f"d{i % 100:02d}" / f"f{i}.py"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"X = {i}\n")
    project.commit()


def run(ctx: Context, before_rev: str | None = None) -> list[Row]:
    project = converged(ctx, "bench-scale")
    rows: list[Row] = []
    for count in (1, 100, 1000):
        add_checkpoints(ctx, project, count)
        rows += _walls(measure_plan(ctx, project, f"plan vs checkpoints: {count:,}", with_floor=False))
    sizes = (100, 1_000) if ctx.quick else (100, 1_000, 10_000, 100_000) if ctx.full else (100, 1_000, 10_000)
    for count in sizes:
        add_code(project, count)
        project.cli("apply", "--yes", "--detach", timeout=1800)  # syncs the new files; training goes on
        rows += _walls(measure_plan(ctx, project, f"plan vs code files: {count:,}", with_floor=False))
        rows += measure_noop_apply(ctx, project, count, before_rev)
    project.cli("destroy", "--yes", check=False)
    return rows


def measure_noop_apply(ctx: Context, project: Project, count: int, before_rev: str | None) -> list[Row]:
    """`apply` with nothing to do (code synced, training running): its wall time and SSH connections."""
    bench = f"no-op apply, {count:,} code files"
    trees = variants(ctx, before_tree(ctx, before_rev))
    walls = [Row(bench, label) for label, _ in trees]
    walls[0].baseline = trees[1][0] if len(trees) > 1 else None
    logins = [Row(f"{bench}: SSH connections", label, unit="conns") for label, _ in trees]
    command = ["podreconcile", "apply", "--yes", "--detach"]
    for _, env in trees:
        run_timed(command, env, project.root)  # warm caches (page cache, .pyc, the hash cache)
    for _ in range(ctx.runs):
        for i, (_, env) in enumerate(trees):
            before = count_ssh_logins(ctx.pod_log(project.pod_id))
            walls[i].samples.append(run_timed(command, env, project.root))
            logins[i].samples.append(count_ssh_logins(ctx.pod_log(project.pod_id)) - before)
    if count == 10_000:
        walls[0].note, logins[0].note = "target < 3 s at 20 ms round trip", "target 1"
    return walls + logins


def _walls(rows: list[Row]) -> list[Row]:
    """The wall time and the counts; the before-tree is not measured here."""
    for row in rows:
        row.baseline = None
    return rows
