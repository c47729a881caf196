"""put_bytes / get_bytes over the session's one SFTP client."""

from __future__ import annotations

import os
import stat

import pytest

from podreconcile.core.errors import PermanentError
from podreconcile.core.ports import RemotePathNotFound

ODD_NAMES = [
    "with space.txt",
    "it's \"quoted\".txt",
    "$(touch PWNED)",
    "semi;colon && rm -rf x",
    "`touch PWNED2`",
    "ünïcødé ✓.txt",
    "-starts-with-dash",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_put_get_round_trip_with_odd_names_runs_nothing(session, tmp_path, name):
    folder = tmp_path / "remote dir $(x)"
    data = os.urandom(1000) + name.encode()
    session.put_bytes(data, str(folder / "sub" / name))

    assert (folder / "sub" / name).read_bytes() == data
    assert session.get_bytes(str(folder / "sub" / name)) == data
    assert not list(tmp_path.rglob("PWNED*")) and not (folder / "x").exists()
    assert os.listdir(folder / "sub") == [name]  # the temp file was renamed away


def test_put_bytes_replaces_atomically_and_sets_the_mode(session, tmp_path):
    target = tmp_path / "bin" / "runner.py"
    session.put_bytes(b"old", str(target))
    session.put_bytes(b"#!/usr/bin/env python3\n", str(target), mode=0o755)

    assert target.read_bytes() == b"#!/usr/bin/env python3\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert os.listdir(target.parent) == ["runner.py"]


def test_large_files_round_trip(session, tmp_path):
    data = os.urandom(8 * 2**20)
    session.put_bytes(data, str(tmp_path / "big.bin"))
    assert session.get_bytes(str(tmp_path / "big.bin")) == data


def test_getting_a_missing_file_raises_remote_path_not_found(session, tmp_path):
    with pytest.raises(RemotePathNotFound) as caught:
        session.get_bytes(str(tmp_path / "status.json"))
    assert isinstance(caught.value, PermanentError)
    assert isinstance(caught.value, FileNotFoundError)


def test_writing_below_a_file_is_a_permanent_error(session, tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(PermanentError, match="uploading"):
        session.put_bytes(b"y", str(tmp_path / "plain" / "below"))
    assert session.is_alive()


def test_the_sftp_client_is_opened_once_and_shared(session):
    assert session.sftp() is session.sftp()
