"""Facts about a run on a pod: the pure parser of `remote/probe.py`'s output.

The probe prints one JSON object; `parse_probe` turns it into frozen dataclasses. It is tolerant
of what a pod may hold (stored data, older runners): a missing key gets a typed default, a value of
the wrong type is treated as absent, an unknown state becomes `RunState.UNKNOWN`. Only text without
any JSON object raises `ProbeParseError`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

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

    @property
    def active(self) -> bool:
        """The status says an attempt is under way (trust it only with a live runner)."""
        return self.state in (RunState.SETUP, RunState.RUNNING)


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
    log_age_s: float | None = None  # seconds since current.log last changed (pod's clock)
    pod_now: float | None = None  # the pod's clock when probed: checkpoint mtimes are on it

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

    Lines before it (a login banner, a shell's noise) are ignored.
    """
    data = _last_json_object(text)
    if data is None:
        raise ProbeParseError("the probe printed no JSON object: %r" % text[-200:])
    return RunFacts(
        status=_status(data.get("status")),
        tmux_alive=_bool(data.get("tmux_alive")),
        runner_alive=_bool(data.get("runner_alive")),
        checkpoints=_checkpoints(data.get("checkpoints")),
        revision=_str(data.get("revision")),
        log_tail=_str(data.get("log_tail")),
        has_rsync=_bool(data.get("has_rsync")),
        python=_str(data.get("python")),
        venv_ok=_bool(data.get("venv_ok", True)),
        launch_id=_str(data.get("launch_id")),
        log_age_s=_seconds(data.get("log_age_s")),
        pod_now=_seconds(data.get("now")),
    )


def _last_json_object(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    try:  # a pretty-printed object spanning lines
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _status(raw: Any) -> RunStatus | None:
    if not isinstance(raw, dict):
        return None
    return RunStatus(
        run=_str(raw.get("run")),
        state=RunState.parse(raw.get("state")),
        attempt=_int(raw.get("attempt")),
        exit_code=_int(raw.get("exit_code")),
        started_at=_time(raw.get("started_at")),
        ended_at=_time(raw.get("ended_at")),
        resumed_from=_str(raw.get("resumed_from")),
        revision=_str(raw.get("revision")),
        launch_id=_str(raw.get("launch_id")),
        mode=_str(raw.get("mode")),
        pid=_int(raw.get("pid")),
        stopped_reason=_str(raw.get("stopped_reason")),
        deadline_at=_time(raw.get("deadline_at")),
        pod_stop=_str(raw.get("pod_stop")),
    )


def _checkpoints(raw: Any) -> tuple[Checkpoint, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if not isinstance(item, dict) or _int(item.get("step")) is None:
            continue
        step = _int(item.get("step"))
        mtime = item.get("mtime")
        found.append(Checkpoint(
            name=_str(item.get("name")) or "checkpoint-%d" % step,
            step=step,
            complete=_bool(item.get("complete")),
            mtime=float(mtime) if isinstance(mtime, (int, float)) and not isinstance(mtime, bool) else None,
        ))
    return tuple(sorted(found, key=lambda c: c.step))


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> datetime | None:
    """ISO-8601 as the runner writes it (`...Z`); naive values are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
