"""Code sync of a tree of 10,000 small files and a few large ones: first upload, no-op, one file changed;
podreconcile's sync (manifest + one framed stream over its one SSH connection) against one plain rsync over
ssh (bench/baseline/floor_sync.sh). Bytes are what the client sent, counted by a relay in front of sshd."""

from __future__ import annotations

import os
import subprocess

from harness import BASELINE, Context, Project, timed, wait_until
from relay import CountingRelay
from table import Row, rsync_bytes_sent

from podreconcile.adapters import ssh
from podreconcile.core.observation import Endpoint
from podreconcile.engine import codesync

NAME = "sync"


def make_tree(root, small: int, large: int, large_mb: int) -> None:
    for i in range(small):
        path = root / "pkg" / f"m{i % 100:02d}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# module {i}\n" + "x = 1\n" * 40)
    for i in range(large):
        (root / f"weights_{i}.bin").write_bytes(os.urandom(large_mb * 1_000_000))


def run(ctx: Context) -> list[Row]:
    small, large, large_mb = (2_000, 2, 5) if ctx.quick else (10_000, 3, 20)
    project = Project(ctx, "bench-sync", run__stop_pod_when_done=False)
    make_tree(project.root, small, large, large_mb)
    project.commit()
    project.cli("apply", "--yes", "--detach")  # a pod with SSH; its own code folder is not used below
    pod_id = project.pod_id
    ctx.shape(pod_id)
    host, port = wait_until(lambda: ctx.ssh_endpoint(pod_id))
    relay = CountingRelay(host, port)
    env = {**ctx.env, "PORT": str(relay.port), "KEY": str(ctx.key)}
    label = f"sync {small:,} small + {large} x {large_mb} MB files"
    rows = {}
    for case in ("first", "no-op", "one changed"):
        for variant in ("rsync (floor)", "podreconcile"):
            base = None if variant.startswith("rsync") else "rsync (floor)"
            rows[case, variant] = Row(f"{label}: {case}", variant, baseline=base)
            rows[case, variant, "B"] = Row(f"{label}: {case}: bytes sent", variant, unit="B", baseline=base)
    session = ssh.connect(Endpoint("127.0.0.1", relay.port), ctx.key)
    files = codesync.tracked_files(project.root)
    runs = 1 if ctx.quick else max(2, ctx.runs // 2)
    try:
        for i in range(runs):
            session.run("rm -rf /workspace/b-ours /workspace/b-rsync", what="clean")
            for case in ("first", "no-op", "one changed"):
                if case == "first":  # cold: nothing hashed before, as a first apply on a fresh clone
                    (project.root / ".podreconcile" / "code-hashes.json").unlink(missing_ok=True)
                if case == "one changed":
                    (project.root / "pkg" / "m00" / "module_0.py").write_text(f"# changed {i}\n")
                relay.take()
                result = {}
                seconds = timed(lambda: result.update(out=subprocess.run(
                    ["bash", str(BASELINE / "floor_sync.sh"), str(project.root), "/workspace/b-rsync"],
                    env=env, capture_output=True, text=True, check=True).stdout))
                rows[case, "rsync (floor)"].samples.append(seconds)
                rows[case, "rsync (floor)", "B"].samples.append(relay.take())
                seconds = timed(lambda: codesync.sync_code(session, project.root, "/workspace/b-ours", []))
                rows[case, "podreconcile"].samples.append(seconds)
                rows[case, "podreconcile", "B"].samples.append(relay.take())
                rows[case, "rsync (floor)"].note = f"rsync --stats: {rsync_bytes_sent(result['out']):,} B sent"
    finally:
        session.close()
        relay.close()
    rows["first", "podreconcile"].note = "target: throughput >= 80% of rsync's (ratio <= 1.25x)"
    rows["no-op", "podreconcile"].note = f"{len(files):,} tracked files"
    project.cli("destroy", "--yes", check=False)
    return list(rows.values())
