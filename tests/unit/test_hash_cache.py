"""The local hash cache: trusted only while size, mtime, ctime and inode are all unchanged; a
corrupted, foreign or symlinked cache is ignored; a file too recent to tell apart is not recorded."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from podreconcile.core.errors import UserError
from podreconcile.engine import hash_cache
from podreconcile.engine.codesync import local_manifest
from podreconcile.engine.hash_cache import CACHE_NAME, HashCache

SHA = "a" * 64
OLD = 1_000_000_000_000_000_000  # 2001: far older than any hashing moment below


def stat(size=10, mtime=OLD, ctime=OLD, ino=7):
    return SimpleNamespace(st_size=size, st_mtime_ns=mtime, st_ctime_ns=ctime, st_ino=ino)


def saved(tmp_path: Path, st=None) -> HashCache:
    cache = HashCache(tmp_path / ".podreconcile" / CACHE_NAME)
    cache.record("a.py", st or stat(), SHA, time.time_ns())
    cache.save()
    return HashCache(cache.path)


def test_an_entry_is_trusted_while_the_whole_stat_is_the_same(tmp_path):
    assert saved(tmp_path).lookup("a.py", stat()) == SHA


@pytest.mark.parametrize("changed", [dict(size=11), dict(mtime=OLD + 1), dict(ctime=OLD + 1), dict(ino=8)])
def test_any_change_of_size_mtime_ctime_or_inode_is_not_trusted(tmp_path, changed):
    assert saved(tmp_path).lookup("a.py", stat(**changed)) is None


def test_a_file_changed_too_recently_to_tell_is_not_recorded(tmp_path):
    now = time.time_ns()
    cache = saved(tmp_path, stat(mtime=OLD, ctime=now - hash_cache.RACY_NS // 2))
    assert cache.lookup("a.py", stat(mtime=OLD, ctime=now - hash_cache.RACY_NS // 2)) is None


def test_the_cache_file_is_private(tmp_path):
    cache = saved(tmp_path)
    assert oct(cache.path.stat().st_mode & 0o777) == "0o600"
    assert oct(cache.path.parent.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("content", [
    b"", b"\x00\xff garbage", b"[]", b'{"format": 2, "files": {}}', b'{"format": 1, "files": []}',
    json.dumps({"format": 1, "files": {"a.py": [10, OLD, OLD, 7]}}).encode(),  # too short
    json.dumps({"format": 1, "files": {"a.py": [10, OLD, OLD, "7", SHA]}}).encode(),
    json.dumps({"format": 1, "files": {"a.py": [10.0, OLD, OLD, 7, SHA]}}).encode(),
    json.dumps({"format": 1, "files": {"a.py": [10, OLD, OLD, 7, "short"]}}).encode(),
])
def test_a_corrupted_cache_is_ignored(tmp_path, content):
    path = saved(tmp_path).path
    path.write_bytes(content)
    assert HashCache(path).lookup("a.py", stat()) is None


def test_a_symlinked_cache_is_not_read_and_not_written_through(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"format": 1, "files": {"a.py": [10, OLD, OLD, 7, SHA]}}))
    folder = tmp_path / ".podreconcile"
    folder.mkdir()
    (folder / CACHE_NAME).symlink_to(victim)
    cache = HashCache(folder / CACHE_NAME)
    assert cache.lookup("a.py", stat()) is None
    cache.record("b.py", stat(), SHA, time.time_ns())
    with pytest.raises(UserError, match="symlink"):
        cache.save()
    assert "b.py" not in victim.read_text()


# ---- through local_manifest, on real files ----


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo), *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setattr(hash_cache, "RACY_NS", 0)  # the files below are fresh; the racy rule has its own test
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_second_manifest_reads_no_file(repo, monkeypatch):
    assert local_manifest(repo)["a.py"].sha256 == sha(b"x = 1\n")
    monkeypatch.setattr("podreconcile.engine.codesync._hash_file", lambda *a: pytest.fail("hashed again"))
    assert local_manifest(repo)["a.py"].sha256 == sha(b"x = 1\n")


def test_an_edit_that_keeps_the_size_and_restores_the_mtime_is_still_seen(repo):
    path = repo / "a.py"
    local_manifest(repo)
    before = path.stat()
    deadline = time.monotonic() + 30
    while path.stat().st_ctime_ns == before.st_ctime_ns:  # the kernel's timestamp tick must pass
        assert time.monotonic() < deadline
        path.write_text("x = 2\n")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert local_manifest(repo)["a.py"].sha256 == sha(b"x = 2\n")


def test_a_file_replaced_by_another_is_hashed_again(repo):
    local_manifest(repo)
    tmp = repo / "new.tmp"
    tmp.write_text("x = 3\n")
    os.replace(tmp, repo / "a.py")
    assert local_manifest(repo)["a.py"].sha256 == sha(b"x = 3\n")


def test_a_corrupted_cache_file_is_rebuilt(repo):
    local_manifest(repo)
    (repo / ".podreconcile" / CACHE_NAME).write_text('{"format": 1, "files": {"a.py": [1, 2')
    assert local_manifest(repo)["a.py"].sha256 == sha(b"x = 1\n")
    assert json.loads((repo / ".podreconcile" / CACHE_NAME).read_text())["files"]["a.py"][4] == sha(b"x = 1\n")
