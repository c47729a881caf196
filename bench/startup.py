"""CLI start-up: `--help`, `--version` and every command that needs no RunPod API call, against the bare
interpreter (the floor). Target < 0.3 s each.

The commands without an API call: `schema`, `init`, `show FILE` (a plan saved by `plan --out`), shell
completion (what each Tab runs) and `--show-completion`, and the sandbox's own commands (`sandbox status`
asks the local sandbox daemon, not RunPod). tests/unit/test_cli_startup.py checks that none of them
imports pydantic, an SDK or the adapters.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import Context, Project, before_tree, run_timed, variants
from table import Row

COMPLETE = {"_PODRECONCILE_COMPLETE": "complete_bash", "COMP_WORDS": "podreconcile sandbox st", "COMP_CWORD": "2"}
TARGET = "target < 0.3 s"
NAME = "start-up"


def commands(work: Path, plan: Path | None) -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, arguments, extra environment) of each command measured."""
    found = [
        ("--help", ["--help"], {}),
        ("--version", ["--version"], {}),
        ("plan --help", ["plan", "--help"], {}),
        ("sandbox --help", ["sandbox", "--help"], {}),
        ("schema", ["schema"], {}),
        ("init", ["init", str(work / "init")], {}),
        ("show FILE", ["show", str(plan)] if plan else [], {}),
        ("show FILE --format json", ["show", str(plan), "--format", "json"] if plan else [], {}),
        ("completion (a Tab: sandbox st)", [], COMPLETE),
        ("--show-completion bash", ["--show-completion", "bash"], {}),
        ("sandbox status", ["sandbox", "status"], {}),
    ]
    return [c for c in found if c[1] or c[2]]


def saved_plan(ctx: Context) -> Path | None:
    """A plan saved by `plan --out` for a new project (it creates a pod): what `show` reads."""
    path = ctx.tmp / "startup" / "plan.json"
    result = Project(ctx, "startup-show").cli("plan", "--out", str(path), check=False)
    if not path.exists():
        ctx.notes.append(f"`show` not measured: `plan --out` exited {result.returncode}.")
        return None
    return path


def run(ctx: Context, before_rev: str | None = None) -> list[Row]:
    work = ctx.tmp / "startup"
    (work / "init").mkdir(parents=True, exist_ok=True)
    trees = variants(ctx, before_tree(ctx, before_rev))
    floor = Row("CLI start-up: python -c pass", "floor")
    rows: list[Row] = [floor]
    for label, args, extra in commands(work, saved_plan(ctx)):
        bench = f"CLI start-up: podreconcile {label}"
        probe = subprocess.run(["podreconcile", *args], cwd=work, env={**ctx.env, **extra}, capture_output=True,
                               text=True)
        if probe.returncode != 0:
            rows.append(Row(bench, "podreconcile", note=f"not measured: exits {probe.returncode} "
                                                       f"({(probe.stderr.strip().splitlines() or [''])[-1][:80]})"))
            continue
        measured = [Row(bench, name, baseline=None if name == "podreconcile before" or len(trees) == 1
                        else "podreconcile before", note=TARGET if name == "podreconcile" else "")
                    for name, _ in trees]
        for _ in range(ctx.runs):
            for row, (_, env) in zip(measured, trees):
                row.samples.append(run_timed(["podreconcile", *args], {**env, **extra}, work))
            floor.samples.append(run_timed([sys.executable, "-c", "pass"], ctx.env, work))
        rows += measured
    return rows
