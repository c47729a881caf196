"""The REST client's TLS context, made on a thread of its own as a command starts: OpenSSL reads the
CA bundle (25-50 ms) without holding the GIL, so it is ready, for nothing, by the time the client is
built. The context is httpx's own default (`httpx.create_ssl_context()`: certifi, or SSL_CERT_FILE /
SSL_CERT_DIR), so verification is exactly what an httpx client would do."""

from __future__ import annotations

import ssl
import threading
from typing import Callable

_made: list[ssl.SSLContext] = []
_ready = threading.Event()
_started = threading.Lock()


def prepare() -> None:
    """Start making the context (once per process). httpx is imported here, on the calling thread: the
    context's thread imports nothing (two threads importing at once can deadlock on import locks)."""
    if _started.acquire(blocking=False):
        import certifi
        import httpx

        certifi.where()  # create_ssl_context imports certifi, which finds its bundle through importlib.resources
        threading.Thread(target=_make, args=(httpx.create_ssl_context,), name="tls-context", daemon=True).start()


def context() -> ssl.SSLContext:
    """The context `prepare` made, or a new one when it was not asked for or failed."""
    if _started.locked() and _ready.wait(10) and _made:
        return _made[0]
    import httpx

    return httpx.create_ssl_context()


def _make(create: Callable[[], ssl.SSLContext]) -> None:
    try:
        _made.append(create())
    except Exception:  # noqa: BLE001 - context() makes it again, and raises what is wrong
        pass
    finally:
        _ready.set()
