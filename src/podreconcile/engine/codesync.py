"""Code sync ("push"): the git-tracked files of a local folder to `code_path` on the pod.

Only what changed travels, in two round trips over the command run's SSH session:

1. `remote_manifest`: a python3 script on the pod reports size, sha256 and executable bit of the
   paths that matter (the local ones and those the previous sync wrote). It trusts the hashes it
   stored in `<code_path>/.podreconcile-manifest.json` while a file's size and mtime are unchanged,
   so a second sync rehashes nothing.
2. `_push`: one stream over one exec channel to the same script (frames: the list of changes, each
   changed file's bytes, the final manifest; see remote/codesync_pod.py), which deletes the files an
   earlier sync wrote that are no longer tracked, writes each changed file atomically, and records
   the new manifest and `<code_path>/.podreconcile-revision`.

Locally, hashes are reused from `.podreconcile/code-hashes.json` while a file's size, mtime, ctime
and inode are unchanged (engine/hash_cache.py), so a no-op plan or apply reads no file. `sync_code`
hashes only the files the pod holds at the same size (the others must be sent anyway); the packer
hashes what it sends as it sends it.

Files on the pod that no sync wrote (checkpoints, outputs, caches) are never touched.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import queue
import shlex
import stat
import struct
import subprocess
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Generator, Iterable, Iterator, NamedTuple

from podreconcile.core.errors import PermanentError, UserError
from podreconcile.core.ports import PodShell
from podreconcile.core.untrusted import as_bool, as_int, as_list, as_str, json_value
from podreconcile.engine.hash_cache import HashCache, now_ns

MANIFEST_NAME = ".podreconcile-manifest.json"
REVISION_NAME = ".podreconcile-revision"
_RESERVED = {MANIFEST_NAME, REVISION_NAME}
_FRAME = struct.Struct(">cQ")  # kind, length: the stream's framing (remote/codesync_pod.py)
_BLOCK = 1 << 20
_PREFIX = 16  # hex digits of a sha256 the pod compares against: 64 bits
_MAX_REPLY = 64 << 20  # a full reply is ~120 bytes a file: 100,000 files without `known` fit
_WILDCARDS = frozenset("*?[")


class FileEntry(NamedTuple):
    """One synced file: what decides whether it must be sent again."""

    size: int
    sha256: str
    executable: bool


Manifest = dict[str, FileEntry]  # relative POSIX path -> entry


@dataclass(frozen=True)
class Revision:
    """The local code's identity: HEAD's short sha ("" before the first commit) and dirtiness."""

    commit: str
    dirty: bool  # tracked files differ from HEAD: the caller warns about uncommitted changes

    def __str__(self) -> str:
        label = self.commit or "uncommitted"
        return f"{label}-dirty" if self.dirty and self.commit else label


@dataclass(frozen=True)
class RemoteManifest:
    """The pod side, as `remote_manifest` found it."""

    files: Manifest  # the paths asked about, plus those synced before, that exist now
    synced: frozenset[str]  # paths the previous sync wrote: the only ones a sync may delete
    revision: str | None  # content of .podreconcile-revision, None if absent


@dataclass(frozen=True)
class SyncDiff:
    """What a sync would do; pure data for the planner to show."""

    send: tuple[str, ...]
    delete: tuple[str, ...]
    bytes_to_send: int
    unchanged: int

    @property
    def empty(self) -> bool:
        return not self.send and not self.delete


@dataclass(frozen=True)
class SyncResult:
    files_sent: int
    bytes_sent: int
    files_deleted: int
    revision: str
    dirty: bool


# -- local side ------------------------------------------------------------------------------------


def is_excluded(path: str, patterns: Iterable[str]) -> bool:
    """Whether `path` falls under a gitignore-style pattern.

    Supported: `data/` (a folder of that name anywhere), `/data/` or `a/b` (anchored at the synced
    folder), `*.ckpt` (fnmatch per path component). Not supported: `**` and `!` negation.
    """
    parts = path.split("/")
    return any(_matches(parts, pattern) for pattern in patterns)


def _matches(parts: list[str], pattern: str) -> bool:
    dir_only = pattern.endswith("/")
    pat_parts = pattern.strip("/").split("/")
    anchored = pattern.startswith("/") or len(pat_parts) > 1
    if not anchored and not _WILDCARDS.intersection(pat_parts[0]):
        # The common `data/` or `name`: a plain name anywhere (a folder's only: not the last part).
        # The same answer as the loop below, without fnmatch per part: plan runs this for every file.
        return pat_parts[0] in (parts[:-1] if dir_only else parts)
    starts = [0] if anchored else range(len(parts))
    for i in starts:
        end = i + len(pat_parts)
        if end > len(parts) or (dir_only and end == len(parts)):
            continue  # too short, or the match would be the file itself for a folder pattern
        if all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts[i:end], pat_parts)):
            return True
    return False


def tracked_files(repo_dir: Path) -> list[str]:
    """Paths git tracks under `repo_dir`, relative to it (tracked but deleted ones included)."""
    out = _git(repo_dir, "ls-files", "-z").stdout
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def local_manifest(repo_dir: Path, exclude: Iterable[str] = ()) -> Manifest:
    """Tracked files as they are in the working tree, minus `exclude`.

    Deleted tracked files, symlinks and submodules are left out. Hashes come from the project's
    hash cache while a file's stat is unchanged (engine/hash_cache.py).
    """
    stats = local_files(repo_dir, exclude)
    cache = HashCache.beside(repo_dir)
    manifest = {rel: _entry(repo_dir, rel, st, cache) for rel, st in stats.items()}
    cache.save()
    return manifest


def local_files(repo_dir: Path, exclude: Iterable[str] = ()) -> dict[str, os.stat_result]:
    """The regular tracked files of the working tree, minus `exclude`, with their stat."""
    exclude = list(exclude)
    found = {}
    for rel in tracked_files(repo_dir):
        if rel in _RESERVED or is_excluded(rel, exclude):
            continue
        try:
            st = os.lstat(os.path.join(repo_dir, rel))
        except OSError:
            continue  # deleted since `git ls-files`
        if stat.S_ISREG(st.st_mode):  # not a symlink, not a folder (a submodule)
            found[rel] = st
    return found


def _entry(repo_dir: Path, rel: str, st: os.stat_result, cache: HashCache) -> FileEntry:
    digest = cache.lookup(rel, st)
    if digest is not None:
        return FileEntry(st.st_size, digest, bool(st.st_mode & 0o100))
    return _hash_file(os.path.join(repo_dir, rel), rel, cache)


def revision(repo_dir: Path) -> Revision:
    """HEAD's short sha and whether tracked files under `repo_dir` differ from it."""
    head = _git(repo_dir, "rev-parse", "--short", "HEAD", check=False)
    if head.returncode != 0:
        return Revision("", dirty=True)
    status = _git(repo_dir, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return Revision(head.stdout.decode().strip(), dirty=bool(status.stdout.strip()))


def _hash_file(path: str, rel: str, cache: HashCache) -> FileEntry:
    digest = hashlib.sha256()
    hashed_at = now_ns()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    cache.record(rel, st, digest.hexdigest(), hashed_at)
    return FileEntry(st.st_size, digest.hexdigest(), bool(st.st_mode & 0o100))


def _git(repo_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True)
    except FileNotFoundError:
        raise UserError("git is not installed: code sync sends git-tracked files; install git") from None
    if check and done.returncode != 0:
        raise UserError(
            f"{repo_dir} is not a folder inside a git repository ({_first_line(done.stderr)}): "
            "code sync sends git-tracked files; run `git init` and `git add` there"
        )
    return done


def _first_line(data: bytes) -> str:
    return (data.decode(errors="replace").strip().splitlines() or ["git failed"])[0]


# -- the plan --------------------------------------------------------------------------------------


def plan_sync(
    local: Manifest, remote: RemoteManifest, exclude: Iterable[str] = ()
) -> SyncDiff:
    """What to send (new or different) and what to delete (synced before, tracked no more).

    Files synced before that are excluded now are left alone: they are no longer managed.
    """
    exclude = list(exclude)
    send = tuple(sorted(p for p, entry in local.items() if remote.files.get(p) != entry))
    gone = remote.synced - set(local)
    delete = tuple(sorted(p for p in gone if p in remote.files and not is_excluded(p, exclude)))
    return SyncDiff(
        send=send,
        delete=delete,
        bytes_to_send=sum(local[p].size for p in send),
        unchanged=len(local) - len(send),
    )


# -- pod side --------------------------------------------------------------------------------------


def remote_manifest(session: PodShell, code_path: str, paths: Iterable[str] | Manifest) -> RemoteManifest:
    """One round trip: the pod's view of `paths` and of what the previous sync wrote.

    Given a Manifest (path -> local entry) instead of paths, the pod leaves out every entry equal to
    the local one (size, executable bit, the first 16 hex digits of the sha256) and the reply stays
    small however many files there are; the result is the same as with the paths alone, except that
    `synced` then holds only the synced paths not asked about (all that deletions need)."""
    known = paths if isinstance(paths, Mapping) else None
    return _remote_manifest(session, code_path, paths, known)


def _remote_manifest(
    session: PodShell, code_path: str, paths: Iterable[str], known: Manifest | None
) -> RemoteManifest:
    body: dict = {"paths": sorted(paths)}
    if known is not None:
        body["known"] = {p: [e.size, e.sha256[:_PREFIX], e.executable] for p, e in known.items()
                         if len(e.sha256) == 64}
    request = zlib.compress(json.dumps(body).encode())  # ~8x smaller: paths repeat
    result = session.run(
        _script_command("manifest", code_path), stdin=request, what="reading the pod's code manifest",
        timeout=300,
    )
    remote = parse_manifest(result.stdout)
    if known is None:
        return remote
    absent = _absent(result.stdout)
    files = {p: e for p, e in known.items() if p in body["known"] and p not in absent}
    files.update(remote.files)  # what differs, and what was not known
    return RemoteManifest(files, remote.synced, remote.revision)


def _absent(stdout: str) -> frozenset[str]:
    """The "absent" list of a compact reply: without it nothing known can be taken as the same."""
    data = json_value(stdout, _MAX_REPLY)
    absent = data.get("absent") if isinstance(data, dict) else None
    if not isinstance(absent, list):
        raise PermanentError("the pod's code manifest could not be parsed; apply again, or check the pod's "
                             "python3 with `podreconcile logs`")
    return frozenset(p for p in absent if isinstance(p, str))


def parse_manifest(stdout: str) -> RemoteManifest:
    """The manifest script's output; an entry that is unreadable is left out (the file is sent
    again). PermanentError when the output is no manifest at all."""
    data = json_value(stdout, _MAX_REPLY)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise PermanentError("the pod's code manifest could not be parsed; apply again, or check the pod's "
                             "python3 with `podreconcile logs`")
    files = {}
    for rel, entry in data["files"].items():
        if isinstance(entry, list) and len(entry) == 3:
            size, digest, executable = as_int(entry[0], 0), as_str(entry[1], 200), entry[2]
            if size is not None and digest is not None:
                files[rel] = FileEntry(size, digest, as_bool(executable))
    synced = frozenset(p for p in as_list(data.get("synced")) if isinstance(p, str))
    return RemoteManifest(files, synced, as_str(data.get("revision"), 200))


def sync_code(
    session: PodShell, repo_dir: Path, code_path: str, exclude: Iterable[str] = ()
) -> SyncResult:
    """Make `code_path` on the pod hold the tracked files of `repo_dir`, sending only changes."""
    exclude = list(exclude)
    rev = revision(repo_dir)
    stats = local_files(repo_dir, exclude)
    cache = HashCache.beside(repo_dir)
    known = {}  # what is known without reading a file: the pod leaves these out of its reply when equal
    for rel, st in stats.items():
        digest = cache.lookup(rel, st)
        if digest is not None:
            known[rel] = FileEntry(st.st_size, digest, bool(st.st_mode & 0o100))
    remote = _remote_manifest(session, code_path, stats, known)
    local = {rel: _entry_to_compare(repo_dir, rel, st, remote.files.get(rel), cache) for rel, st in stats.items()}
    diff = plan_sync(local, remote, exclude)
    if diff.empty and remote.revision == str(rev):
        cache.save()
        return SyncResult(0, 0, 0, str(rev), rev.dirty)
    bytes_sent = _push(session, Path(repo_dir), code_path, local, diff, str(rev), cache)
    cache.save()
    return SyncResult(len(diff.send), bytes_sent, len(diff.delete), str(rev), rev.dirty)


def _entry_to_compare(
    repo_dir: Path, rel: str, st: os.stat_result, theirs: FileEntry | None, cache: HashCache
) -> FileEntry:
    """The local entry, hashed only when the pod's copy could be the same (same size and mode).

    Otherwise the file must go anyway: its hash is left empty ("" equals no pod hash), and the
    packer computes it from the bytes it sends."""
    executable = bool(st.st_mode & 0o100)
    if theirs is None or (theirs.size, theirs.executable) != (st.st_size, executable):
        return FileEntry(st.st_size, "", executable)
    return _entry(repo_dir, rel, st, cache)


def _push(
    session: PodShell, repo_dir: Path, code_path: str, local: Manifest, diff: SyncDiff, rev: str,
    cache: HashCache | None = None,
) -> int:
    """Second round trip: the stream of deletions, changed files, manifest and revision.

    The stream is produced while it is sent, so memory stays small and packing overlaps the upload.
    """
    packer = _Packer(repo_dir, diff, local, rev, cache or HashCache(None))
    chunks = _read_ahead(_coalesce(packer.chunks()))
    try:
        session.run(_script_command("apply", code_path), stdin=chunks, what="code sync")
    finally:
        chunks.close()
    return packer.bytes_sent


def _read_ahead(chunks: Iterator[bytes], depth: int = 8) -> Generator[bytes, None, None]:
    """`chunks`, produced by a thread up to `depth` ahead: reading and hashing files overlaps the
    sending (encryption, waiting for the pod's window), which happens in the consumer's thread."""
    ahead: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        """Queue `item` unless the consumer has stopped (then False)."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            item: object = done
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            item = error
        put(item)

    producer = threading.Thread(target=produce, name="codesync-pack", daemon=True)
    producer.start()
    try:
        while True:
            item = ahead.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


class _Packer:
    """Writes the stream: head (deletions, paths to send), changed files, tail (manifest, revision).

    Files are hashed as they are packed, so the manifest stored on the pod describes exactly the
    bytes sent even if a file was edited since it was listed (those hashes go to the local cache);
    a file whose stat at opening matches its cache entry is not hashed again.
    A frame per file (9 bytes) instead of a tar header and padding (~770 bytes for a small file).
    """

    def __init__(self, repo_dir: Path, diff: SyncDiff, local: Manifest, rev: str, cache: HashCache) -> None:
        self._repo_dir = repo_dir
        self._diff = diff
        self._manifest = dict(local)
        self._rev = rev
        self._cache = cache
        self.bytes_sent = 0

    def chunks(self) -> Iterator[bytes]:
        head = {"delete": list(self._diff.delete), "send": list(self._diff.send)}
        yield from _json_frame(b"H", head)
        for rel in self._diff.send:
            yield from self._file_frame(rel)
        # The pod describes unchanged files itself (its size+mtime cache): it needs their paths, and
        # the entries of the files sent only. Sending every entry cost ~140 bytes per tracked file.
        sent = {rel: list(self._manifest[rel]) for rel in self._diff.send}
        tail = {"paths": sorted(self._manifest), "sent": sent, "revision": self._rev}
        yield from _json_frame(b"T", tail)

    def _file_frame(self, rel: str) -> Iterator[bytes]:
        hashed_at = now_ns()
        try:
            f = open(self._repo_dir / rel, "rb")
        except OSError:
            raise _changed_meanwhile(rel) from None
        with f:
            st = os.fstat(f.fileno())
            executable = bool(st.st_mode & 0o100)
            yield _FRAME.pack(b"X" if executable else b"F", st.st_size)
            known = self._cache.lookup(rel, st)  # hashed by the plan, unchanged since: not hashed again
            digest = hashlib.sha256()
            for block in _exactly(f, st.st_size, rel):
                if known is None:
                    digest.update(block)
                yield block
        sha256 = known or digest.hexdigest()
        self._manifest[rel] = FileEntry(st.st_size, sha256, executable)
        if known is None:
            self._cache.record(rel, st, sha256, hashed_at)
        self.bytes_sent += st.st_size


def _exactly(f: BinaryIO, size: int, rel: str) -> Iterator[bytes]:
    """`size` bytes in blocks: the frame promised that many (a file that grew is cut)."""
    while size:
        block = f.read(min(_BLOCK, size))
        if not block:
            raise _changed_meanwhile(rel)
        size -= len(block)
        yield block


def _changed_meanwhile(rel: str) -> UserError:
    return UserError(f"{rel} changed while being synced: run the command again")


def _json_frame(kind: bytes, value: object) -> Iterator[bytes]:
    data = zlib.compress(json.dumps(value).encode())  # paths repeat: ~8x smaller
    yield _FRAME.pack(kind, len(data))
    yield data


def _coalesce(chunks: Iterable[bytes], size: int = _BLOCK) -> Iterator[bytes]:
    """Join small pieces (headers, small files) into larger writes: fewer SSH packets."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _script_command(mode: str, code_path: str) -> str:
    script = resources.files("podreconcile.remote").joinpath("codesync_pod.py").read_text()
    return f"python3 -c {shlex.quote(script)} {mode} {shlex.quote(code_path)}"


# Runs on the pod under whatever python3 the image has (3.8+), so stdlib only.

