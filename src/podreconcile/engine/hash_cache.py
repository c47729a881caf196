"""`.podreconcile/code-hashes.json`: the sha256 of each tracked file, reused while its stat is unchanged.

So a no-op `plan` or `apply` reads no file: it stats each one and compares. An entry is trusted only
while the file's size, mtime, ctime and inode all equal what they were when it was hashed. That is
rsync's quick check (size and mtime) plus ctime and inode, which no user-level tool can set back:
an edit that keeps the size and restores the mtime (`touch -d`, `cp -p`, an editor that restores it)
still changes the ctime, so the file is hashed again.

A file whose mtime or ctime is less than `RACY_NS` older than the moment it was hashed is not
recorded (git's "racy clean" case): on a filesystem with coarse timestamps, an edit in the same
tick would leave its stat unchanged. Such a file is simply hashed again next time.

The file is private (0600 in the 0700 `.podreconcile`, never through a symlink), written
atomically; one that cannot be read or parsed is ignored and rebuilt, never trusted in part.
Several specs of one folder share it: an entry is only ever a fact about one file's bytes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from podreconcile.core.errors import UserError
from podreconcile.engine.private_files import (
    private_folder,
    read_private,
    write_private,
)

CACHE_NAME = "code-hashes.json"
RACY_NS = 2_000_000_000  # FAT's 2 s timestamps are the coarsest in common use
_LIMIT = 256 << 20
_FORMAT = 1

Key = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def key_of(st: os.stat_result) -> Key:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class HashCache:
    """Relative path -> (stat key, sha256). `lookup` and `record` in memory; `save` writes it back."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[str, list] = _read(path) if path else {}
        self._new: dict[str, list] = {}
        self._changed = False

    @classmethod
    def beside(cls, repo_dir: Path) -> HashCache:
        """The cache of the project folder `repo_dir` (in its `.podreconcile`, as the state files)."""
        return cls(Path(repo_dir) / ".podreconcile" / CACHE_NAME)

    def lookup(self, rel: str, st: os.stat_result) -> str | None:
        """The stored sha256 of `rel` if its stat is the one it had when hashed, else None."""
        entry = self._old.get(rel)
        if entry is None or tuple(entry[:4]) != key_of(st):
            return None
        self._new[rel] = entry  # kept: still true
        return entry[4]

    def record(self, rel: str, st: os.stat_result, sha256: str, hashed_at_ns: int) -> None:
        """`sha256` is of the bytes `rel` held when its stat was `st`, read from `hashed_at_ns` on."""
        if max(st.st_mtime_ns, st.st_ctime_ns) > hashed_at_ns - RACY_NS:
            return  # too recent to tell a later edit in the same timestamp tick apart
        self._new[rel] = [*key_of(st), sha256]
        self._changed = True

    def save(self) -> None:
        """Write the entries looked up or recorded since loading (files no longer asked about drop out)."""
        if self.path is None or not (self._changed or self._new.keys() != self._old.keys()):
            return
        payload = json.dumps({"format": _FORMAT, "files": self._new}, separators=(",", ":")).encode()
        try:
            private_folder(self.path.parent)  # UserError for a symlinked or tracked folder, as the state's
            write_private(self.path, payload)
        except OSError:
            pass  # a read-only project folder: no cache, every file is hashed (correct, only slower)
        self._old, self._changed = dict(self._new), False


def _read(path: Path) -> dict[str, list]:
    """The stored entries; {} when absent, unreadable, of another format or malformed."""
    try:
        if not path.parent.is_dir() or path.parent.is_symlink():
            return {}
        raw = json.loads(read_private(path, _LIMIT))
    except (OSError, ValueError, UserError):  # a symlink or a huge file: not ours, not trusted
        return {}
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT or not isinstance(raw.get("files"), dict):
        return {}
    return {rel: entry for rel, entry in raw["files"].items() if _well_formed(entry)}


def _well_formed(entry: object) -> bool:
    return (isinstance(entry, list) and len(entry) == 5 and all(type(v) is int for v in entry[:4])
            and isinstance(entry[4], str) and len(entry[4]) == 64)


def now_ns() -> int:
    return time.time_ns()
