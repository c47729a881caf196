"""The GPU seconds the S3 path saves: the same data uploaded to a stopped pod's network volume through
RunPod's S3 API (`sync-data`, no pod started: nothing billed) and through apply's SSH data step (the pod
runs, and bills, for as long as the upload takes: from apply's "upload data" step to its next step).

A code change goes with each SSH sample, so the code sync before it takes the boot wait and the SSH
handshake: the upload step's time is then the data listing and the transfer alone."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import time

from harness import Context, Project, wait_until
from table import Row

S3_KEYS = ("RUNPOD_S3_ACCESS_KEY", "RUNPOD_S3_SECRET_KEY", "RUNPOD_S3_ENDPOINT_URL")
UPLOADED = re.compile(r"uploaded \d+ file\(s\), \d+ bytes in ([\d.]+) s")
STARTS = ("v2.pods.action", "podResume")  # how the sandbox counts pod starts (and stops)


def upload_step_seconds(project: Project, env: dict) -> tuple[float, float]:
    """Run `apply --yes --detach`: (seconds between its "==> upload data" line and the next step's line,
    the transfer's own seconds as apply reports them)."""
    apply = subprocess.Popen(["podreconcile", "apply", "--yes", "--detach", "--force-restart"], cwd=project.root,
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    began = ended = None
    lines = []
    for line in apply.stderr:
        lines.append(line)
        if line.startswith("==> upload data") and any(seen.startswith("==> sync code") for seen in lines):
            began = time.perf_counter()
        elif began is not None and ended is None and line.startswith("==> "):
            ended = time.perf_counter()
    reported = next((float(m.group(1)) for m in map(UPLOADED.search, lines) if m), None)
    if apply.wait() not in (0, 2) or began is None or ended is None or reported is None:
        raise RuntimeError(f"apply exited {apply.returncode} without a timed upload step: {''.join(lines)[-2000:]}")
    return ended - began, reported


def measure(ctx: Context, project: Project, volume: str, remote: str, label: str) -> list[Row]:
    """Rows for the project's data entry at `remote` on the volume (relative to its root)."""
    on_volume = ctx.home / "volumes" / volume / remote
    def stopped() -> bool:
        return ctx.pod(project.pod_id)["desiredStatus"] == "EXITED"

    def starts() -> int:
        return sum(ctx.calls().get(name, 0) for name in STARTS)

    ssh_env = {k: v for k, v in ctx.env.items() if k not in S3_KEYS}
    bench = f"GPU s billed to upload {label} to a stopped pod's network volume"
    ssh = Row(bench, "apply's SSH data step")
    s3 = Row(bench, "sync-data through S3 first")
    s3_wall = Row(f"{bench}: wall time", "sync-data through S3 first")
    transfers = []
    for sample in range(1 if ctx.quick else max(2, ctx.runs // 2)):
        wait_until(stopped, 300)
        shutil.rmtree(on_volume)
        before = starts()
        started = time.perf_counter()
        project.cli("sync-data")
        s3_wall.samples.append(time.perf_counter() - started)
        if starts() != before or not stopped() or not on_volume.is_dir():
            raise RuntimeError("sync-data through S3 started the pod or left the data off the volume")
        s3.samples.append(0.0)  # the pod stayed stopped: nothing billed
        shutil.rmtree(on_volume)
        (project.root / "bench-sample.txt").write_text(f"{sample}\n")
        project.commit()
        step, transfer = upload_step_seconds(project, ssh_env)
        ssh.samples.append(step)
        transfers.append(transfer)
    ssh.note = (f"the pod runs while apply lists the volume and uploads over SSH "
                f"(the transfer alone: {statistics.median(transfers):.1f} s)")
    s3.note = "the pod stays stopped: the GPU s saved per upload are the SSH row's"
    return [ssh, s3, s3_wall]


def run(ctx: Context, make_data, volume: str) -> list[Row]:
    """A project on `volume` with `make_data(folder)`'s files as a data entry; first applied through S3."""
    project = Project(ctx, "bench-s3-gpu", run__stop_pod_when_done=True, pod__network_volume=volume,
                      pod__volume_gb=None)
    with open(project.root / ".gitignore", "a") as ignore:
        ignore.write("bulk/\n")
    files = make_data(project.root / "bulk")
    project.edit("configs/tiny.yaml", max_steps=5, save_steps=5, step_seconds=0.01)
    project.edit("podspec.yaml", data=[{"from": "data/tiny.txt", "to": "/workspace/data/tiny.txt"},
                                       {"from": "bulk", "to": "/workspace/bulk"}])
    project.cli("apply", "--yes", "--detach")
    total = sum(f.stat().st_size for f in files)
    try:
        return measure(ctx, project, volume, "bulk", f"{total / 1e6:.0f} MB in {len(files)} files")
    finally:
        project.cli("destroy", "--yes", check=False)
