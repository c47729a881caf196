"""The TCP connection to a pod's sshd, with the standard library only: a command can dial it before
paramiko is loaded (cli.wiring's early handshake), so the TCP handshake and sshd's banner overlap that
import instead of following it."""

from __future__ import annotations

import socket

from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.observation import Endpoint

# Without TCP_USER_TIMEOUT a peer that vanishes silently (preempted host) leaves the keepalive
# packets unacknowledged for the kernel's ~15 minutes of retransmissions; this bounds it.
_TCP_USER_TIMEOUT_MS = 45_000


def reason_of(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e) or type(e).__name__)[:200]


def dial(endpoint: Endpoint, timeout: float) -> socket.socket:
    """The TCP connection to the pod's sshd, with the kernel's dead-peer detection on."""
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except socket.gaierror:
        raise PermanentError(f"cannot resolve the pod's SSH host {endpoint.host!r}") from None
    except OSError as e:
        raise TemporaryError(f"SSH not ready yet at {endpoint}: {reason_of(e)}") from e
    _enable_keepalive(sock)
    return sock


def _enable_keepalive(sock: socket.socket) -> None:
    """Kernel-level dead-peer detection; options missing on this OS are skipped."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    options = {"TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}
    options["TCP_USER_TIMEOUT"] = _TCP_USER_TIMEOUT_MS
    for name, value in options.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
