"""The pure parts of code sync: exclusion patterns and the sync plan (no SSH needed)."""

from __future__ import annotations

import pytest

from podreconcile.engine.codesync import (
    FileEntry,
    RemoteManifest,
    is_excluded,
    plan_sync,
)

A = FileEntry(10, "a" * 64, False)
B = FileEntry(20, "b" * 64, False)
A_EXEC = FileEntry(10, "a" * 64, True)


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("data/x.csv", ["data/"], True),
        ("sub/data/x.csv", ["data/"], True),  # a folder pattern matches at any depth
        ("data", ["data/"], False),  # a file named like the folder pattern is not a folder
        ("database.py", ["data/"], False),
        ("sub/data/x.csv", ["/data/"], False),  # anchored
        ("data/x.csv", ["/data/"], True),
        ("a/b/c.py", ["a/b"], True),  # a slash in the middle anchors too
        ("x/a/b/c.py", ["a/b"], False),
        ("runs/m.ckpt", ["*.ckpt"], True),
        ("m.ckpt.py", ["*.ckpt"], False),
        ("notes/wandb/run-1/log", ["wandb/", "*.ckpt"], True),
        ("train.py", [], False),
    ],
)
def test_is_excluded(path, patterns, excluded):
    assert is_excluded(path, patterns) is excluded


def remote(files=None, synced=(), rev=None) -> RemoteManifest:
    return RemoteManifest(files or {}, frozenset(synced), rev)


def test_everything_is_sent_to_an_empty_pod():
    diff = plan_sync({"a": A, "b": B}, remote())
    assert (diff.send, diff.delete, diff.bytes_to_send, diff.unchanged) == (("a", "b"), (), 30, 0)


def test_only_differences_are_sent_and_a_mode_change_counts():
    diff = plan_sync({"a": A_EXEC, "b": B}, remote({"a": A, "b": B}, synced={"a", "b"}))
    assert (diff.send, diff.bytes_to_send, diff.unchanged) == (("a",), 10, 1)


def test_only_files_a_sync_wrote_and_that_still_exist_are_deleted():
    pod = remote({"old.py": A, "gone-already.py": B, "outputs/ckpt": B}, synced={"old.py", "gone.py"})
    diff = plan_sync({}, pod)
    assert diff.delete == ("old.py",)


def test_files_excluded_since_the_last_sync_are_left_alone():
    pod = remote({"data/x.csv": A, "old.py": B}, synced={"data/x.csv", "old.py"})
    assert plan_sync({}, pod, ["data/"]).delete == ("old.py",)


def test_nothing_to_do_is_empty():
    assert plan_sync({"a": A}, remote({"a": A}, synced={"a"})).empty
