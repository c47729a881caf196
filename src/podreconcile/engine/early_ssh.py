"""The SSH handshake a command begins before it has parsed its arguments, to the endpoint of the pod's
last known start (the state file's), so that it runs while the modules, the spec and the API call take
their time.

`begin` (called by cli.wiring for the commands that reach the pod) dials on a thread of its own and
completes the handshake with that start's host key pinned, so it can only ever reach the same sshd;
the command's connection `claim`s it. When the API then reports another start (a new port, a new host
key), or the attempt failed, the session is dropped and the regular path connects as before.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from podreconcile.core.errors import PodreconcileError, TemporaryError
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import PodShell
from podreconcile.core.spec.settings import load_settings
from podreconcile.core.state import State
from podreconcile.engine.spec_path import find_spec
from podreconcile.engine.state_file import StateFile

EARLY_TIMEOUT = 10.0  # the early handshake's own bound; the regular connect retries after it


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


# The handshake a command began before parsing its arguments (begin), waiting for the command's
# connection to claim it. One per process: a command run has one SSH connection.
_pending: dict[Path, EarlySession] = {}


def begin(spec_option: str | None, dial: Callable[[Endpoint], Any],
          load_connect: Callable[[], Callable[[Endpoint, Path, str, Any], PodShell]]) -> None:
    """Start the handshake to the endpoint the project's state file remembers, before the spec and the
    heavy modules are loaded: it then runs while they load and while the API answers.

    The handshake's thread dials at once (`dial`: the TCP round trip) while this thread loads paramiko
    (`load_connect`, which returns the function that completes the SSH session over the socket). The
    thread itself imports nothing: two threads importing at once can deadlock on import locks.

    A guess, made only when the project has one state file (one spec); anything unusable (no spec, no
    known endpoint, no key) simply starts nothing, and the command connects as it always did. The host
    key of that start is pinned, so the handshake can only complete with the sshd seen before."""
    try:
        spec_path = find_spec(Path(spec_option) if spec_option else None)
        known = _only_known_start(spec_path.parent)
        if known is None:
            return
        state_path, state = known
        endpoint = parse_endpoint(state.ssh_endpoint)
        key = load_settings(spec_path.parent, os.environ).ssh_key_path
    except (PodreconcileError, OSError, ValueError):
        return
    if endpoint is None or key is None or not key.is_file():
        return
    pinned = state.host_key.key
    loaded: list[Callable] = []
    ready = threading.Event()

    def open_() -> PodShell:
        sock = dial(endpoint)
        try:
            if not ready.wait(EARLY_TIMEOUT) or not loaded:
                raise TemporaryError("paramiko did not load")
            return loaded[0](endpoint, key, pinned, sock)
        except BaseException:
            sock.close()
            raise

    _pending[state_path] = EarlySession(state.host_key.start, endpoint, open_)
    try:
        loaded.append(load_connect())
    finally:
        ready.set()


def claim(state_path: Path) -> EarlySession | None:
    """The handshake begun for this state file, if any; one begun for another is dropped."""
    session = _pending.pop(state_path, None)
    for other in _pending.values():
        other.abandon()
    _pending.clear()
    return session


def _only_known_start(project_dir: Path) -> tuple[Path, State] | None:
    folders = [path.parent for path in (project_dir / ".podreconcile").glob("*/state.json")]
    if len(folders) != 1:
        return None  # several specs: which one the command is for is known only once the spec is read
    state_file = StateFile(project_dir, folders[0].name)
    state = state_file.read()
    return (state_file.path, state) if state.host_key and state.ssh_endpoint else None
