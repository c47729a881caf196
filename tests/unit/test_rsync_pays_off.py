"""rsync's own SSH connection is taken only for an upload large enough to pay for it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.engine.datasync import DataFile, UploadDiff, rsync_pays_off
from podreconcile.engine.datasync.transfer import RSYNC_MIN_BYTES, RSYNC_MIN_FILES


def diff(sizes: list[int]) -> UploadDiff:
    send = tuple(DataFile(Path(f"/d/{i}"), f"/workspace/d/{i}", size, 0) for i, size in enumerate(sizes))
    return UploadDiff(send, sum(sizes), len(sizes), sum(sizes), rsync_on_pod=True)


@given(st.lists(st.integers(0, 3 * RSYNC_MIN_BYTES), max_size=3 * RSYNC_MIN_FILES))
def test_rsync_only_for_many_files_or_many_bytes(sizes):
    expected = len(sizes) >= RSYNC_MIN_FILES or sum(sizes) >= RSYNC_MIN_BYTES
    assert rsync_pays_off(diff(sizes)) is expected


def test_one_small_file_goes_over_the_open_connection():
    assert not rsync_pays_off(diff([1000]))
    assert rsync_pays_off(diff([RSYNC_MIN_BYTES]))
