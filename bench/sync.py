"""Code sync and data upload speed against naive baselines measured in the same run.

- code sync of 500 small tracked files: podreconcile's manifest + one framed stream, against one SFTP
  put per file (what a simple script does); then the no-change case against one stat per file.
- data upload of 300 small files and two 20 MB files: rsync and pipelined SFTP, against one plain
  SFTP put per file; then the no-change check (one listing round trip) against one stat per file.

A round trip on loopback costs almost nothing, so these ratios understate the gain on a real pod,
where each of the baselines' per-file round trips costs tens of milliseconds.

Run: .venv/bin/python bench/sync.py
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import create, report, sandbox, timed  # noqa: E402

from podreconcile.adapters import ssh  # noqa: E402
from podreconcile.core.spec import DataItem  # noqa: E402
from podreconcile.engine import codesync, datasync
from podreconcile.engine.observe import wait_for_ssh_port  # noqa: E402


def make_repo(root: Path, files: int) -> None:
    for i in range(files):
        path = root / f"pkg{i % 10}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# module {i}\n" + "x = 1\n" * 300)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "b"], check=True)


def make_data(root: Path) -> None:
    for i in range(300):
        (root / "small").mkdir(parents=True, exist_ok=True)
        (root / "small" / f"{i:03d}.txt").write_bytes(os.urandom(2048))
    for i in range(2):
        (root / f"big{i}.bin").write_bytes(os.urandom(20_000_000))


def per_file_put(session: ssh.Session, local_root: Path, remote_root: str, paths) -> None:
    """The simple script: make each folder once, then one plain SFTP put per file."""
    sftp = session.sftp()
    folders = sorted({os.path.dirname(f"{remote_root}/{rel}") for rel in paths})
    session.run("mkdir -p " + " ".join(shlex.quote(f) for f in folders), what="mkdir")
    for rel in paths:
        sftp.put(str(local_root / rel), f"{remote_root}/{rel}")


def per_file_stat(session: ssh.Session, remote_root: str, paths) -> None:
    sftp = session.sftp()
    for rel in paths:
        sftp.stat(f"{remote_root}/{rel}")


def main() -> None:
    with sandbox(0.3) as (provider, key, _), tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo, data = tmp / "repo", tmp / "data"
        make_repo(repo, 500)
        make_data(data)
        pod = wait_for_ssh_port(provider, create(provider, key, "bench-sync"))
        with ssh.connect(ssh.Endpoint(pod.ssh.host, pod.ssh.port), key) as session:
            files = codesync.tracked_files(repo)
            naive, _ = timed(lambda: per_file_put(session, repo, "/workspace/naive", files))
            ours, _ = timed(lambda: codesync.sync_code(session, repo, "/workspace/code", []))
            report("code sync, 500 files, first", ours, naive)
            naive, _ = timed(lambda: per_file_stat(session, "/workspace/naive", files))
            ours, _ = timed(lambda: codesync.sync_code(session, repo, "/workspace/code", []))
            report("code sync, 500 files, nothing changed", ours, naive)

            item = DataItem.model_validate({"from": "data", "to": "/workspace/data"})
            local = datasync.local_data(tmp, [item])
            rels = [f.local.relative_to(tmp) for f in local]
            naive, _ = timed(lambda: per_file_put(session, tmp, "/workspace/naive-data", rels))
            for method, prefer_rsync in (("rsync", True), ("sftp", False)):
                root = f"/workspace/data-{method}"
                item = DataItem.model_validate({"from": "data", "to": root})
                files_ = datasync.local_data(tmp, [item])
                diff = datasync.plan_upload(files_, datasync.remote_listing(session, [root]))
                ours, result = timed(lambda: datasync.upload(session, diff, key_path=key, prefer_rsync=prefer_rsync))
                report(f"data upload, 40.6 MB in 302 files, {result.method}", ours, naive)
            naive, _ = timed(lambda: per_file_stat(session, "/workspace/naive-data", rels))
            ours, _ = timed(lambda: datasync.plan_upload(files_, datasync.remote_listing(session, [root])))
            report("data check, nothing changed (one listing vs a stat per file)", ours, naive)


if __name__ == "__main__":
    main()
