"""Issue 9, finding 9 (the sandbox): its key is never world-readable, its run folders are private,
and its server neither reads an unbounded body nor waits forever on a stalled client."""

from __future__ import annotations

import http.client
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from podreconcile.sandbox.podhost import PodHost
from podreconcile.sandbox.private import write_private
from podreconcile.sandbox.server import Handler, make_server
from podreconcile.sandbox.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)  # what a careless shell has: every file the sandbox makes would be 0666
    yield
    os.umask(old)


def test_the_key_file_is_0600_from_its_first_byte(tmp_path: Path, open_umask, monkeypatch) -> None:
    seen = []
    real_fdopen = os.fdopen

    def spy(fd, *args, **kwargs):  # the file's mode before a byte of the key is in it
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", spy)
    store = Store(tmp_path / "home")
    monkeypatch.undo()
    assert mode(tmp_path / "home") == 0o700
    assert mode(store.path) == 0o600 and store.api_key in store.path.read_text()
    assert seen and set(seen) == {0o600}
    write_private(tmp_path / "server.json", b'{"api_key": "x"}')
    assert mode(tmp_path / "server.json") == 0o600


def test_a_planted_temp_symlink_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("precious")
    (tmp_path / "server.json.tmp").symlink_to(target)
    write_private(tmp_path / "server.json", b"{}")
    assert target.read_text() == "precious" and (tmp_path / "server.json").read_text() == "{}"


def test_the_run_folder_where_ssh_ports_are_written_is_private(tmp_path: Path, open_umask) -> None:
    PodHost(tmp_path / "run")
    assert mode(tmp_path / "run") == 0o700


@pytest.fixture
def server():
    srv = make_server(None, 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_huge_body_is_refused_unread(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    conn.putrequest("POST", "/graphql")
    conn.putheader("Content-Length", str(10 * Handler.MAX_BODY))
    conn.endheaders()  # no body follows: a server that read it would wait for 10 MB
    assert conn.getresponse().status == 413
    conn.close()


def test_a_stalled_client_is_dropped(server) -> None:
    with socket.create_connection(server.server_address, timeout=120) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        assert sock.recv(1024) == b""  # the server closed it (after Handler.timeout seconds)
