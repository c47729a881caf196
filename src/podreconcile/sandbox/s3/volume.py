"""A network volume's folder seen as an S3 bucket: object keys are file paths on the volume.

This is what RunPod's S3 API does (shared/runpod-facts.md section 11): no separate object store, so a
file written by a pod is an object at once and an uploaded object is a file at once. Listings include
empty directories as `dir/` keys; multipart parts wait in the hidden `.s3compat_uploads/` folder until
Complete or Abort. ETags are MD5s, computed on first listing of a file written without S3 and kept
while its size, mtime and inode stay the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import S3Error, no_such_key

UPLOADS = ".s3compat_uploads"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    mtime: float
    etag: str  # quoted, as S3 sends it


class ETags:
    """MD5 ETags by (path, size, mtime_ns, inode): files written over SSH get theirs on first read."""

    def __init__(self) -> None:
        self._known: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def of(self, path: Path, st: os.stat_result) -> str:
        ident = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            known = self._known.get(ident)
        if known is None:
            known = f'"{file_md5(path)}"'
            self.remember(path, known)
        return known

    def remember(self, path: Path, etag: str) -> None:
        st = path.stat()
        with self._lock:
            self._known[(str(path), st.st_size, st.st_mtime_ns, st.st_ino)] = etag


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Volume:
    """One bucket: the folder `root` (a network volume's directory, bound into its pods)."""

    def __init__(self, root: Path, etags: ETags) -> None:
        self.root = root.resolve()
        self.etags = etags

    # ---- keys and paths ----

    def path_of(self, key: str) -> Path:
        """The file path of `key`; refuses keys that would leave the volume or touch the uploads folder."""
        parts = key.split("/")
        if not key or key.startswith("/") or "\x00" in key or any(p in (".", "..") for p in parts):
            raise S3Error("InvalidArgument", "The key is not a valid path on the volume.", 400)
        if parts[0] == UPLOADS:
            raise no_such_key()
        path = self.root.joinpath(*[p for p in parts if p])
        real = path.resolve()  # a symlink a pod made must not lead the server outside the volume
        if real != self.root and not real.is_relative_to(self.root):
            raise S3Error("AccessDenied", "The key leaves the volume.", 403)
        return path

    def entry(self, key: str) -> Entry:
        """The object at `key` (a regular file, or `dir/` for an existing directory)."""
        path = self.path_of(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise no_such_key() from None
        if key.endswith("/") and path.is_dir():
            return Entry(key, 0, st.st_mtime, '"d41d8cd98f00b204e9800998ecf8427e"')
        if key.endswith("/") or not path.is_file():
            raise no_such_key()
        return Entry(key, st.st_size, st.st_mtime, self.etags.of(path, st))

    # ---- writes ----

    def staging(self) -> Path:
        """A new empty file in the hidden folder, to be filled and then `place`d."""
        folder = self.root / UPLOADS / "tmp"
        for _ in range(5):  # a concurrent `tidy` may remove the folder between mkdir and mkstemp
            folder.mkdir(parents=True, exist_ok=True)
            try:
                fd, name = tempfile.mkstemp(dir=folder, prefix="put-")
            except FileNotFoundError:
                continue
            os.close(fd)
            return Path(name)
        raise S3Error("InternalError", "Could not stage the upload; please try again.", 500)

    def place(self, staged: Path, key: str, etag: str) -> Entry:
        """Move a fully written file to `key` atomically, making parent folders as a pod's `mkdir -p` would."""
        path = self.path_of(key)
        if key.endswith("/"):
            staged.unlink(missing_ok=True)
            path.mkdir(parents=True, exist_ok=True)
            self.tidy()
            return self.entry(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise S3Error("InvalidRequest", "A directory exists at this key.", 409)
            os.chmod(staged, 0o644)
            os.replace(staged, path)
        except (FileExistsError, NotADirectoryError):
            staged.unlink(missing_ok=True)
            raise S3Error("InvalidRequest", "A file on the key's path is not a directory.", 409) from None
        self.etags.remember(path, etag)
        self.tidy()
        return self.entry(key)

    def tidy(self) -> None:
        """Remove the hidden uploads folder once nothing waits in it, as RunPod cleans it up."""
        for folder in (self.root / UPLOADS / "tmp", self.root / UPLOADS):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (another upload is under way) or already gone

    def delete(self, key: str) -> None:
        """Delete a file, or an empty directory for `dir/`; a missing key is no error (S3's rule)."""
        path = self.path_of(key)
        try:
            if key.endswith("/"):
                path.rmdir()
            elif path.is_file() or path.is_symlink():
                path.unlink()
        except (FileNotFoundError, NotADirectoryError, OSError):
            pass

    # ---- listing ----

    def keys(self, prefix: str) -> list[tuple[str, Path]]:
        """Every file key and every empty directory (`dir/`) starting with `prefix`, in S3 key order."""
        base_rel = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = (self.root / base_rel).resolve() if base_rel else self.root
        if not start.is_dir() or not (start == self.root or start.is_relative_to(self.root)):
            return []
        found: list[tuple[str, Path]] = []
        self._walk(start, base_rel + "/" if base_rel else "", prefix, found)
        found.sort(key=lambda item: item[0].encode())
        return found

    def _walk(self, folder: Path, rel: str, prefix: str, found: list) -> None:
        try:
            children = list(os.scandir(folder))
        except OSError:
            return
        if not children and rel and rel.startswith(prefix):
            found.append((rel, folder))
        for child in children:
            key = rel + child.name
            if not rel and child.name == UPLOADS:
                continue
            if not (key.startswith(prefix) or prefix.startswith(key + "/")):
                continue
            if child.is_dir(follow_symlinks=False):
                self._walk(Path(child.path), key + "/", prefix, found)
            elif child.is_file(follow_symlinks=False) and key.startswith(prefix):
                found.append((key, Path(child.path)))

    def listed(self, key: str, path: Path) -> Entry | None:
        try:
            st = path.stat()
        except OSError:
            return None  # removed while listing
        if key.endswith("/"):
            return Entry(key, 0, st.st_mtime, '"d41d8cd98f00b204e9800998ecf8427e"')
        return Entry(key, st.st_size, st.st_mtime, self.etags.of(path, st))

    def copy(self, source: Path, key: str) -> Entry:
        staged = self.staging()
        shutil.copyfile(source, staged)
        return self.place(staged, key, f'"{file_md5(staged)}"')
