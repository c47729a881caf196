"""The environment children get: the container's (PID 1's), not the SSH session's."""

from __future__ import annotations

import os

PID1_ENVIRON_OVERRIDE = "PODRECONCILE_PID1_ENVIRON"  # tests only: a file standing in for /proc/1/environ
# Variables that describe the SSH/tmux session rather than the container; the session's values win.
SESSION_ONLY = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "TERM", "TMUX", "TMUX_PANE"})


def read_pid1_env() -> dict:
    """PID 1's environment: where RunPod puts RUNPOD_POD_ID, RUNPOD_API_KEY and the pod's env.

    SSH sessions (and the tmux started from one) do not inherit it.
    """
    path = os.environ.get(PID1_ENVIRON_OVERRIDE) or "/proc/1/environ"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            env[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
    return env


def build_env(pid1: dict) -> dict:
    """The session's environment overlaid with the container's (PID 1 wins, except session vars)."""
    env = dict(os.environ)
    for name, value in pid1.items():
        if name not in SESSION_ONLY:
            env[name] = value
    env.pop(PID1_ENVIRON_OVERRIDE, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def with_venv(env: dict, venv: str) -> dict:
    """The environment an activated venv gives: its bin first on PATH, VIRTUAL_ENV set."""
    env = dict(env)
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", os.defpath)
    env.pop("PYTHONHOME", None)
    return env
