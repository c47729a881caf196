"""Code sync on the pod: report the manifest, or apply a tar stream atomically (python3 -c, stdlib only)."""

import hashlib
import json
import os
import stat
import sys
import tarfile
import time
import zlib

MANIFEST, REVISION = ".podreconcile-manifest.json", ".podreconcile-revision"
HEAD, TAIL = ".podreconcile-sync-head.json", ".podreconcile-sync-tail.json"

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
        json.dump({"version": 1, "files": files}, f)
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
        for block in iter(lambda: f.read(1 << 20), b""):
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

def manifest(root):
    paths = json.loads(zlib.decompress(sys.stdin.buffer.read()).decode())["paths"]
    cached, manifest_ns = load(root)
    files = {}
    for rel in set(paths) | set(cached):
        entry = describe(root, rel, cached, manifest_ns)
        if entry:
            files[rel] = entry[:3]
    json.dump({"files": files, "synced": sorted(cached), "revision": read_revision(root)}, sys.stdout)

def remove(root, rel):
    try:
        os.unlink(path_of(root, rel))
    except (FileNotFoundError, IsADirectoryError):
        return  # gone already, or a folder now: not a file this sync wrote
    folder = os.path.dirname(path_of(root, rel))
    while os.path.abspath(folder) != os.path.abspath(root):
        try:
            os.rmdir(folder)
        except OSError:
            break
        folder = os.path.dirname(folder)

def write(root, rel, src, mode):
    path = path_of(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".podreconcile-tmp")
    with open(tmp, "wb") as f:
        while True:
            block = src.read(1 << 20)
            if not block:
                break
            f.write(block)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

def written(root, rel, size, digest):
    try:
        st = os.lstat(path_of(root, rel))
    except OSError:
        return None
    return [st.st_size, digest if st.st_size == size else None, bool(st.st_mode & 0o100), st.st_mtime_ns]

def apply(root):
    os.makedirs(root, exist_ok=True)
    tar = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
    head = json.load(tar.extractfile(tar.next()))
    cached, manifest_ns = load(root)
    # Record the files about to be written first (hash unknown), so an interrupted sync still
    # knows it wrote them and a later sync may delete them.
    interim = dict(cached)
    for rel in head["send"]:
        interim[rel] = [0, None, False, None]
    save(root, interim)
    for rel in head["delete"]:
        if rel in cached:
            remove(root, rel)
    member = tar.next()  # tar.next(), not iteration: iterating a stream restarts at the head
    while member is not None and member.name != TAIL:
        write(root, member.name, tar.extractfile(member), 0o755 if member.mode & 0o100 else 0o644)
        member = tar.next()
    if member is None:
        raise SystemExit("the tar stream ended early")
    tail = json.loads(zlib.decompress(tar.extractfile(member).read()).decode())
    with open(os.path.join(root, REVISION), "w") as f:
        f.write(tail["revision"] + "\n")
    sent = tail["sent"]
    final = {}
    for rel in tail["paths"]:
        if rel in sent:
            size, digest, _ = sent[rel]
            entry = written(root, rel, size, digest)
        else:  # unchanged: trusted as in manifest(), hashed again if touched since
            entry = describe(root, rel, cached, manifest_ns)
        if entry:
            final[rel] = entry
    save_settled(root, final)

try:
    {"manifest": manifest, "apply": apply}[sys.argv[1]](sys.argv[2])
except OSError as e:
    sys.exit("%s: %s" % (e.filename or "", e.strerror))
