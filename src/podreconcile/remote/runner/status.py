"""status.json: the attempt's state as the probe (and so the planner) reads it."""

from __future__ import annotations

import os

from .basics import EXIT_MAX_RUNTIME, RUNNER_VERSION, utc_iso, whole, write_json_atomic
from .checkpoints import Start
from .launch import Launch, RunPaths
from .logs import append_ending, note

ACTIVE_STATES = ("setup", "running")


def previous_attempt(previous: dict) -> int:
    """The attempt number in the last status.json; 0 when there is none."""
    attempt = previous.get("attempt")
    return attempt if isinstance(attempt, int) and attempt > 0 else 0


def initial_status(launch: Launch, attempt: int, start: Start, started: float) -> dict:
    """status.json as an attempt begins: state "setup", every field present."""
    limit = launch.max_runtime_s
    return {
        "run": launch.run_name, "state": "setup", "attempt": attempt, "exit_code": None,
        "started_at": utc_iso(started), "ended_at": None, "resumed_from": start.checkpoint,
        "start": start.kind, "skipped_checkpoints": start.skipped,
        "revision": launch.revision, "launch_id": launch.launch_id,
        "mode": launch.mode, "pid": os.getpid(), "child_pgid": None,
        "max_runtime_s": whole(limit) if limit > 0 else None,
        "deadline_at": utc_iso(started + limit) if limit > 0 else None,
        "stop_pod_when_done": launch.stop_pod_when_done, "setup": None,
        "stopped_reason": None, "signal": None, "pod_stop": None, "runner_version": RUNNER_VERSION,
    }


class StatusFile:
    """This attempt's status.json, kept in memory and rewritten whole on every change."""

    def __init__(self, paths: RunPaths):
        self.paths = paths
        self.data = {}

    def update(self, fields: dict) -> None:
        """Merge `fields` into this attempt's status.json (atomically rewritten)."""
        self.data.update(fields)
        self.data["updated_at"] = utc_iso()
        try:
            write_json_atomic(self.paths.status, self.data)
        except OSError as exc:  # a full volume must not leave the training unsupervised
            note(self.paths, "cannot write status.json: %s" % exc.strerror)


def close_lost_attempt(paths: RunPaths, status: dict, code: int, message: str, current_too: bool) -> None:
    """End an attempt whose runner is gone: its logs get the note and EXIT_CODE, status is final."""
    text = ("podreconcile: %s\nEXIT_CODE=%d\n" % (message, code)).encode("utf-8")
    reason = "max_runtime" if code == EXIT_MAX_RUNTIME else "lost"
    ended = dict(status, state="failed", exit_code=code, ended_at=utc_iso(), child_pgid=None,
                 stopped_reason=reason, updated_at=utc_iso())
    write_json_atomic(paths.status, ended)  # recorded before the EXIT_CODE line announces it
    append_ending(paths, status, text, current_too)
