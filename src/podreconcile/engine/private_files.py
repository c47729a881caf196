"""Files podreconcile writes on this machine: 0600 in 0700 folders, never through a symlink.

A cloned repository is not trusted: a committed `.podreconcile/lock -> ~/.bashrc` would otherwise
be truncated and rewritten by the next command. So the folder is refused when it is a symlink,
holds a symlink, or is tracked by git; and every file is opened with O_NOFOLLOW.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from podreconcile.core.errors import UserError

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_untracked: set[Path] = set()  # folders git was asked about once in this process


def private_folder(folder: Path, create: bool = True) -> Path:
    """`folder` checked (see the module doc) and, when `create`, made 0700. Raises UserError."""
    _refuse_link(folder, f"{folder} is a symlink")
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder; move it aside, then run again.")
        for child in folder.iterdir():
            _refuse_link(child, f"{folder} holds a symlink ({child.name})")
        _refuse_tracked(folder)
        if stat.S_IMODE(folder.stat().st_mode) & 0o077:
            os.chmod(folder, FOLDER_MODE)
    elif create:
        _refuse_tracked(folder)
        folder.mkdir(mode=FOLDER_MODE, parents=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened
    return folder


def open_private(path: Path, flags: int) -> int:
    """os.open of `path` without following a symlink, created 0600; UserError if it is a link."""
    try:
        fd = os.open(path, flags | _NOFOLLOW, FILE_MODE)
    except OSError as error:
        if error.errno in (40, 31) or path.is_symlink():  # ELOOP: the last component is a symlink
            raise UserError(f"{path} is a symlink; podreconcile never writes through one. "
                            "Remove it, then run again.") from None
        raise
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write `path` atomically (a fresh temp file, fsync, rename, fsync of the folder), 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()  # a leftover (or planted) temp file: O_EXCL below must create a fresh one
    except FileNotFoundError:
        pass
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_private(path: Path, limit: int = 1 << 20) -> bytes:
    """The bytes of `path` (FileNotFoundError if absent), refusing a symlink and a huge file."""
    fd = open_private(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"{path} is larger than {limit} bytes, so it is not podreconcile's; move it aside.")
    return data


def _refuse_link(path: Path, what: str) -> None:
    if path.is_symlink():
        raise UserError(f"{what}; podreconcile never writes through a link (a cloned repository could aim it "
                        f"at your files). Remove it, then run again.")


def _refuse_tracked(folder: Path) -> None:
    """A `.podreconcile` committed to git came with the clone: its contents are someone else's."""
    if folder in _untracked:
        return
    try:
        found = subprocess.run(["git", "ls-files", "-z", "--", folder.name], cwd=folder.parent,
                               capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return  # no git here: nothing can be tracked
    if found.returncode == 0 and found.stdout.strip(b"\0"):
        raise UserError(f"{folder} is tracked by git, so it came from the repository, not from podreconcile; "
                        f"run `git rm -r --cached {folder.name}`, add it to .gitignore, and run again.")
    _untracked.add(folder)
