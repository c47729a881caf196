"""CLI start-up: commands that need no API call, against the bare interpreter (the floor). Target < 0.3 s."""

from __future__ import annotations

import subprocess
import sys

from harness import Context, before_tree, run_timed, variants
from table import Row

COMMANDS = (["--help"], ["--version"], ["plan", "--help"], ["sandbox", "--help"], ["schema"], ["init"])
NAME = "start-up"


def run(ctx: Context, before_rev: str | None = None) -> list[Row]:
    work = ctx.tmp / "startup"
    work.mkdir(exist_ok=True)
    trees = variants(ctx, before_tree(ctx, before_rev))
    floor = Row("CLI start-up: python -c pass", "floor")
    rows: list[Row] = [floor]
    for args in COMMANDS:
        probe = subprocess.run(["podreconcile", *args], cwd=work, env=ctx.env, capture_output=True, text=True)
        bench = f"CLI start-up: podreconcile {' '.join(args)}"
        if probe.returncode != 0:
            rows.append(Row(bench, "podreconcile", note=f"not measured: exits {probe.returncode} "
                                                       f"({(probe.stderr.strip().splitlines() or [''])[-1][:80]})"))
            continue
        measured = [Row(bench, label, baseline=None if label == "podreconcile before" else "podreconcile before",
                        note="target < 0.3 s" if label == "podreconcile" else "") for label, _ in trees]
        for _ in range(ctx.runs):
            for row, (_, env) in zip(measured, trees):
                row.samples.append(run_timed(["podreconcile", *args], env, work))
            floor.samples.append(run_timed([sys.executable, "-c", "pass"], ctx.env, work))
        if len(trees) == 1:
            measured[0].baseline = None
        rows += measured
    return rows
