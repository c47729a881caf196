"""Code sync against a real sshd: a temp git repo pushed to a folder standing in for the pod's."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from podreconcile.core.errors import UserError
from podreconcile.engine import codesync, hash_cache
from podreconcile.engine.codesync import (
    REVISION_NAME,
    local_manifest,
    revision,
    sync_code,
)

FILES = {
    "train.py": "print('train')\n",
    "pkg/__init__.py": "",
    "pkg/model.py": "W = 1\n",
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "data/big.csv": "a,b\n" * 1000,
    "odd name $(touch PWNED); it's `x`.txt": "odd\n",
    "ünï/cødé.py": "x = 1\n",
}
EXCLUDE = ["data/"]


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    done = subprocess.run(["git", *identity, "-C", str(repo), *args], check=True, capture_output=True)
    return done.stdout.decode()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "scripts/run.sh").chmod(0o755)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    return root


@pytest.fixture
def pod_dir(tmp_path: Path) -> Path:
    """code.path on the "pod", with characters a shell would act on."""
    return tmp_path / "pod" / "code $(touch PWNED2); x"


def remote_files(pod_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(pod_dir).as_posix(): p.read_text()
        for p in pod_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".podreconcile")
    }


def test_first_sync_sends_all_tracked_files_and_the_second_nothing(session, repo, pod_dir, tmp_path):
    first = sync_code(session, repo, str(pod_dir), EXCLUDE)

    expected = {rel: text for rel, text in FILES.items() if not rel.startswith("data/")}
    assert remote_files(pod_dir) == expected
    assert (first.files_sent, first.files_deleted) == (len(expected), 0)
    assert first.bytes_sent == sum(len(t.encode()) for t in expected.values())
    assert first.revision == git(repo, "rev-parse", "--short", "HEAD").strip()
    assert not first.dirty
    assert (pod_dir / REVISION_NAME).read_text() == f"{first.revision}\n"
    assert not list(tmp_path.rglob("PWNED*"))

    second = sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert (second.files_sent, second.bytes_sent, second.files_deleted) == (0, 0, 0)


def test_only_a_changed_file_is_sent_and_the_revision_says_dirty(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    (repo / "pkg/model.py").write_text("W = 2  # tuned\n")

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert (result.files_sent, result.bytes_sent) == (1, len("W = 2  # tuned\n"))
    assert (pod_dir / "pkg/model.py").read_text() == "W = 2  # tuned\n"
    assert result.dirty and result.revision.endswith("-dirty")
    assert (pod_dir / REVISION_NAME).read_text() == f"{result.revision}\n"


def test_a_commit_without_content_changes_only_updates_the_revision(session, repo, pod_dir):
    (repo / "pkg/model.py").write_text("W = 3\n")
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    git(repo, "commit", "-qam", "tune")

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert result.files_sent == 0 and not result.dirty
    assert (pod_dir / REVISION_NAME).read_text() == f"{result.revision}\n"


def test_deleted_tracked_files_go_and_pod_side_files_stay(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    checkpoint = pod_dir / "outputs/checkpoint-1/model.bin"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    (pod_dir / "pkg/__pycache__").mkdir()
    (pod_dir / "pkg/__pycache__/model.cpython-311.pyc").write_bytes(b"cache")
    git(repo, "rm", "-q", "pkg/model.py")
    git(repo, "rm", "-qr", "scripts")
    git(repo, "commit", "-qm", "drop")

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert result.files_deleted == 2
    assert not (pod_dir / "pkg/model.py").exists()
    assert not (pod_dir / "scripts").exists()  # emptied by the sync: removed
    assert checkpoint.read_bytes() == b"weights"
    assert (pod_dir / "pkg/__pycache__/model.cpython-311.pyc").exists()


def test_a_tracked_file_deleted_from_the_working_tree_is_skipped_and_removed(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    (repo / "train.py").unlink()  # still tracked by git

    assert "train.py" not in local_manifest(repo, EXCLUDE)
    assert sync_code(session, repo, str(pod_dir), EXCLUDE).files_deleted == 1
    assert not (pod_dir / "train.py").exists()


def test_the_executable_bit_is_kept_and_a_mode_change_alone_is_sent(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert stat.S_IMODE((pod_dir / "scripts/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((pod_dir / "train.py").stat().st_mode) == 0o644

    (repo / "scripts/run.sh").chmod(0o644)
    assert sync_code(session, repo, str(pod_dir), EXCLUDE).files_sent == 1
    assert stat.S_IMODE((pod_dir / "scripts/run.sh").stat().st_mode) == 0o644


def test_excluded_folders_are_not_sent_nor_deleted_once_excluded(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), [])
    assert (pod_dir / "data/big.csv").exists()

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert result.files_deleted == 0
    assert (pod_dir / "data/big.csv").exists()


def test_untracked_local_files_are_not_sent_and_do_not_make_it_dirty(session, repo, pod_dir):
    (repo / "notes.txt").write_text("scratch")
    result = sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert not (pod_dir / "notes.txt").exists()
    assert not result.dirty


def test_dirty_detection(repo):
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    assert (revision(repo).commit, revision(repo).dirty, str(revision(repo))) == (head, False, head)

    (repo / "train.py").write_text("changed\n")
    assert revision(repo).dirty and str(revision(repo)) == f"{head}-dirty"

    git(repo, "add", "train.py")  # staged but not committed is still not HEAD
    assert revision(repo).dirty


def test_a_repo_without_commits_is_uncommitted(tmp_path):
    git(tmp_path, "init", "-q")
    assert str(revision(tmp_path)) == "uncommitted" and revision(tmp_path).dirty


def test_a_folder_outside_git_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a folder inside a git repository"):
        local_manifest(tmp_path / "..", [])


def test_a_subfolder_of_a_repo_syncs_only_its_files(session, repo, tmp_path):
    result = sync_code(session, repo / "pkg", str(tmp_path / "pkgcode"), [])
    assert remote_files(tmp_path / "pkgcode") == {"__init__.py": "", "model.py": "W = 1\n"}
    assert result.files_sent == 2


def test_the_pod_manifest_cache_spares_rehashing_and_notices_changes(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    model = pod_dir / "pkg/model.py"
    before = model.stat()

    # Same size, same mtime: trusted from the cache, so even this edit goes unnoticed. This is
    # the documented contract (as git's index): it shows no file was hashed again.
    model.write_text("W = 9\n")
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert sync_code(session, repo, str(pod_dir), EXCLUDE).files_sent == 0

    model.write_text("W = 9\n")  # a new mtime: hashed again, found different, sent again
    result = sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert result.files_sent == 1 and model.read_text() == "W = 1\n"


def test_a_sync_broken_off_midway_leaves_the_pod_fit_for_the_next(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    (repo / "pkg/model.py").write_text("W = 5\n")
    (repo / "train.py").write_text("print('v2')\n")
    local = local_manifest(repo, EXCLUDE)
    remote = codesync.remote_manifest(session, str(pod_dir), local)
    diff = codesync.plan_sync(local, remote, EXCLUDE)
    (repo / "train.py").unlink()  # vanishes between planning and packing

    with pytest.raises(UserError, match="changed while being synced"):
        codesync._push(session, repo, str(pod_dir), local, diff, "x")

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert (pod_dir / "pkg/model.py").read_text() == "W = 5\n"
    assert not (pod_dir / "train.py").exists()
    assert sync_code(session, repo, str(pod_dir), EXCLUDE).files_sent == 0
    assert result.revision.endswith("-dirty")


def test_a_file_that_became_a_folder_is_replaced(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    git(repo, "rm", "-q", "train.py")
    (repo / "train.py").mkdir()
    (repo / "train.py/main.py").write_text("main\n")
    git(repo, "add", "train.py/main.py")

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert (result.files_sent, result.files_deleted) == (1, 1)
    assert (pod_dir / "train.py/main.py").read_text() == "main\n"


def test_a_symlink_on_the_pod_where_a_folder_goes_is_refused_and_never_followed(session, repo, pod_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pod_dir.mkdir(parents=True)
    (pod_dir / "pkg").symlink_to(elsewhere)

    with pytest.raises(Exception, match="symlink or a file"):
        sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert list(elsewhere.iterdir()) == []


def test_a_deletion_never_reaches_through_a_symlink_planted_on_the_pod(session, repo, pod_dir, tmp_path):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.py").write_text("precious\n")
    for path in (pod_dir / "pkg").iterdir():
        path.unlink()
    (pod_dir / "pkg").rmdir()
    (pod_dir / "pkg").symlink_to(elsewhere)
    git(repo, "rm", "-q", "pkg/model.py")
    git(repo, "commit", "-qm", "drop")

    with pytest.raises(Exception, match="symlink or a file"):
        sync_code(session, repo, str(pod_dir), EXCLUDE)  # refused at the deletion already
    assert (elsewhere / "model.py").read_text() == "precious\n"


def test_a_local_edit_that_keeps_the_size_and_restores_the_mtime_is_still_sent(session, repo, pod_dir, monkeypatch):
    monkeypatch.setattr(hash_cache, "RACY_NS", 0)  # the fresh files are cached at once, as old ones would be
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    assert (repo / ".podreconcile" / hash_cache.CACHE_NAME).exists()
    model = repo / "pkg/model.py"
    before = model.stat()
    deadline = time.monotonic() + 30
    while model.stat().st_ctime_ns == before.st_ctime_ns:  # ctime changes with the kernel's timestamp tick
        assert time.monotonic() < deadline
        model.write_text("W = 7\n")
        os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))

    result = sync_code(session, repo, str(pod_dir), EXCLUDE)

    assert result.files_sent == 1 and (pod_dir / "pkg/model.py").read_text() == "W = 7\n"


def test_a_compact_manifest_reply_gives_the_same_plan_as_the_full_one(session, repo, pod_dir):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    (repo / "pkg/model.py").write_text("W = 22\n")  # differs from the pod
    (pod_dir / "train.py").unlink()  # known locally, absent on the pod
    git(repo, "rm", "-q", "scripts/run.sh")  # synced before, tracked no more: to delete
    local = local_manifest(repo, EXCLUDE)

    full = codesync.remote_manifest(session, str(pod_dir), local.keys())
    compact = codesync.remote_manifest(session, str(pod_dir), local)

    assert compact.files == {p: e for p, e in full.files.items()}
    assert codesync.plan_sync(local, compact, EXCLUDE) == codesync.plan_sync(local, full, EXCLUDE)
    diff = codesync.plan_sync(local, compact, EXCLUDE)
    assert (diff.send, diff.delete) == (("pkg/model.py", "train.py"), ("scripts/run.sh",))


def test_a_no_op_manifest_reply_repeats_no_entry(session, repo, pod_dir, monkeypatch):
    sync_code(session, repo, str(pod_dir), EXCLUDE)
    local = local_manifest(repo, EXCLUDE)
    replies = []
    run = session.run
    monkeypatch.setattr(session, "run", lambda *a, **k: replies.append(run(*a, **k)) or replies[-1])

    codesync.remote_manifest(session, str(pod_dir), local)

    assert json.loads(replies[-1].stdout)["files"] == {}
