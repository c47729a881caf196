"""The idle guard: this pod stops itself once no run has been alive, and nobody has been connected
over SSH, for `pod.idle_timeout`. It is the net under the client: an apply that is killed, or fails
before it launches the run, cannot leave the pod billing for longer than that.

    python3 idleguard.pyz arm <timeout_s> <mount>   (podreconcile's first command on each connection)
    python3 idleguard.pyz watch                     (the guard itself; `arm` starts it)

`arm` writes the guard's settings (so a changed idle_timeout counts from the next connection on)
and starts `watch` detached, in its own session, unless a guard already holds the guard lock: one
guard per pod start. Everything lives under /run, which a pod start gives fresh (the container disk).

A run is alive while a runner holds a run lock (`<mount>/.podreconcile/runs/*/runner.lock`) or the
tmux session `train` exists. An open SSH session (an apply uploading data, a user with a shell, a
TensorBoard tunnel) also keeps the pod up. The guard never stops a pod while either holds; the idle
time counts from the last moment one did, so a run that starts later resets it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time

from .basics import read_json, utc_iso, write_json_atomic
from .env import build_env, read_pid1_env
from .lock import acquire_lock
from .podstop import stop_pod

try:
    import fcntl
except ImportError:  # pragma: no cover - pods are Linux
    fcntl = None  # type: ignore[assignment]

GUARD_DIR_OVERRIDE = "PODRECONCILE_GUARD_DIR"  # tests only: a folder standing in for /run/podreconcile
PROC_OVERRIDE = "PODRECONCILE_GUARD_PROC"  # tests only: a folder standing in for /proc
SESSION = "train"


class _StopSettings:
    """podstop's launch, for the guard: the API base the laptop used (none: the pod's own and RunPod's)."""

    graphql_url_fallback = None
    stop_verify_s = 20.0

    def __init__(self, api_base_url: str | None) -> None:
        self.api_base_url = (api_base_url or "").rstrip("/") or None


def guard_dir() -> str:
    return os.environ.get(GUARD_DIR_OVERRIDE) or "/run/podreconcile"


def _paths() -> dict:
    base = guard_dir()
    return {"config": os.path.join(base, "idle-guard.json"), "lock": os.path.join(base, "idle-guard.lock")}


def log_path(mount: str) -> str:
    """On the volume, so the reason for a stop survives it: <mount>/.podreconcile/idle-guard.log."""
    if mount and os.path.isdir(mount):
        return os.path.join(mount, ".podreconcile", "idle-guard.log")
    return os.path.join(guard_dir(), "idle-guard.log")


def main(argv: list) -> int:
    """argv[0] is the archive; argv[1] the mode."""
    if len(argv) in (4, 5) and argv[1] == "arm":
        return arm(os.path.abspath(argv[0]), float(argv[2]), argv[3], argv[4] if len(argv) == 5 else None)
    if len(argv) == 2 and argv[1] == "watch":
        return watch()
    sys.stderr.write("usage: idleguard.pyz arm <timeout_s> <mount> [<api_base_url>] | watch\n")
    return 2


# ---- arming ----------------------------------------------------------------------------------


def arm(program: str, timeout_s: float, mount: str, api_base_url: str | None = None) -> int:
    """Record the settings; start the guard unless one runs. Prints `armed`, `running` or `off`.

    A running guard reads the settings at every check, so `off` also quiets it.
    """
    paths = _paths()
    os.makedirs(guard_dir(), exist_ok=True)
    write_json_atomic(paths["config"], {"timeout_s": timeout_s, "mount": mount, "api_base_url": api_base_url})
    if _guard_running(paths["lock"]):
        print("running")
        return 0
    if timeout_s <= 0:
        print("off")  # idle_timeout: off, and no guard to tell
        return 0
    # Its own session, no terminal, stdio on /dev/null: it outlives this SSH session and never holds it open.
    subprocess.Popen([sys.executable, program, "watch"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, cwd="/", close_fds=True)
    print("armed")
    return 0


def _guard_running(lock_path: str) -> bool:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if we took it
    return False


# ---- the guard -------------------------------------------------------------------------------


def watch(clock=time.monotonic, sleep=time.sleep) -> int:
    """Hold the guard lock; stop the pod once it has been idle for the configured time."""
    paths = _paths()
    # A probe tests this lock for microseconds (remote/probe.py): acquire_lock waits that out.
    if acquire_lock(paths["lock"]) is None:
        return 0  # another guard was armed at the same moment: one is enough
    idle_since = clock()
    while True:
        config = read_json(paths["config"]) or {}
        timeout = float(config.get("timeout_s") or 0)
        mount = str(config.get("mount") or "")
        try:
            if busy(mount):
                idle_since = clock()
            elif timeout > 0 and clock() - idle_since >= timeout:
                _stop(log_path(mount), timeout, config.get("api_base_url"))
                idle_since = clock()  # if the stop failed, try again after another idle_timeout
        except Exception as exc:  # a guard that dies guards nothing: note it, count as busy, go on
            _log(log_path(mount), "check failed (%s); trying again" % exc.__class__.__name__)
            idle_since = clock()
        sleep(poll_interval(timeout))


def poll_interval(timeout: float) -> float:
    """Often enough to stop within ~20% of the timeout; never busier than once a second."""
    if timeout <= 0:
        return 30.0
    return min(30.0, max(1.0, timeout / 5))


def busy(mount: str) -> bool:
    """A run is alive, or someone is connected over SSH."""
    return run_alive(mount) or ssh_sessions() > 0


def run_alive(mount: str) -> bool:
    locks = glob.glob(os.path.join(glob.escape(mount), ".podreconcile", "runs", "*", "runner.lock")) if mount else []
    return any(lock_held(path) for path in locks) or tmux_session_exists()


def lock_held(path: str) -> bool:
    """A runner holds this flock. The test takes it for an instant; a starting runner retries for 0.5 s."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def tmux_session_exists() -> bool:
    if shutil.which("tmux") is None:
        return False
    try:
        done = subprocess.run(["tmux", "has-session", "-t", SESSION], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: never stop a pod on a guess
    return done.returncode == 0


def ssh_sessions(proc: str | None = None) -> int:
    """Open SSH sessions: sshd's per-connection processes, titled `sshd: user@tty` (or `sshd-session:`)."""
    proc = proc or os.environ.get(PROC_OVERRIDE) or "/proc"
    count = 0
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as f:
                title = f.read(256)
        except OSError:
            continue
        if session_title(title):
            count += 1
    return count


def session_title(cmdline: bytes) -> bool:
    head, sep, rest = cmdline.partition(b": ")
    return bool(sep) and head in (b"sshd", b"sshd-session") and b"@" in rest.split(b" ")[0]


def _stop(path: str, timeout: float, api_base_url) -> None:
    def log(message: str) -> None:
        _log(path, message)

    log("no live run and no SSH session for %gs (pod.idle_timeout); stopping the pod" % timeout)
    stop_pod(build_env(read_pid1_env()), _StopSettings(api_base_url), log)


def _log(path: str, message: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write("%s idle guard: %s\n" % (utc_iso(), message))
    except OSError:
        pass
