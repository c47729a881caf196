"""The runner's entry: `main(argv)` with argv[0] the runner archive (runner.pyz)."""

from __future__ import annotations

import os
import sys
import traceback

from .attempt import Runner
from .env import build_env, read_pid1_env
from .launch import Launch, LaunchError, RunPaths, load_launch
from .lock import acquire_lock
from .logs import note
from .podstop import stop_pod
from .signals import Signals
from .watchdog import watchdog_main


def main(argv: list) -> int:
    """Run one attempt (or, with --watchdog, the watchdog); the process exit status."""
    if len(argv) >= 2 and argv[1] == "--watchdog":
        return watchdog_main(argv[2:])
    if len(argv) != 2:
        sys.stderr.write("usage: runner.pyz <launch.json>\n")
        return 2
    try:
        launch = load_launch(argv[1])
    except (LaunchError, ValueError, TypeError) as exc:
        sys.stderr.write("podreconcile runner: %s\n" % exc)
        return 2
    paths = RunPaths(launch.mount, launch.run_name)
    os.makedirs(paths.run_dir, exist_ok=True)
    lock_fd = acquire_lock(paths.lock)
    if lock_fd is None:
        return 0  # another runner of this run is alive: never two trainings of one run
    code = _supervise(launch, paths, os.path.abspath(argv[0]))
    os.close(lock_fd)
    return code & 0xFF


def _supervise(launch: Launch, paths: RunPaths, program: str) -> int:
    """Run the attempt under the lock; the attempt's exit code."""
    signals = Signals()
    signals.install()
    try:
        return Runner(launch, paths, signals, program).run()
    except Exception:  # nothing could be logged properly; at least do not leave a paid pod idle
        note(paths, "runner failed before the attempt could end:\n" + traceback.format_exc())
        signals.finalizing = True
        if launch.stop_pod_when_done:
            stop_pod(build_env(read_pid1_env()), launch, lambda message: note(paths, message))
        return 1
