# Runs on the pod under whatever python3 the image has (3.8+), so stdlib only.

"""Code sync on the pod: report the manifest, or apply a sync stream atomically (python3 -c, stdlib only).

The stream (written by engine/codesync.py) is a sequence of frames, each a kind byte and a
big-endian 8-byte length, then that many bytes:
  H  zlib JSON {"delete": [paths], "send": [paths]}      first, once
  F  the bytes of the next path of "send" (X: the same, executable)
  T  zlib JSON {"paths", "sent": {path: [size, sha256, executable]}, "revision"}   last, once
The pod trusts the sha256 the client computed of the bytes it sent (SSH protects them in transit);
it checks that each file on disk has the size its frame announced.

Every file lands under the code folder: paths with "..", "." or empty parts, or absolute ones, are
refused, and each folder is opened one component at a time without following a symlink (a symlink
on the pod where a folder is expected stops the sync). Files are written to a temp file and renamed.
"""

import errno
import hashlib
import json
import os
import stat
import struct
import sys
import time
import zlib

MANIFEST, REVISION = ".podreconcile-manifest.json", ".podreconcile-revision"
FRAME = struct.Struct(">cQ")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
BLOCK = 1 << 20

def path_of(root, rel):
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise SystemExit("refusing unsafe path %r" % rel)
    return os.path.join(root, *parts)

def load(root):
    """The stored manifest and its own mtime (same filesystem clock as the files it describes)."""
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            data = json.load(f)
            return data["files"], os.fstat(f.fileno()).st_mtime_ns
    except (OSError, ValueError, KeyError, TypeError):
        return {}, 0

def save(root, files):
    tmp = os.path.join(root, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"version": 1, "files": files}))  # dumps: json.dump is the slow pure-Python encoder
    os.replace(tmp, os.path.join(root, MANIFEST))
    return os.stat(os.path.join(root, MANIFEST)).st_mtime_ns

def save_settled(root, files):
    # Rewrite until the manifest is strictly newer than every file in it (at most ~1 s on a
    # filesystem with 1 s timestamps), so that the next sync can trust all of them.
    newest = max([entry[3] for entry in files.values()] + [0])
    for _ in range(30):
        if save(root, files) > newest:
            return
        time.sleep(0.05)

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()

def describe(root, rel, cached, manifest_ns):
    try:
        st = os.lstat(path_of(root, rel))
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    old = cached.get(rel)
    # Trust a stored hash while size and mtime match, unless the file is not older than the
    # manifest: a change in the same timestamp tick would keep its mtime (git's "racy clean").
    trusted = old and old[1] and old[0] == st.st_size and old[3] == st.st_mtime_ns
    if trusted and st.st_mtime_ns < manifest_ns:
        digest = old[1]
    else:
        digest = sha256(path_of(root, rel))
    return [st.st_size, digest, bool(st.st_mode & 0o100), st.st_mtime_ns]

def read_revision(root):
    try:
        with open(os.path.join(root, REVISION)) as f:
            return f.read().strip()
    except OSError:
        return None

def same(entry, known):
    """Whether the pod's entry is what the client knows: size, executable bit, sha256 prefix (16+ hex)."""
    return (isinstance(known, list) and len(known) == 3 and isinstance(known[1], str) and len(known[1]) >= 16
            and entry[0] == known[0] and entry[2] == known[2] and entry[1].startswith(known[1]))

def manifest(root):
    """The pod's entries of the paths asked about and of those synced before.

    With "known" (path -> the client's [size, sha256 prefix, executable]) the reply is compact: an
    entry equal to the client's is left out, a known path absent here is listed in "absent", and
    "synced" holds only the synced paths not asked about (the candidates for deletion). So a no-op
    over 100,000 files answers in bytes, not megabytes."""
    request = json.loads(zlib.decompress(sys.stdin.buffer.read()).decode())
    paths, known = set(request["paths"]), request.get("known")
    cached, manifest_ns = load(root)
    files, absent = {}, []
    for rel in paths | set(cached):
        entry = describe(root, rel, cached, manifest_ns)
        mine = known.get(rel) if known else None
        if entry is None:
            if mine is not None:
                absent.append(rel)
        elif mine is None or not same(entry, mine):
            files[rel] = entry[:3]
    synced = sorted(p for p in cached if p not in paths) if known is not None else sorted(cached)
    reply = {"files": files, "synced": synced, "revision": read_revision(root)}
    if known is not None:
        reply["absent"] = sorted(absent)
    sys.stdout.write(json.dumps(reply))

