"""forward_local: a local port tunnelled to a service on the pod (here: on the same host)."""

from __future__ import annotations

import socket
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from podreconcile.adapters.ssh import connect
from podreconcile.core.errors import UserError


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web():
    """A stdlib HTTP server on 127.0.0.1, standing in for TensorBoard on the pod."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(port: int, path: str) -> str:
    with _NO_PROXY.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read().decode()


def test_concurrent_requests_go_through_the_tunnel(session, web, unused_port):
    forwarder = session.forward_local(unused_port, "127.0.0.1", web)
    assert forwarder.local_port == unused_port

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda i: _get(unused_port, f"/{i}"), range(24)))

    assert bodies == [f"hello /{i}" for i in range(24)]
    forwarder.close()


def test_close_stops_listening_and_leaves_the_service_running(session, web):
    forwarder = session.forward_local(0, "127.0.0.1", web)
    port = forwarder.local_port
    assert _get(port, "/before") == "hello /before"

    forwarder.close()
    forwarder.close()  # idempotent

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert _get(web, "/direct") == "hello /direct"
    assert session.run("echo session still fine").ok


def test_a_taken_local_port_is_a_user_error_naming_a_free_one(session, web):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"local port {port} is already in use") as caught:
            session.forward_local(port, "127.0.0.1", web)
    suggested = int(str(caught.value).rsplit(" ", 1)[1])
    with socket.create_server(("127.0.0.1", suggested)):
        pass  # the suggestion was free


def test_nothing_listening_on_the_pod_closes_the_local_connection(session, unused_port):
    forwarder = session.forward_local(0, "127.0.0.1", unused_port)
    with socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=5) as client:
        client.settimeout(5)
        assert client.recv(10) == b""
    forwarder.close()


def test_closing_the_session_closes_its_forwarders(sshd, web):
    session = connect(sshd.endpoint, sshd.client_key)
    forwarder = session.forward_local(0, "127.0.0.1", web)
    session.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=2).close()
