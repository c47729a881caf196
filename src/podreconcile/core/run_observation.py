"""Facts about a run on a pod: the pure parser of `remote/probe.py`'s output.

The probe prints one JSON object; `parse_probe` turns it into frozen dataclasses. It is tolerant
of what a pod may hold (stored data, older runners): a missing key gets a typed default, a value of
the wrong type is treated as absent, an unknown state becomes `RunState.UNKNOWN`. Only text without
any JSON object raises `ProbeParseError`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from podreconcile.core.untrusted import (
    MAX_INT,
    MAX_TEXT,
    as_bool,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
    json_value,
)

_CHECKPOINT = re.compile(r"checkpoint-[0-9]{1,20}")
_STEP = re.compile(r"\bstep['\"]?\s*[:=]?\s*(\d+)", re.IGNORECASE)


class ProbeParseError(ValueError):
    """The probe's output holds no JSON object (the probe did not run, or crashed)."""


class RunState(enum.Enum):
    """status.json's `state`, with an explicit value for anything else."""

    SETUP = "setup"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any) -> RunState:
        try:
            return cls(value)
        except (ValueError, TypeError):
            return cls.UNKNOWN


@dataclass(frozen=True)
class Checkpoint:
    """A `checkpoint-<N>` folder; complete when it holds trainer_state.json."""

    name: str
    step: int
    complete: bool
    mtime: float | None = None


@dataclass(frozen=True)
class RunStatus:
    """status.json as the runner wrote it (runs/<run>/status.json)."""

    run: str | None
    state: RunState
    attempt: int | None
    exit_code: int | None
    started_at: datetime | None
    ended_at: datetime | None
    resumed_from: str | None
    revision: str | None
    launch_id: str | None = None
    mode: str | None = None
    pid: int | None = None
    stopped_reason: str | None = None
    deadline_at: datetime | None = None
    pod_stop: str | None = None
    signal: str | None = None  # the signal that ended the attempt (stopped_reason "signal")

    @property
    def stopped_by_signal(self) -> bool:
        """The attempt was ended by a signal (a pod stop sends SIGTERM), not by its own failure."""
        return self.state is RunState.FAILED and self.stopped_reason == "signal"

    @property
    def active(self) -> bool:
        """The status says an attempt is under way (trust it only with a live runner)."""
        return self.state in (RunState.SETUP, RunState.RUNNING)


class GuardSettings(NamedTuple):
    """The idle guard's settings as `arm` records them on the pod (remote/runner/idle_guard.py)."""

    timeout_s: float
    mount: str
    api_base_url: str | None


@dataclass(frozen=True)
class RunFacts:
    """What one probe saw of a run."""

    status: RunStatus | None
    tmux_alive: bool
    runner_alive: bool
    checkpoints: tuple[Checkpoint, ...]
    revision: str | None
    log_tail: str | None
    has_rsync: bool
    python: str | None = None
    venv_ok: bool = True
    launch_id: str | None = None
    log_lines: tuple[str, ...] = ()  # the log's last lines, for `status`
    source: str = "ssh"  # "ssh": the probe on the running pod; "s3": read from the volume, no pod
    log_age_s: float | None = None  # seconds since current.log last changed (pod's clock)
    pod_now: float | None = None  # the pod's clock when probed: checkpoint mtimes are on it
    guard_running: bool = False  # the pod's idle guard holds its lock
    guard_settings: GuardSettings | None = None  # what the guard was last armed with, as it recorded them

    @property
    def alive(self) -> bool:
        """Training may be alive: a runner holds the lock, or the tmux session still exists.

        Either one is enough to refuse a second launch (never two trainings of one run).
        """
        return self.runner_alive or self.tmux_alive

    @property
    def quiet_seconds(self) -> float | None:
        """Seconds since the training last showed progress: a log line or a checkpoint (None: unknown)."""
        ages = [self.log_age_s] if self.log_age_s is not None else []
        if self.pod_now is not None:
            ages += [max(0.0, self.pod_now - c.mtime) for c in self.checkpoints if c.mtime is not None]
        return min(ages) if ages else None

    def stalled(self, after_s: float) -> bool:
        """Alive, but no new log line or checkpoint for `after_s` seconds. Only reported, never acted on."""
        quiet = self.quiet_seconds
        return bool(self.runner_alive and self.status and self.status.active and quiet is not None and quiet >= after_s)

    @property
    def current_step(self) -> int | None:
        """The training's step as its log's last lines say (`step 40`, `'step': 40`), else None."""
        found = _STEP.findall(self.log_tail or "")
        return int(found[-1]) if found else None

    @property
    def latest_complete_checkpoint(self) -> Checkpoint | None:
        """The complete checkpoint with the largest step (by number), or None."""
        complete = [c for c in self.checkpoints if c.complete]
        return max(complete, key=lambda c: c.step) if complete else None

    @property
    def incomplete_newer_than_latest(self) -> tuple[Checkpoint, ...]:
        """Incomplete checkpoints past the latest complete one: saves cut short, which resume skips."""
        latest = self.latest_complete_checkpoint
        floor = latest.step if latest else -1
        return tuple(sorted((c for c in self.checkpoints if not c.complete and c.step > floor),
                            key=lambda c: c.step))


