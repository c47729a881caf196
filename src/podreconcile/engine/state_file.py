"""`.podreconcile/state.json`: what podreconcile learned, kept between runs. Never secrets.

Written atomically (temp file, fsync, rename, fsync of the folder) after every step, 0600 in a 0700
folder, never through a symlink (engine/private_files.py). Commands that change things hold
`.podreconcile/lock`; a second one fails at once naming the holder, and a lock is never broken (the
kernel drops a dead holder's flock by itself). A state file of an unknown format is refused, never
rewritten.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from podreconcile.core.errors import UserError
from podreconcile.core.state import FORMAT, State, StateFormatError, parse_state
from podreconcile.engine.private_files import open_private, private_folder, read_private, write_private


class StateFile:
    def __init__(self, project_dir: Path) -> None:
        self.folder = project_dir / ".podreconcile"
        self.path = self.folder / "state.json"
        self._lock_fd: int | None = None

    def read(self) -> State:
        try:
            private_folder(self.folder, create=False)
            raw = json.loads(read_private(self.path))
        except FileNotFoundError:
            return State()
        except (OSError, ValueError) as error:
            raise UserError(f"{self.path} is unreadable ({error}); move it aside and run again "
                            "to adopt the pod by name.") from None
        if not isinstance(raw, dict):
            raise UserError(f"{self.path} is not a JSON object; move it aside and run again to adopt the pod by name.")
        try:
            return parse_state(raw)
        except StateFormatError as error:
            raise UserError(f"{self.path} cannot be used: {error}; or move it aside and run again to adopt "
                            "the pod by name.") from None

    def write(self, state: State) -> None:
        private_folder(self.folder)
        payload = {k: v for k, v in asdict(state).items() if k != "extra"}
        payload = {**state.extra, **payload, "format": FORMAT}
        write_private(self.path, json.dumps(payload, indent=2, sort_keys=True).encode())

    def lock(self, command: str) -> None:
        """Take the project's lock or fail at once, naming who holds it."""
        private_folder(self.folder)
        fd = open_private(self.folder / "lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another podreconcile process"
            os.close(fd)
            raise UserError(f"Another podreconcile command holds the lock ({holder}); wait for it to finish or stop it.") from None
        os.ftruncate(fd, 0)
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.write(fd, f"`podreconcile {command}`, pid {os.getpid()}, since {since}".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
