"""`.podreconcile/<name>/state.json`: what podreconcile learned about one spec, kept between runs. Never secrets.

Each spec (keyed by its `name`) has its own folder, so several specs live in one project folder.
Written atomically (temp file, fsync, rename, fsync of the folder) after every step, 0600 in a 0700
folder, never through a symlink (engine/private_files.py). Commands that change things hold
`.podreconcile/<name>/lock`; another one fails at once naming the holder, or waits up to
`--lock-timeout` for it. A lock is never broken (the kernel drops a dead holder's flock by itself).
A state file of an unknown format is refused, never rewritten.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from podreconcile.core.errors import UserError
from podreconcile.core.state import FORMAT, State, StateFormatError, parse_state
from podreconcile.engine.private_files import (
    open_private,
    private_folder,
    read_private,
    write_private,
)
from podreconcile.engine.state_migration import migrate_shared_state

LOCK_POLL_S = 0.2


class StateFile:
    def __init__(self, project_dir: Path, name: str) -> None:
        self.root = project_dir / ".podreconcile"
        self.name = name
        self.folder = self.root / name
        self.path = self.folder / "state.json"
        self._lock_fd: int | None = None

    def read(self) -> State:
        if not self.path.exists():
            migrate_shared_state(self.root, self.name, self.path)
        try:
            self._private_folders(create=False)
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
        self._private_folders()
        payload = {k: v for k, v in asdict(state).items() if k != "extra"}
        payload = {**state.extra, **payload, "format": FORMAT}
        self._sweep_stray_temps()
        write_private(self.path, json.dumps(payload, indent=2, sort_keys=True).encode())

    def _private_folders(self, create: bool = True) -> None:
        """`.podreconcile` and this spec's folder in it: checked (no symlink, not tracked), 0700."""
        private_folder(self.root, create)
        private_folder(self.folder, create)

    def _sweep_stray_temps(self) -> None:
        """Remove the temp files of writers killed mid-write (SIGKILL): their pid is gone; a live one's stays."""
        for tmp in self.folder.glob(".state*.tmp"):  # .state.<pid>.tmp (or .state.json.<pid>.tmp)
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def remove(self) -> None:
        """Forget the pod (after destroy); the folder and its lock stay for the lock's holder."""
        self.path.unlink(missing_ok=True)

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def lock(self, command: str, timeout: float = 0, on_wait: Callable[[str], None] = lambda _: None) -> None:
        """Take this spec's lock, waiting up to `timeout` seconds (saying so once through `on_wait`);
        else fail naming who holds it."""
        self._private_folders()
        fd = open_private(self.folder / "lock", os.O_RDWR | os.O_CREAT)
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    os.close(fd)
                    waited = f"; waited {timeout:g} s" if timeout else ""
                    raise UserError(f"Another podreconcile command holds the lock of {self.name} ({holder}){waited}; "
                                    "wait for it to finish, or pass --lock-timeout (e.g. 5m) to wait.") from None
                if not told:
                    on_wait(f"waiting up to {timeout:g} s for the lock of {self.name}, held by {holder}")
                    told = True
                time.sleep(LOCK_POLL_S)
        os.ftruncate(fd, 0)
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.write(fd, f"`podreconcile {command}`, pid {os.getpid()}, since {since}".encode())
        self._lock_fd = fd

    def try_lock(self, command: str) -> bool:
        """Take the lock if it is free; False (and no error) when someone else holds it."""
        try:
            self.lock(command)
        except UserError:
            return False
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _holder(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another podreconcile process"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
