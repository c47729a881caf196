"""Data sync against real sandbox pods: rsync and SFTP, resumes, odd paths; checksums on the pod.

Each test gets a fresh pod made with the unmodified runpod SDK, reached with podreconcile's own SSH
session. Run with `-s` to see the measured throughput of both methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import time
from pathlib import Path

import pytest

from podreconcile.adapters.ssh import connect
from podreconcile.core.errors import TemporaryError
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import HostKeyChanged
from podreconcile.core.spec.models import DataItem
from podreconcile.engine import datasync
from podreconcile.engine.datasync import local_data, plan_upload, remote_listing, upload
from tests.helpers import wait_for_ssh_port, wait_until

pytestmark = pytest.mark.e2e

SMALL_FILES = 300
LARGE_SIZE = 20 * 1024 * 1024
LARGE_FILES = ("big-1.bin", "big-2.bin")
METHODS = ["rsync", "sftp"]
ODD_DIR = "it's a \"data\" dir"

# sha256 of every regular file under a root, as the pod sees it: {relative path: digest}.
HASH_SCRIPT = r"""
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for folder, _, names in os.walk(root):
    for name in names:
        path = os.path.join(folder, name)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[os.path.relpath(path, root)] = [h.hexdigest(), os.stat(path).st_mtime_ns]
json.dump(out, sys.stdout)
"""
# Whether any rsync runs in the pod (the receiving side of an interrupted upload).
RSYNC_RUNNING = r"""
import os
names = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        names.append(open("/proc/%s/comm" % pid).read().strip())
    except OSError:
        pass