class Folders:
    """Folders under the code folder, opened one component at a time, never through a symlink."""

    def __init__(self, root):
        self.fds = {"": os.open(root, os.O_RDONLY | os.O_DIRECTORY)}

    def fd(self, rel_dir, create=True):
        """The open folder `rel_dir` ("" is the code folder); None if absent and not `create`."""
        fd = self.fds.get(rel_dir)
        if fd is not None:
            return fd
        parent, _, name = rel_dir.rpartition("/")
        parent_fd = self.fd(parent, create)
        if parent_fd is None:
            return None
        if create:
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise SystemExit("refusing to write under %r on the pod: it is a symlink or a file, not a "
                                 "folder; remove it there and sync again" % rel_dir)
            raise
        self.fds[rel_dir] = fd
        return fd

    def forget(self, rel_dir):
        fd = self.fds.pop(rel_dir, None)
        if fd is not None:
            os.close(fd)

def split(rel):
    path_of("/", rel)  # refuses an unsafe path
    folder, _, name = rel.rpartition("/")
    return folder, name

def remove(folders, rel):
    """Delete a file an earlier sync wrote, then the folders it leaves empty (never a symlink's target)."""
    folder, name = split(rel)
    fd = folders.fd(folder, create=False)
    if fd is None:
        return
    try:
        os.unlink(name, dir_fd=fd)
    except (FileNotFoundError, IsADirectoryError):
        return  # gone already, or a folder now: not a file this sync wrote
    while folder:
        parent, _, name = folder.rpartition("/")
        folders.forget(folder)
        try:
            os.rmdir(name, dir_fd=folders.fd(parent))
        except OSError:
            break
        folder = parent

def read_exactly(src, size):
    data = src.read(size)
    if len(data) != size:
        raise SystemExit("the sync stream ended early")
    return data

def write(folders, rel, src, size, executable):
    """Copy `size` bytes of `src` to `rel` through a temp file; returns the file's stat."""
    folder, name = split(rel)
    fd_dir = folders.fd(folder)
    tmp = "." + name + ".podreconcile-tmp"
    try:
        fd = os.open(tmp, NEW_FILE, 0o600, dir_fd=fd_dir)
    except FileExistsError:  # left by an interrupted sync
        os.unlink(tmp, dir_fd=fd_dir)
        fd = os.open(tmp, NEW_FILE, 0o600, dir_fd=fd_dir)
    try:
        left = size
        while left:
            block = src.read(min(left, BLOCK))
            if not block:
                raise SystemExit("the sync stream ended early")
            left -= len(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
        os.fchmod(fd, 0o755 if executable else 0o644)
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=fd_dir)
        raise
    os.close(fd)
    if st.st_size != size:
        raise SystemExit("%s: wrote %d bytes, expected %d" % (rel, st.st_size, size))
    os.replace(tmp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
    return st

def frame(src):
    kind, size = FRAME.unpack(read_exactly(src, FRAME.size))
    return kind, size

def apply(root):
    os.makedirs(root, exist_ok=True)
    src = sys.stdin.buffer
    kind, size = frame(src)
    if kind != b"H":
        raise SystemExit("not a sync stream")
    head = json.loads(zlib.decompress(read_exactly(src, size)).decode())
    cached, manifest_ns = load(root)
    # Record the files about to be written first (hash unknown), so an interrupted sync still
    # knows it wrote them and a later sync may delete them.
    interim = dict(cached)
    for rel in head["send"]:
        interim[rel] = [0, None, False, None]
    save(root, interim)
    folders = Folders(root)
    for rel in head["delete"]:
        if rel in cached:
            remove(folders, rel)
    written = {}
    for rel in head["send"]:
        kind, size = frame(src)
        if kind not in (b"F", b"X"):
            raise SystemExit("the sync stream ended early")
        st = write(folders, rel, src, size, kind == b"X")
        written[rel] = [st.st_size, None, kind == b"X", st.st_mtime_ns]
    kind, size = frame(src)
    if kind != b"T":
        raise SystemExit("the sync stream is malformed")
    tail = json.loads(zlib.decompress(read_exactly(src, size)).decode())
    with open(os.path.join(root, REVISION), "w") as f:
        f.write(tail["revision"] + "\n")
    sent = tail["sent"]
    final = {}
    for rel in tail["paths"]:
        if rel in written:
            entry = written[rel]
            size, digest, _ = sent[rel]
            entry[1] = digest if entry[0] == size else None
        else:  # unchanged: trusted as in manifest(), hashed again if touched since
            entry = describe(root, rel, cached, manifest_ns)
        if entry:
            final[rel] = entry
    save_settled(root, final)

try:
    {"manifest": manifest, "apply": apply}[sys.argv[1]](sys.argv[2])
except OSError as e:
    sys.exit("%s: %s" % (e.filename or "", e.strerror))
