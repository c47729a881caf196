"""podreconcile's probe: the facts of one run on a pod, in one SSH round trip.

    python3 - <mount> <run_name> <output_dir> <code_path> [<venv>]   (this file on stdin)

Prints one JSON object (see `probe`). Stdlib only, Python >= 3.8. It never fails on a missing path:
what is absent is null, false or empty. It only reads: the runner lock is tested with a
non-blocking flock released at once (the runner retries briefly, so the test cannot make it quit).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - pods are Linux
    fcntl = None  # type: ignore[assignment]

PROBE_VERSION = 1
CHECKPOINT_RE = re.compile(r"^checkpoint-([0-9]+)$")
LOG_LINES = 5  # what `status` shows of the log
TAIL_BYTES = 65536


MAX_JSON = 1 << 20
# The idle guard's folder, as remote/runner/idle_guard.py names it (its override is for unit tests).
GUARD_DIR = os.environ.get("PODRECONCILE_GUARD_DIR") or "/run/podreconcile"


def read_json(path: str):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_JSON + 1)
        # Anyone with the volume may have written it: too big, too deep or not JSON is unreadable.
        data = json.loads(text) if len(text) <= MAX_JSON else None
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def read_text(path: str):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def tmux_alive() -> bool:
    """The training's tmux session `train` exists."""
    if shutil.which("tmux") is None:
        return False
    try:
        done = subprocess.run(["tmux", "has-session", "-t", "train"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def lock_held(path: str) -> bool:
    """A runner holds the run's flock. Never creates the lock file."""
    if fcntl is None:
        return False
    fd = None
    for flags in (os.O_RDWR, os.O_RDONLY):  # read-write where flock is emulated by fcntl (NFS)
        try:
            fd = os.open(path, flags)
            break
        except OSError:
            continue
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def checkpoints(output_dir: str) -> list:
    """Every checkpoint-<N> folder, by step as a number; complete = holds trainer_state.json."""
    try:
        names = os.listdir(output_dir)
    except OSError:
        return []
    found = []
    for name in names:
        match = CHECKPOINT_RE.match(name)
        path = os.path.join(output_dir, name)
        if not match or not os.path.isdir(path):
            continue
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            mtime = None
        found.append({"name": name, "step": int(match.group(1)),
                      "complete": os.path.isfile(os.path.join(path, "trainer_state.json")),
                      "mtime": mtime})
    return sorted(found, key=lambda c: c["step"])


def age_s(path: str):
    """Seconds since the file last changed, on the pod's clock; None when it is not there."""
    try:
        return max(0.0, time.time() - os.stat(path).st_mtime)
    except OSError:
        return None


def last_lines(path: str, count: int) -> list:
    """The last `count` non-empty lines of a log, as a terminal shows them (after the last carriage
    return of each line)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return []
    shown = [line.rstrip("\r").split("\r")[-1].rstrip() for line in tail.decode("utf-8", "replace").split("\n")]
    return [line for line in shown if line][-count:]


def last_line(path: str):
    """The last non-empty line of a log, or None."""
    lines = last_lines(path, 1)
    return lines[-1] if lines else None


def venv_ok(venv) -> bool:
    """No venv asked for, or its python exists (a venv copied to another image can dangle)."""
    return not venv or os.path.exists(os.path.join(venv, "bin", "python"))


def probe(mount: str, run_name: str, output_dir: str, code_path: str, venv=None) -> dict:
    run_dir = os.path.join(mount, ".podreconcile", "runs", run_name)
    launch = read_json(os.path.join(run_dir, "launch.json")) or {}
    if venv is None:
        venv = launch.get("venv")
    return {
        "probe_version": PROBE_VERSION,
        "status": read_json(os.path.join(run_dir, "status.json")),
        "tmux_alive": tmux_alive(),
        "runner_alive": lock_held(os.path.join(run_dir, "runner.lock")),
        "checkpoints": checkpoints(output_dir),
        "revision": read_text(os.path.join(code_path, ".podreconcile-revision")) or None,
        "log_tail": last_line(os.path.join(mount, "logs", "current.log")),
        "log_lines": last_lines(os.path.join(mount, "logs", "current.log"), LOG_LINES),
        "log_age_s": age_s(os.path.join(mount, "logs", "current.log")),
        "now": time.time(),  # the pod's clock, which checkpoint mtimes are on
        "has_rsync": shutil.which("rsync") is not None,
        "python": platform.python_version(),
        "venv_ok": venv_ok(venv),
        "launch_id": launch.get("launch_id"),
        "guard": {"running": lock_held(os.path.join(GUARD_DIR, "idle-guard.lock")),
                  "settings": read_json(os.path.join(GUARD_DIR, "idle-guard.json"))},
    }


def main(argv: list) -> int:
    if len(argv) not in (5, 6):
        sys.stderr.write("usage: python3 - <mount> <run_name> <output_dir> <code_path> [<venv>]\n")
        return 2
    venv = argv[5] if len(argv) == 6 and argv[5] else None
    sys.stdout.write(json.dumps(probe(argv[1], argv[2], argv[3], argv[4], venv), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
