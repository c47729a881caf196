"""`.podreconcile/state.json`: what podreconcile learned, kept between runs. Never secrets.

Written atomically (temp file, fsync, rename, fsync of the folder) after every step. Commands that
change things hold `.podreconcile/lock`; a second one fails at once naming the holder, and a lock is
never broken (the kernel drops a dead holder's flock by itself).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from podreconcile.core.errors import UserError
from podreconcile.core.state import FORMAT, State, parse_state


class StateFile:
    def __init__(self, project_dir: Path) -> None:
        self.folder = project_dir / ".podreconcile"
        self.path = self.folder / "state.json"
        self._lock_fd: int | None = None

    def read(self) -> State:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return State()
        except (OSError, ValueError) as error:
            raise UserError(f"{self.path} is unreadable ({error}); move it aside and run again to adopt the pod by name.") from None
        return parse_state(raw if isinstance(raw, dict) else {})

    def write(self, state: State) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = {k: v for k, v in asdict(state).items() if k != "extra"}
        payload = {**state.extra, **payload, "format": FORMAT}
        tmp = self.path.with_name(f".state.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def lock(self, command: str) -> None:
        """Take the project's lock or fail at once, naming who holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
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
