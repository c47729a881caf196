"""An SSH handshake started before the API has answered, to the endpoint of the pod's last known start.

A command's critical path is one API call, then one SSH handshake: on a link with 50 ms round trips
each costs several. Both only wait on the network, so the handshake to the endpoint the state file
remembers runs in a thread while the API call is in flight. It pins the host key of that start, so
it can only ever reach the same sshd; when the API then reports another start (a new port, a new
host key) or the attempt failed, the session is dropped and the regular path connects as before.
"""

from __future__ import annotations

import threading
from typing import Callable

from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import PodShell


class EarlySession:
    def __init__(self, start: str, endpoint: Endpoint, open_: Callable[[], PodShell]) -> None:
        self.start, self.endpoint = start, endpoint
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._session: PodShell | None = None
        self._abandoned = False
        threading.Thread(target=self._run, args=(open_,), name="ssh-early", daemon=True).start()

    def _run(self, open_: Callable[[], PodShell]) -> None:
        try:
            session = open_()
        except Exception:  # noqa: BLE001 - a guess that failed; the regular connect retries and reports
            session = None
        with self._lock:
            if self._abandoned and session is not None:
                session.close()
                session = None
            self._session = session
        self._done.set()

    def take(self, wait: float) -> PodShell | None:
        """The session if the handshake succeeded within `wait` seconds; either way this object is spent."""
        self._done.wait(wait)
        with self._lock:
            session, self._session, self._abandoned = self._session, None, True
        return session

    def abandon(self) -> None:
        """Drop it without waiting: a handshake still running closes its session when it ends."""
        with self._lock:
            session, self._session, self._abandoned = self._session, None, True
        if session is not None:
            session.close()


def parse_endpoint(text: str | None) -> Endpoint | None:
    """`host:port` as the state file keeps it; None for anything else."""
    host, _, port = (text or "").rpartition(":")
    return Endpoint(host, int(port)) if host and port.isdigit() else None
