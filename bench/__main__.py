"""`python -m bench [NAMES...] [--runs N] [--latency 50ms] [--before REV] [--out FILE]`: run the benchmarks
against a throwaway sandbox and write the table (default: every benchmark, docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, network_emulation_available, sandbox  # noqa: E402
from table import Row, dump, markdown, parse_latency, write_section  # noqa: E402

ALL = ("startup", "plan", "apply", "launch", "sync", "s3", "scale")
MODULES = {"sync": "sync_tree"}  # bench/sync.py is the older stand-alone script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(ALL)}")
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each variant (median, min, max)")
    parser.add_argument("--latency", default="", help="round trip of the emulated link to the pods, e.g. 50ms")
    parser.add_argument("--before", default=None, metavar="REV", help="also measure podreconcile at git revision REV")
    parser.add_argument("--full", action="store_true", help="also the largest sizes (100,000 code files)")
    parser.add_argument("--quick", action="store_true", help="smaller trees and fewer sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown table to (re)write")
    parser.add_argument("--json", type=Path, default=None, help="also save the raw samples as JSON")
    args = parser.parse_args(argv)
    names = args.names or list(ALL)
    latency = parse_latency(args.latency)
    rows: list[Row] = []
    notes: list[str] = []
    if latency and not network_emulation_available():
        # Delay on the shared loopback would slow every process on the machine, not just this link.
        note = (f"Link {args.latency} round trip: not measured. This tree's sandbox has no emulated network "
                "(`podreconcile sandbox up --network emulated` and `sandbox link`); loopback delay is no substitute.\n")
        print(note, file=sys.stderr)
        if args.out:
            write_section(args.out, args.latency, note)
        return 0
    with sandbox(args.runs, latency, args.quick, args.full) as ctx:
        for name in names:
            module = importlib.import_module(MODULES.get(name, name))
            started = time.monotonic()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                got = module.run(ctx, args.before) if "before_rev" in module.run.__code__.co_varnames else module.run(ctx)
            except Exception as error:  # noqa: BLE001 - one failed benchmark is a row, not a lost run
                traceback.print_exc()
                got = [Row(name, "failed", note=f"{type(error).__name__}: {str(error)[:200]}")]
            rows += got
            print(markdown(got), file=sys.stderr, flush=True)
            print(f"[bench] {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        notes += ctx.notes
    heading = (f"Runs: {args.runs} per variant; link: {'loopback' if not latency else args.latency + ' round trip'}"
               + (f"; before = {args.before}" if args.before else "")
               + ("; --quick (smaller trees, fewer sizes)" if args.quick else "") + ".")
    table = markdown(rows, heading + "\n")
    if notes:
        table += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    if args.json:
        args.json.write_text(dump(rows))
    print(table)
    if args.out:
        write_section(args.out, args.latency or "loopback", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