print("rsync" in names)
"""


@pytest.fixture(scope="module")
def tree_template(tmp_path_factory) -> Path:
    """~300 small files in nested folders and two large ones; copied (mtimes kept) per test."""
    root = tmp_path_factory.mktemp("template") / "data"
    for i in range(SMALL_FILES):
        path = root / "small" / f"d{i % 7}" / f"f{i:03}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(i * 13 % 4000))
    (root / "xl").mkdir()
    for name in LARGE_FILES:  # sent after the small ones (paths in order): interruptions cut these
        (root / "xl" / name).write_bytes(os.urandom(LARGE_SIZE))
    return root


@pytest.fixture
def project(tmp_path, tree_template) -> Path:
    shutil.copytree(tree_template, tmp_path / "proj" / "data")
    return tmp_path / "proj"


class Pod:
    def __init__(self, sdk, pod_id: str, session, key: Path) -> None:
        self.sdk, self.id, self.session, self.key = sdk, pod_id, session, key

    def hashes(self, root: str) -> dict[str, list]:
        command = f"python3 -c {shlex.quote(HASH_SCRIPT)} {shlex.quote(root)}"
        return json.loads(self.session.run(command, what="hashing").stdout)

    def rsync_running(self) -> bool:
        return self.session.run(f"python3 -c {shlex.quote(RSYNC_RUNNING)}").stdout.strip() == "True"


@pytest.fixture
def pod(sdk, ssh_key, request):
    name = "ds-" + request.node.name.lower().replace("_", "-")[:30]
    public_key = ssh_key.with_suffix(".pub").read_text().strip()
    created = sdk.create_pod(
        name, "runpod/pytorch:2.4.0", "NVIDIA GeForce RTX 4090", ports="22/tcp", volume_in_gb=5,
        volume_mount_path="/workspace", env={"PUBLIC_KEY": public_key},
    )  # fmt: skip
    try:
        port = wait_for_ssh_port(sdk, created["id"])
        session = wait_until(lambda: _try_connect(Endpoint("127.0.0.1", port), ssh_key), timeout=15)
        try:
            yield Pod(sdk, created["id"], session, ssh_key)
        finally:
            session.close()
    finally:
        sdk.terminate_pod(created["id"])


def _try_connect(endpoint: Endpoint, key: Path):
    try:
        return connect(endpoint, key)
    except TemporaryError:
        return None


def local_hashes(root: Path) -> dict[str, list]:
    return {
        str(p.relative_to(root)): [hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns]
        for p in root.rglob("*")
        if p.is_file()
    }


def items(from_: str = "data", to: str = "/workspace/data") -> list[DataItem]:
    return [DataItem.model_validate({"from": from_, "to": to})]


def plan(pod: Pod, project: Path, entries: list[DataItem]):
    local = local_data(project, entries)
    return plan_upload(local, remote_listing(pod.session, [e.to for e in entries]))


def assert_identical(pod: Pod, local_root: Path, remote_root: str) -> None:
    """Same files, same bytes (sha256 computed on the pod), same mtimes (the quick check's)."""
    remote, local = pod.hashes(remote_root), local_hashes(local_root)
    assert sorted(remote) == sorted(local)
    for rel, (digest, mtime_ns) in local.items():
        assert remote[rel][0] == digest, rel
        assert mtime_ns == remote[rel][1], rel


def report(label: str, result) -> None:
    rate = result.bytes_sent / result.seconds / 1e6 if result.seconds else float("inf")
    print(f"\n{label}: {result.files_sent} files, {result.bytes_sent / 1e6:.1f} MB in "
          f"{result.seconds:.2f} s = {rate:.1f} MB/s")  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_first_upload_is_identical_then_nothing_then_only_changed_files(pod, project, method):
    entries = items()
    first = plan(pod, project, entries)
    assert (len(first.send), first.files_total) == (SMALL_FILES + 2, SMALL_FILES + 2)
    assert first.rsync_on_pod and first.bytes_to_send == first.bytes_total > 2 * LARGE_SIZE
    seen = []
    rsync = method == "rsync"
    result = upload(pod.session, first, key_path=pod.key, progress=seen.append, prefer_rsync=rsync)
    report(f"{method} first upload", result)
    assert result.method == method
    assert (result.files_sent, result.bytes_sent) == (SMALL_FILES + 2, first.bytes_to_send)
    assert seen[-1].files_done == seen[-1].files_total == SMALL_FILES + 2
    assert seen[-1].bytes_done == seen[-1].bytes_total == first.bytes_to_send
    assert_identical(pod, project / "data", "/workspace/data")

    second = plan(pod, project, entries)
    assert second.empty and second.bytes_to_send == 0 and second.files_total == SMALL_FILES + 2
    again = upload(pod.session, second, key_path=pod.key, prefer_rsync=rsync)
    assert (again.files_sent, again.bytes_sent) == (0, 0)

    changed = project / "data" / "small" / "d3" / "f010.txt"
    changed.write_bytes(os.urandom(changed.stat().st_size))  # same size: only the mtime tells
    touched = project / "data" / "xl" / "big-2.bin"
    os.utime(touched, ns=(time.time_ns(), time.time_ns()))  # content as before: rsync sends little
    third = plan(pod, project, entries)
    assert sorted(f.local for f in third.send) == sorted([changed, touched])
    result = upload(pod.session, third, key_path=pod.key, prefer_rsync=rsync)
    assert result.files_sent == 2
    assert_identical(pod, project / "data", "/workspace/data")
    assert plan(pod, project, entries).empty


def test_an_interrupted_sftp_upload_resumes_without_sending_a_byte_twice(pod, project, monkeypatch):
    entries = items()
    diff = plan(pod, project, entries)
    read = datasync.sftp._read_local

    def slow_read(src, size, f):  # a slower link, so that the interruption lands in large files
        if f.size == LARGE_SIZE:
            time.sleep(0.05)
        return read(src, size, f)

    def interrupt(progress):
        if progress.bytes_done > LARGE_SIZE // 8:
            raise KeyboardInterrupt  # as Ctrl+C would

    monkeypatch.setattr(datasync.sftp, "_read_local", slow_read)
    with pytest.raises(KeyboardInterrupt):
        upload(pod.session, diff, key_path=pod.key, progress=interrupt, prefer_rsync=False)
    monkeypatch.setattr(datasync.sftp, "_read_local", read)

    parts = {p: s for p, s in _sizes(pod).items() if p.endswith(datasync.PART_SUFFIX)}
    assert any(0 < size < LARGE_SIZE for size in parts.values())  # a large file was cut halfway
    resumed = plan(pod, project, entries)
    assert 0 < len(resumed.send) <= len(LARGE_FILES)  # files that arrived are done for good
    already = sum(parts.get(f.remote + datasync.PART_SUFFIX, 0) for f in resumed.send)
    result = upload(pod.session, resumed, key_path=pod.key, prefer_rsync=False)
    assert result.files_sent == len(resumed.send)
    assert result.bytes_sent == resumed.bytes_to_send - already  # only the remainders travelled
    assert_identical(pod, project / "data", "/workspace/data")  # and no part files are left


def test_a_stale_sftp_part_is_not_continued(pod, project):
    entries = items()
    stale = b"not the start of big-1.bin" * 1000
    pod.session.put_bytes(stale, "/workspace/data/xl/big-1.bin" + datasync.PART_SUFFIX)
    result = upload(pod.session, plan(pod, project, entries), key_path=pod.key, prefer_rsync=False)
    assert result.bytes_sent == sum(f.size for f in local_data(project, entries))
    assert_identical(pod, project / "data", "/workspace/data")


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_an_interrupted_rsync_upload_resumes(pod, project, monkeypatch, how):
    entries = items()
    diff = plan(pod, project, entries)
    argv_of = datasync.rsync_argv

    def slow_argv(*args):  # a slower link: rsync then reports progress inside a large file
        argv = argv_of(*args)
        return [argv[0], "--bwlimit=8m", *argv[1:]]

    def interrupt(progress):
        # Early in the first large file: rsync sleeps 0.4 s on SIGTERM before it stops sending.
        if progress.bytes_done > LARGE_SIZE // 8:
            if how == "ctrl-c":
                raise KeyboardInterrupt
            for pid in _children_named("rsync"):
                os.kill(pid, signal.SIGKILL)

    monkeypatch.setattr(datasync.rsync, "rsync_argv", slow_argv)
    with pytest.raises(KeyboardInterrupt if how == "ctrl-c" else TemporaryError):
        upload(pod.session, diff, key_path=pod.key, progress=interrupt)
    monkeypatch.setattr(datasync.rsync, "rsync_argv", argv_of)
    wait_until(lambda: not pod.rsync_running())  # the pod's side keeps the partial file, then exits
    partials = [s for p, s in _sizes(pod).items() if f"/{datasync.RSYNC_PARTIAL_DIR}/" in p]
    assert any(0 < size < LARGE_SIZE for size in partials)  # a large file was cut halfway

    resumed = plan(pod, project, entries)
    assert 0 < len(resumed.send) <= len(LARGE_FILES)  # files that arrived are done for good
    result = upload(pod.session, resumed, key_path=pod.key)
    assert result.method == "rsync" and result.files_sent == len(resumed.send)
    assert result.bytes_sent < resumed.bytes_to_send  # the partial file was the basis
    assert_identical(pod, project / "data", "/workspace/data")  # the partial folder is gone too


@pytest.mark.parametrize("method", METHODS)
def test_paths_with_spaces_and_quotes(pod, project, tmp_path, method):
    odd = project / ODD_DIR
    (odd / "sub dir").mkdir(parents=True)
    (odd / "x y.bin").write_bytes(os.urandom(300_000))
    (odd / "sub dir" / "$(touch PWNED); `z`.txt").write_text("odd\n")
    key = tmp_path / "key's \"dir\"" / "id ed25519"  # rsync's -e must carry it intact
    key.parent.mkdir()
    shutil.copy(pod.key, key)
    key.chmod(0o600)
    entries = items(ODD_DIR, f"/workspace/{ODD_DIR}")
    diff = plan(pod, project, entries)
    result = upload(pod.session, diff, key_path=key, prefer_rsync=method == "rsync")
    assert (result.method, result.files_sent) == (method, 2)
    assert_identical(pod, odd, f"/workspace/{ODD_DIR}")
    assert "PWNED" not in pod.session.run("ls / /root /workspace").stdout
    assert not Path("PWNED").exists()
    assert plan(pod, project, entries).empty


def test_rsync_trusts_only_the_host_key_pinned_by_the_session(pod, project, ssh_key):
    pod.session.host_key = ssh_key.with_suffix(".pub").read_text()  # a valid key, not the pod's
    with pytest.raises(HostKeyChanged):
        upload(pod.session, plan(pod, project, items()), key_path=pod.key)
    assert not _sizes(pod)  # nothing was sent


def _sizes(pod: Pod, root: str = "/workspace/data") -> dict[str, int]:
    """Every file under `root` on the pod and its size, part files and rsync's partials included."""
    script = (
        "import json, os, sys\n"
        "root = sys.argv[1]\n"
        "print(json.dumps({os.path.join(d, n): os.path.getsize(os.path.join(d, n))"
        " for d, _, ns in os.walk(root) for n in ns}))"
    )
    command = f"python3 -c {shlex.quote(script)} {shlex.quote(root)}"
    return json.loads(pod.session.run(command).stdout)


def _children_named(name: str) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if int(rest.split()[1]) == os.getpid() and comm.split("(", 1)[1] == name:
            pids.append(int(stat.parent.name))
    return pids
