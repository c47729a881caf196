"""The benchmark harness's table writer and parsers (bench/table.py); the benchmarks themselves are not tests."""

from __future__ import annotations

import pytest

from bench.table import (
    Row,
    count_calls,
    count_ssh_logins,
    dump,
    load,
    markdown,
    parse_latency,
    rsync_bytes_sent,
    write_section,
)


def test_the_table_shows_median_min_max_and_the_ratio_to_the_named_baseline():
    rows = [Row("plan", "floor", [0.2, 0.4, 0.3]), Row("plan", "podreconcile", [0.9, 0.6, 0.3], baseline="floor"),
            Row("plan: bytes", "podreconcile", [2_000_000], unit="B"), Row("x", "podreconcile", note="not measured")]
    lines = markdown(rows).splitlines()
    assert lines[2] == "| plan | floor | 0.300 | 0.200 | 0.400 | 3 |  |  |"
    assert lines[3] == "| plan | podreconcile | 0.600 | 0.300 | 0.900 | 3 | 2.00x floor |  |"
    assert lines[4] == "| plan: bytes | podreconcile (B) | 2.00 MB | 2.00 MB | 2.00 MB | 1 |  |  |"
    assert lines[5] == "| x | podreconcile | - | - | - | 0 |  | not measured |"
    assert load(dump(rows)) == rows


@pytest.mark.parametrize(("text", "seconds"), [("50ms", 0.05), ("0.02s", 0.02), ("20", 0.02), ("", 0.0), (None, 0.0)])
def test_latencies_parse_to_seconds(text, seconds):
    assert parse_latency(text) == pytest.approx(seconds)


def test_a_bad_latency_names_the_option():
    with pytest.raises(ValueError, match="--latency"):
        parse_latency("fast")


def test_counters_read_the_sandbox_and_sshd_and_rsync():
    before, after = {"myself": 2, "s3.PutObject": 5}, {"myself": 3, "v2.pods.list": 1, "s3.PutObject": 9}
    assert count_calls(before, after) == 2 and count_calls(before, after, prefix="s3") == 4
    log = ("Server listening on 127.0.0.1 port 4.\nConnection reset by 127.0.0.1 port 1\n"
           "Accepted publickey for root from 127.0.0.1 port 2 ssh2: ED25519 SHA256:x\n")
    assert count_ssh_logins(log) == 1
    assert rsync_bytes_sent("Number of files: 3\nTotal bytes sent: 1,234,567\nTotal bytes received: 9") == 1234567


def test_each_link_keeps_its_own_section_of_the_results_file(tmp_path):
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nprose\n")
    write_section(out, "loopback", "table 1\n")
    write_section(out, "50ms", "table 2\n")
    write_section(out, "loopback", "table 3\n")
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nprose\n")
    assert "table 3" in text and "table 2" in text and "table 1" not in text
