"""The REST client's TLS context, made on a thread of its own as a command starts: OpenSSL reads the
CA bundle (25-50 ms) without holding the GIL, so it is ready, for nothing, by the time the client is
built. The context is httpx's own default (`httpx.create_ssl_context()`: certifi, or SSL_CERT_FILE /
SSL_CERT_DIR), so verification is exactly what an httpx client would do."""

from __future__ import annotations

import ssl
import threading

_made: list[ssl.SSLContext] = []
_ready = threading.Event()
_started = threading.Lock()


def prepare() -> None:
    """Start making the context (once per process)."""
    if _started.acquire(blocking=False):
        threading.Thread(target=_make, name="tls-context", daemon=True).start()


def context() -> ssl.SSLContext:
    """The context `prepare` made, or a new one when it was not asked for or failed."""
    if _started.locked() and _ready.wait(10) and _made:
        return _made[0]
    import httpx

    return httpx.create_ssl_context()


def _make() -> None:
    try:
        import httpx

        _made.append(httpx.create_ssl_context())
    except Exception:  # noqa: BLE001 - context() makes it again, and raises what is wrong
        pass
    finally:
        _ready.set()
