"""One attempt of one run, from header to EXIT_CODE and the pod stop."""

from __future__ import annotations

import os
import time
import traceback

from .basics import EXIT_LOST, read_json, shell, utc_iso
from .checkpoints import Start, decide_start, training_command
from .child import Child
from .env import build_env, read_pid1_env
from .followers import wait_for_followers
from .launch import Launch, RunPaths
from .logs import Tee, header, note
from .podstop import stop_pod
from .redact import Redactor, secret_values
from .signals import Signals, signal_name, terminate_group
from .status import (
    ACTIVE_STATES,
    StatusFile,
    close_lost_attempt,
    initial_status,
    previous_attempt,
)
from .venv_setup import Preparation
from .watchdog import kill_previous_watchdog, spawn_watchdog


class Runner:
    """One attempt of one run. `program` is the runner archive, for the watchdog it spawns."""

    def __init__(self, launch: Launch, paths: RunPaths, signals: Signals, program: str):
        self.launch = launch
        self.paths = paths
        self.signals = signals
        self.program = program
        self.env = build_env(read_pid1_env())
        self.tee = None
        self.status = StatusFile(paths)

    def run(self) -> int:
        """Run the attempt; the return value is its EXIT_CODE."""
        previous = read_json(self.paths.status) or {}
        self._end_orphans(previous)
        attempt = previous_attempt(previous) + 1
        start = decide_start(self.launch)
        started = time.time()
        self.tee = Tee(self.paths, Redactor(secret_values(self.env, self.launch.secret_env)))
        self.tee.line(header(self.launch.run_name, attempt, utc_iso(started), start.how))
        self._announce(start)
        self.status.update(initial_status(self.launch, attempt, start, started))
        deadline = self._arm_deadline(started)
        child = Child(self.tee, self.signals, deadline, self.launch.kill_grace_s)
        try:
            if start.kind == "refused":  # never another checkpoint than the one the plan named
                self.tee.line("podreconcile: cannot resume: " + start.how)
                code, reason = 2, "checkpoint_unavailable"
            else:
                code, reason = self._prepare_and_train(child, start, attempt)
        except Exception:  # a runner bug must still end the attempt properly
            note(self.paths, "runner error:\n" + traceback.format_exc())
            self.tee.line("podreconcile: runner error (details in %s)" % self.paths.runner_log)
            code, reason = 1, "runner_error"
        self._finish(code, reason, started)
        return code

    # -- start

    def _end_orphans(self, previous: dict) -> None:
        """The last attempt lost its runner (we hold the lock): end its training, close its log."""
        if previous.get("state") not in ACTIVE_STATES:
            return
        if terminate_group(previous.get("child_pgid"), self.launch.kill_grace_s):
            note(self.paths, "ended the training of attempt %s, left running without its runner"
                 % previous.get("attempt"))
        close_lost_attempt(self.paths, previous, EXIT_LOST,
                           "attempt %s ended without its runner (pod stopped, preempted or runner "
                           "killed); exit code unknown" % previous.get("attempt"), current_too=False)

    def _announce(self, start: Start) -> None:
        if start.skipped:
            self.tee.line("podreconcile: skipped incomplete checkpoint(s) (no trainer_state.json): "
                          + ", ".join(start.skipped))
        if self.launch.mode not in ("auto", "force_restart", "resume"):
            self.tee.line("podreconcile: unknown mode %r, treated as auto" % self.launch.mode)
        self.tee.line("podreconcile: revision %s, launch %s, runner pid %d"
                      % (self.launch.revision, self.launch.launch_id, os.getpid()))

    def _arm_deadline(self, started: float) -> float | None:
        """Replace the run's watchdog; the monotonic deadline the runner itself enforces."""
        kill_previous_watchdog(self.paths)
        limit = self.launch.max_runtime_s
        if limit <= 0:
            return None
        try:
            spawn_watchdog(self.paths, self.launch, started + limit, self.program)
        except OSError as exc:
            self.tee.line("podreconcile: cannot start the max_runtime watchdog: %s" % exc.strerror)
        return time.monotonic() + limit - (time.time() - started)

    # -- venv, setup, training

    def _prepare_and_train(self, child: Child, start: Start, attempt: int) -> tuple:
        """(exit code, reason): venv and setup, then the training unless they failed or a signal came."""
        code, reason, child_env = Preparation(self.launch, child, self.status.update).run(self.env)
        if code == 0 and self.signals.received:
            return 128 + self.signals.first, "signal"
        if code == 0:
            return self._train(child, child_env, start, attempt)
        return code, reason or "setup_failed"

    def _train(self, child: Child, child_env: dict, start: Start, attempt: int) -> tuple:
        env = dict(child_env, PODRECONCILE_RUN=self.launch.run_name,
                   PODRECONCILE_ATTEMPT=str(attempt), PODRECONCILE_RESUME_FROM=start.path or "")
        command = training_command(self.launch, start)
        on_start = lambda pgid: self.status.update({"state": "running", "child_pgid": pgid})  # noqa: E731
        code, reason = child.run([shell(), "-c", command], self.launch.code_path, env, on_start)
        if reason is None:
            reason = "completed" if code == 0 else "training_failed"
        return code, reason

    # -- end

    def _finish(self, code: int, reason: str, started: float) -> None:
        """Logs, then status, then the pod stop: the stop kills this process, so all is flushed."""
        self.signals.finalizing = True
        stop = self.launch.stop_pod_when_done or reason == "max_runtime"
        sig = signal_name(self.signals.first) if reason == "signal" else None
        self._write_ending(code, reason, sig, started, stop)
        # status.json records the end before the EXIT_CODE line announces it: a follower that sees
        # the line confirms it there (training output could print such a line too).
        self.status.update({
            "state": "succeeded" if code == 0 else "failed", "exit_code": code, "ended_at": utc_iso(),
            "stopped_reason": reason, "signal": sig, "child_pgid": None,
            "pod_stop": "requested" if stop else "not_requested",
        })
        self.tee.line("EXIT_CODE=%d" % code)
        self.tee.close()
        if stop:
            self._wait_for_followers()
            result = stop_pod(self.env, self.launch, lambda message: note(self.paths, message))
            self.status.update({"pod_stop": result})

    def _wait_for_followers(self) -> None:
        """The stop cuts every SSH connection: an attached follower reads the end first (capped)."""
        cap = max(0.0, self.launch.follower_wait_cap_s)
        expected = self.launch.launch_id if self.launch.expect_follower else None
        try:
            how, waited = wait_for_followers(self.paths.followers_lock, expected, cap)
        except Exception:  # a runner bug must never keep the GPU billing
            note(self.paths, "runner error while waiting for the followers:\n" + traceback.format_exc())
            return
        if how == "cap":
            note(self.paths, "a follower had not read the attempt's end after %.1f s; stopping the pod anyway" % cap)
        elif how == "read":
            note(self.paths, "waited %.2f s for the followers to read the attempt's end" % waited)
        self.status.update({"stop_wait": {"followers": how, "waited_s": round(waited, 3)}})

    def _write_ending(self, code: int, reason: str, sig: str | None, started: float, stop: bool) -> None:
        """The attempt's summary lines (EXIT_CODE follows once status.json records the end)."""
        elapsed = int(time.time() - started)
        self.tee.line("podreconcile: attempt ended: %s, exit code %d, after %dh%02dm%02ds"
                      % (reason + (" " + sig if sig else ""), code,
                         elapsed // 3600, elapsed // 60 % 60, elapsed % 60))
        if stop:
            why = "max_runtime" if reason == "max_runtime" else "stop_pod_when_done"
            self.tee.line("podreconcile: stopping the pod (%s)" % why)
