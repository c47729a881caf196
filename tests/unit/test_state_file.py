"""The state file per spec: its place, the migration of the old shared file, and the lock's timeout."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from podreconcile.cli.options import lock_seconds
from podreconcile.core.errors import UserError
from podreconcile.core.state import State
from podreconcile.engine.state_file import StateFile


def old_state(tmp_path, **fields) -> None:
    (tmp_path / ".podreconcile").mkdir(exist_ok=True)
    (tmp_path / ".podreconcile" / "state.json").write_text(json.dumps({"format": 1, **fields}))


def test_each_spec_has_its_own_state_file(tmp_path) -> None:
    StateFile(tmp_path, "one").write(State(pod_id="p1", pod_name="podreconcile-one"))
    StateFile(tmp_path, "two").write(State(pod_id="p2", pod_name="podreconcile-two"))
    assert StateFile(tmp_path, "one").read().pod_id == "p1"
    assert StateFile(tmp_path, "two").read().pod_id == "p2"
    assert (tmp_path / ".podreconcile" / "one" / "state.json").is_file()


def test_the_old_shared_file_moves_to_the_spec_whose_pod_it_names(tmp_path) -> None:
    old_state(tmp_path, pod_id="p1", pod_name="podreconcile-one", extra_field="kept")
    assert StateFile(tmp_path, "two").read() == State(), "another spec never picks it up"
    assert (tmp_path / ".podreconcile" / "state.json").exists()
    moved = StateFile(tmp_path, "one").read()
    assert moved.pod_id == "p1" and moved.extra == {"extra_field": "kept"}
    assert not (tmp_path / ".podreconcile" / "state.json").exists()
    assert json.loads((tmp_path / ".podreconcile" / "one" / "state.json").read_text())["pod_id"] == "p1"


def test_an_interrupted_create_moves_with_its_spec(tmp_path) -> None:
    old_state(tmp_path, create_pending="podreconcile-one")
    assert StateFile(tmp_path, "one").read().create_pending == "podreconcile-one"


def test_a_shared_file_naming_no_pod_is_left_alone(tmp_path) -> None:
    old_state(tmp_path)
    assert StateFile(tmp_path, "one").read() == State()
    assert (tmp_path / ".podreconcile" / "state.json").exists()


def test_a_symlinked_shared_file_is_neither_moved_nor_read(tmp_path) -> None:
    (tmp_path / "elsewhere.json").write_text(json.dumps({"pod_id": "p1", "pod_name": "podreconcile-one"}))
    (tmp_path / ".podreconcile").mkdir()
    (tmp_path / ".podreconcile" / "state.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UserError, match="holds a symlink"):
        StateFile(tmp_path, "one").read()
    assert (tmp_path / ".podreconcile" / "state.json").is_symlink()


def test_an_existing_per_spec_file_is_never_overwritten(tmp_path) -> None:
    StateFile(tmp_path, "one").write(State(pod_id="new", pod_name="podreconcile-one"))
    old_state(tmp_path, pod_id="old", pod_name="podreconcile-one")
    assert StateFile(tmp_path, "one").read().pod_id == "new"


def _hold(folder, name, seconds, ready) -> None:
    states = StateFile(folder, name)
    states.lock("apply")
    ready.set()
    time.sleep(seconds)
    states.unlock()


def test_the_lock_fails_at_once_naming_the_holder_or_waits_for_it(tmp_path) -> None:
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(tmp_path, "one", 1.5, ready))
    holder.start()
    try:
        assert ready.wait(30)
        StateFile(tmp_path, "two").lock("stop")  # another spec's lock is its own
        with pytest.raises(UserError, match=r"holds the lock of one \(`podreconcile apply`, pid \d+"):
            StateFile(tmp_path, "one").lock("stop")
        waiting = StateFile(tmp_path, "one")
        waiting.lock("stop", timeout=120)  # the holder lets go after 1.5 s
        assert waiting.locked
        waiting.unlock()
    finally:
        holder.join(30)


def test_lock_timeout_is_a_duration_and_zero_by_default() -> None:
    assert [lock_seconds(t) for t in (None, "0", "0s", "30s", "5m", "1h30m")] == [0, 0, 0, 30, 300, 5400]
    with pytest.raises(UserError, match="--lock-timeout: expected a duration like"):
        lock_seconds("soon")
