"""Uploads through RunPod's S3 API for network volumes (the S3 adapter, measured directly) against rsync over
SSH into a running pod, for the same data. An S3 upload can happen before the pod starts: the rsync time is
GPU time billed for nothing, which the S3 path saves (measured end to end, `sync-data` through S3 against
apply's SSH data step, in bench/s3_gpu.py)."""

from __future__ import annotations

import os
import shutil
import subprocess

import s3_gpu
from harness import BASELINE, Context, Project, timed
from plan import LONG_TRAINING
from table import Row

from podreconcile.adapters.volume_s3 import S3VolumeStore
from podreconcile.core.ports import UploadItem
from podreconcile.core.volume_s3 import S3Credentials

NAME = "s3"
DATA_CENTER = "EU-RO-1"


def make_data(root, small: int, large: int, large_mb: int) -> list:
    (root / "small").mkdir(parents=True)
    for i in range(small):
        (root / "small" / f"{i:04d}.bin").write_bytes(os.urandom(4096))
    for i in range(large):
        (root / f"big{i}.bin").write_bytes(os.urandom(large_mb * 1_000_000))
    return sorted(p for p in root.rglob("*") if p.is_file())


def run(ctx: Context) -> list[Row]:
    from podreconcile.sandbox import daemon

    small, large, large_mb = (100, 1, 20) if ctx.quick else (500, 2, 100)
    data = ctx.tmp / "s3-data"
    files = make_data(data, small, large, large_mb)
    total = sum(f.stat().st_size for f in files)
    volume_id = daemon.admin(ctx.running, "volume-create", {"name": "bench", "size": 50, "data_center": DATA_CENTER})["id"]
    env = ctx.env
    store = S3VolumeStore(S3Credentials(env["RUNPOD_S3_ACCESS_KEY"], env["RUNPOD_S3_SECRET_KEY"]),
                          env["RUNPOD_S3_ENDPOINT_URL"].format(datacenter=DATA_CENTER.lower()), DATA_CENTER, volume_id)
    project = Project(ctx, "bench-s3", run__stop_pod_when_done=False)
    project.edit("configs/tiny.yaml", **LONG_TRAINING)
    project.cli("apply", "--yes", "--detach")
    ctx.shape(project.pod_id)
    sync_env = ctx.ssh_env(project.pod_id)
    port = sync_env["PORT"]
    bench = f"upload {total / 1e6:.0f} MB in {len(files)} files"
    floor, ours = Row(bench, "rsync over SSH"), Row(bench, "S3 adapter", baseline="rsync over SSH")
    items = [UploadItem(f, f"data/{f.relative_to(data)}") for f in files]
    for _ in range(1 if ctx.quick else max(2, ctx.runs // 2)):
        shutil.rmtree(ctx.home / "volumes" / volume_id / "data", ignore_errors=True)
        ours.samples.append(timed(lambda: store.upload(items)))
        subprocess.run(["bash", "-c", f'. {BASELINE}/common.sh; pod_ssh {port} "rm -rf /workspace/s3-data"'],
                       env=sync_env, check=True)
        floor.samples.append(timed(lambda: subprocess.run(
            ["bash", str(BASELINE / "floor_sync.sh"), str(data), "/workspace/s3-data"], env=sync_env, check=True,
            capture_output=True)))
    mb = total / 1e6
    ours.note = f"{mb / ours.median:.0f} MB/s; before the pod starts: 0 GPU s billed"
    floor.note = f"{mb / floor.median:.0f} MB/s; {floor.median:.1f} GPU s billed while the pod waits for its data"
    project.cli("destroy", "--yes", check=False)
    gpu_volume = daemon.admin(ctx.running, "volume-create", {"name": "bench-gpu", "size": 50,
                                                             "data_center": DATA_CENTER})["id"]
    gpu = s3_gpu.run(ctx, lambda root: make_data(root, small, large, large_mb), gpu_volume)
    return [floor, ours, *gpu]
