"""Results of the benchmarks and the markdown table they end in: pure, so tests/unit/test_bench_table.py checks it."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured thing: several samples of one variant, and what it is compared with."""

    bench: str  # e.g. "plan, converged pod"
    variant: str  # "podreconcile", "floor", "shell way", ...
    samples: list[float] = field(default_factory=list)
    unit: str = "s"
    baseline: str | None = None  # the variant of the same bench the ratio is taken against
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f}"
    if unit == "B":
        return f"{value / 1e6:.2f} MB" if value >= 1e5 else f"{value:.0f} B"
    return f"{value:g}"


def ratio(row: Row, rows: list[Row]) -> str:
    if not row.baseline or not row.samples:
        return ""
    base = next((r for r in rows if r.bench == row.bench and r.variant == row.baseline and r.samples), None)
    if base is None or base.median == 0:
        return ""
    return f"{row.median / base.median:.2f}x {row.baseline}"


def markdown(rows: list[Row], heading: str = "") -> str:
    lines = [heading] if heading else []
    lines += ["| benchmark | variant | median | min | max | n | ratio | note |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        unit = row.unit if row.unit != "s" else "s"
        if row.samples:
            cells = [fmt(row.median, row.unit), fmt(min(row.samples), row.unit), fmt(max(row.samples), row.unit),
                     str(len(row.samples))]
        else:
            cells = ["-", "-", "-", "0"]
        label = row.variant + ("" if row.unit == "s" else f" ({unit})")
        lines.append("| " + " | ".join([row.bench, label, *cells, ratio(row, rows), row.note.replace("|", "/")]) + " |")
    return "\n".join(lines) + "\n"


def parse_latency(text: str | None) -> float:
    """`50ms`, `0.05s`, `50` (ms) -> seconds of round trip; None or empty -> 0."""
    if not text:
        return 0.0
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", text)
    if not match:
        raise ValueError(f"--latency {text!r}: give a round trip such as 50ms")
    number, unit = float(match.group(1)), match.group(2) or "ms"
    return number / 1000 if unit == "ms" else number


def count_calls(before: dict, after: dict, prefix: str = "") -> int:
    """API calls between two `sandbox calls` snapshots (operation -> count); S3 calls only if asked by prefix."""
    def total(snapshot: dict) -> int:
        return sum(v for k, v in _flat(snapshot).items() if k.startswith(prefix) and (prefix or not k.startswith("s3")))
    return total(after) - total(before)


def _flat(snapshot: dict) -> dict[str, int]:
    calls = snapshot.get("calls", snapshot)
    return {k: v for k, v in calls.items() if isinstance(v, int)}


def count_ssh_logins(pod_log: str) -> int:
    """Connections sshd authenticated (`Accepted publickey ...` lines of the pod's log)."""
    return sum(1 for line in pod_log.splitlines() if "Accepted publickey for " in line)


def rsync_bytes_sent(stats: str) -> int:
    """`Total bytes sent: 1,234` from `rsync --stats`."""
    match = re.search(r"Total bytes sent:\s*([\d,.]+)", stats)
    if not match:
        raise ValueError("no 'Total bytes sent' in rsync's output")
    return int(re.sub(r"[,.]", "", match.group(1)))


def dump(rows: list[Row]) -> str:
    return json.dumps([row.__dict__ for row in rows], indent=1)


def load(text: str) -> list[Row]:
    return [Row(**raw) for raw in json.loads(text)]


def write_section(path: Path, key: str, table: str) -> None:
    """Replace this link's section of the results file (loopback and each latency keep their own)."""
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{table}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)
