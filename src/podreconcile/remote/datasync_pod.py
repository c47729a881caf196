"""Data sync on the pod: list files, prepare part files, finalize uploads.

Sent on the command line as `python3 -c` by engine/datasync/podscript.py; it runs under whatever
python3 the image has (3.8+), so stdlib only. argv: MODE PART_SUFFIX PARTIAL_DIR; input on stdin.
"""
import hashlib
import json
import os
import shutil
import stat
import sys

PART, PARTIAL_DIR = sys.argv[2], sys.argv[3]

def regular(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None

def list_files():
    files = {}
    for root in json.load(sys.stdin)["roots"]:
        st = regular(root)
        if st:
            files[root] = [st.st_size, st.st_mtime_ns]
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != PARTIAL_DIR]
            for name in names:
                path = os.path.join(folder, name)
                st = None if name.endswith(PART) else regular(path)
                if st:
                    files[path] = [st.st_size, st.st_mtime_ns]
    json.dump({"files": files, "rsync": shutil.which("rsync")}, sys.stdout)

def sha256(path, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while size:
            block = f.read(min(1 << 20, size))
            if not block:
                break
            h.update(block)
            size -= len(block)
    return h.hexdigest()

def prepare():
    request = json.load(sys.stdin)
    for folder in request["dirs"]:
        os.makedirs(folder, exist_ok=True)
    parts = {}
    for path in request["parts"]:
        st = regular(path)
        if st and st.st_size:
            parts[path] = [st.st_size, sha256(path, st.st_size)]
    json.dump(parts, sys.stdout)

def finalize():
    for part, final, mtime_ns in json.load(sys.stdin):
        os.utime(part, ns=(mtime_ns, mtime_ns))
        os.replace(part, final)

try:
    {"list": list_files, "prepare": prepare, "finalize": finalize}[sys.argv[1]]()
except OSError as e:
    sys.exit("%s: %s" % (e.filename or "", e.strerror))
