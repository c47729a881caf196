"""Local port forwarding through the pod: a listener whose connections become direct-tcpip channels."""

from __future__ import annotations

import errno
import select
import socket
import threading
from typing import Callable

import paramiko

from podreconcile.core.errors import UserError

_CHUNK = 256 * 1024


class Forwarder:
    """A local TCP listener forwarding each connection through the pod, until `close()`."""

    def __init__(
        self, transport: paramiko.Transport, listener: socket.socket, target: tuple[str, int]
    ) -> None:
        self.local_port: int = listener.getsockname()[1]
        self._transport = transport
        self._listener = listener
        self._target = target
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the accept loop on close()
        self._links: set[tuple[socket.socket, paramiko.Channel]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"forward-{self.local_port}", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and end the connections in flight; the remote service is untouched."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            links = list(self._links)
        self._wake_w.send(b"x")
        self._thread.join()
        for sock, chan in links:
            _shutdown_quietly(sock)  # wakes the link's select(); its thread closes both ends
            chan.close()
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

    def _accept_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                client, addr = self._listener.accept()
            except OSError:
                continue  # the client gave up between select and accept
            threading.Thread(target=self._serve, args=(client, addr), daemon=True).start()

    def _serve(self, client: socket.socket, addr: tuple[str, int]) -> None:
        try:
            chan = self._transport.open_channel("direct-tcpip", self._target, addr, timeout=10)
        except (paramiko.SSHException, EOFError, OSError):
            client.close()  # nothing listens there on the pod, or the connection is gone
            return
        link = (client, chan)
        with self._lock:
            if self._closed:
                client.close()
                chan.close()
                return
            self._links.add(link)
        try:
            _splice(client, chan)
        finally:
            with self._lock:
                self._links.discard(link)
            client.close()
            chan.close()


def _splice(sock: socket.socket, chan: paramiko.Channel) -> None:
    """Copy bytes both ways until both directions end, passing half-closes on."""
    from_sock = from_chan = True
    try:
        while from_sock or from_chan:
            watched = [s for s, on in ((sock, from_sock), (chan, from_chan)) if on]
            ready, _, _ = select.select(watched, [], [])
            if sock in ready:
                from_sock = _copy(sock.recv, chan.sendall, chan.shutdown_write)
            if chan in ready:
                from_chan = _copy(chan.recv, sock.sendall, lambda: sock.shutdown(socket.SHUT_WR))
    except OSError:
        pass  # either end reset: the link is over


def _copy(recv: Callable[[int], bytes], send: Callable[[bytes], None], eof: Callable[[], None]) -> bool:
    data = recv(_CHUNK)
    if data:
        send(data)
        return True
    eof()
    return False


def listen_local(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"local port {port} is already in use on this machine: choose another, "
                f"e.g. {_free_port_near(port)}"
            ) from None
        if e.errno == errno.EACCES:
            raise UserError(
                f"local port {port} needs privileges to listen on: choose a port above 1023, "
                f"e.g. {_free_port_near(max(port, 1023))}"
            ) from None
        raise
    sock.listen(64)
    return sock


def _free_port_near(port: int) -> int:
    """A port that is free right now: one of the next few above `port`, else any."""
    for candidate in [*range(port + 1, min(port + 50, 65536)), 0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise AssertionError("binding port 0 cannot fail")



def _shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
