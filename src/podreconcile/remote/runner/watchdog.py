"""The max_runtime watchdog: a detached process that stops the pod even when the runner is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .basics import EXIT_MAX_RUNTIME, read_json, utc_iso, write_json_atomic
from .env import build_env, read_pid1_env
from .launch import Launch, LaunchError, RunPaths, load_launch
from .lock import acquire_lock
from .logs import note
from .podstop import stop_pod
from .signals import terminate_group
from .status import ACTIVE_STATES, close_lost_attempt


def kill_previous_watchdog(paths: RunPaths) -> None:
    """A new launch replaces the run's watchdog; only a process that is our watchdog is killed."""
    info = read_json(paths.watchdog_pid) or {}
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except OSError:
        return  # gone (or not Linux): nothing to kill
    if b"--watchdog" in cmdline and paths.run_dir.encode() in cmdline:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def spawn_watchdog(paths: RunPaths, launch: Launch, deadline_epoch: float, program: str) -> None:
    """A detached process (own session) that stops the pod at deadline + grace, runner or not.

    `program` is the runner archive the pod's python3 runs (runner.pyz), as an absolute path.
    """
    argv = [sys.executable, program, "--watchdog", launch.path,
            launch.launch_id, "%.3f" % deadline_epoch]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
    write_json_atomic(paths.watchdog_pid, {"pid": proc.pid, "launch_id": launch.launch_id,
                                           "fires_at": utc_iso(deadline_epoch + launch.watchdog_grace_s)})


def watchdog_main(args: list) -> int:
    """Sleep until deadline + grace, then end a runner-less attempt and stop the pod.

    A new launch replaces this process (and kills it); should that kill have missed, the pid file
    no longer naming this process tells it to stand down.
    """
    if len(args) != 3:
        return 2
    launch_path, launch_id, deadline = args[0], args[1], float(args[2])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        launch = load_launch(launch_path)
    except LaunchError:
        return 2
    paths = RunPaths(launch.mount, launch.run_name)
    _sleep_until(deadline + launch.watchdog_grace_s)
    if (read_json(paths.watchdog_pid) or {}).get("pid") != os.getpid():
        return 0
    log = lambda message: note(paths, "watchdog: " + message)  # noqa: E731
    _end_runnerless_attempt(paths, launch_id)
    log("max_runtime (%gs) passed; stopping the pod" % launch.max_runtime_s)
    stop_pod(build_env(read_pid1_env()), launch, log)
    return 0


def _sleep_until(fire_at: float) -> None:
    while time.time() < fire_at:
        time.sleep(min(30.0, max(0.05, fire_at - time.time())))


def _end_runnerless_attempt(paths: RunPaths, launch_id: str) -> None:
    """The attempt of this launch is still active but no runner holds the lock: end it."""
    lock_fd = acquire_lock(paths.lock, wait_s=0.0)
    status = read_json(paths.status) or {}
    if lock_fd is not None and status.get("launch_id") == launch_id and status.get("state") in ACTIVE_STATES:
        terminate_group(status.get("child_pgid"), 5.0)
        close_lost_attempt(paths, status, EXIT_MAX_RUNTIME,
                           "max_runtime passed and the runner is gone; the watchdog ended the attempt",
                           current_too=True)