def parse_probe(text: str) -> RunFacts:
    """RunFacts from the probe's stdout; the last line that is a JSON object wins.

    Lines before it (a login banner, a shell's noise) are ignored. Every value goes through the
    strict readers of core/untrusted.py: a malformed one is absent ("unreadable"), never an error.
    Only output without any JSON object (or past the size cap) raises ProbeParseError.
    """
    data = _last_json_object(text)
    if data is None:
        raise ProbeParseError("the probe printed no JSON object")
    return RunFacts(
        status=_status(data.get("status")),
        tmux_alive=as_bool(data.get("tmux_alive")),
        runner_alive=as_bool(data.get("runner_alive")),
        checkpoints=_checkpoints(data.get("checkpoints")),
        revision=as_str(data.get("revision"), 200),
        log_tail=as_str(data.get("log_tail"), 1 << 20),
        has_rsync=as_bool(data.get("has_rsync")),
        python=as_str(data.get("python"), 200),
        venv_ok=as_bool(data.get("venv_ok", True)),
        launch_id=as_str(data.get("launch_id"), 200),
        log_lines=tuple(as_str(line, 4096) or "" for line in as_list(data.get("log_lines"))[:200]),
        log_age_s=_seconds(data.get("log_age_s")),
        pod_now=_seconds(data.get("now")),
        guard_running=as_bool(as_dict(data.get("guard")).get("running")),
        guard_settings=_guard_settings(as_dict(data.get("guard")).get("settings")),
    )


def _guard_settings(value: Any) -> GuardSettings | None:
    settings = as_dict(value)
    timeout, mount = as_float(settings.get("timeout_s")), as_str(settings.get("mount"), 4096)
    if timeout is None or mount is None:
        return None
    return GuardSettings(timeout, mount, as_str(settings.get("api_base_url"), 4096))


def parse_status(text: str) -> RunStatus | None:
    """status.json's text as a RunStatus, or None when it is unreadable."""
    return _status(json_value(text, 1 << 20))


def _last_json_object(text: str) -> dict[str, Any] | None:
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            data = json_value(line)
            if isinstance(data, dict):
                return data
    data = json_value(text)  # a pretty-printed object spanning lines
    return data if isinstance(data, dict) else None


def _status(raw: Any) -> RunStatus | None:
    if not isinstance(raw, dict):
        return None
    return RunStatus(
        run=as_str(raw.get("run"), 500),
        state=RunState.parse(raw.get("state")),
        attempt=as_int(raw.get("attempt"), 0, 10**9),
        exit_code=as_int(raw.get("exit_code"), -(2**31), 2**31),
        started_at=_time(raw.get("started_at")),
        ended_at=_time(raw.get("ended_at")),
        resumed_from=as_str(raw.get("resumed_from"), 4096),
        revision=as_str(raw.get("revision"), 200),
        launch_id=as_str(raw.get("launch_id"), 200),
        mode=as_str(raw.get("mode"), 100),
        pid=as_int(raw.get("pid"), 0, 2**31),
        stopped_reason=as_str(raw.get("stopped_reason"), 4096),
        deadline_at=_time(raw.get("deadline_at")),
        pod_stop=as_str(raw.get("pod_stop"), 4096),
        signal=as_str(raw.get("signal"), 64),
    )


def _checkpoints(raw: Any) -> tuple[Checkpoint, ...]:
    found = []
    for item in as_list(raw)[:100_000]:
        step = as_int(item.get("step"), 0, MAX_INT) if isinstance(item, dict) else None
        if step is None:
            continue
        found.append(Checkpoint(
            name=_checkpoint_name(item.get("name"), step),
            step=step,
            complete=as_bool(item.get("complete")),
            mtime=as_float(item.get("mtime"), 0, 1e11),
        ))
    return tuple(sorted(found, key=lambda c: c.step))


def _checkpoint_name(value: Any, step: int) -> str:
    """The folder's name as the probe saw it, if it is one (`checkpoint-<digits>`): it is printed."""
    name = as_str(value, 40)
    return name if name and _CHECKPOINT.fullmatch(name) else "checkpoint-%d" % step


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 or value > 1e12:
        return None
    return float(value)


def _time(value: Any) -> datetime | None:
    """ISO-8601 as the runner writes it (`...Z`); naive values are taken as UTC."""
    text = as_str(value, 64)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
