"""What podreconcile learned about a spec's pod and run, kept between commands. Never secrets:
pod env values are kept only as hashes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from podreconcile.core.secret import digest, is_digest

FORMAT = 1
STOPPED = "stopped"  # LastRun.state of an attempt ended by a signal (a pod stop), not by its own failure


@dataclass(frozen=True)
class LastRun:
    """The run's outcome as last observed, so plan can tell a finished run while the pod is stopped."""

    run_name: str
    state: str
    attempt: int | None = None
    exit_code: int | None = None
    observed_at: str = ""
    revision: str | None = None  # the code revision the run ran (status.json), to tell a changed config


@dataclass(frozen=True)
class HostKey:
    start: str  # PodFacts.start_identity of the pod start the key was first seen in
    key: str


@dataclass(frozen=True)
class State:
    format: int = FORMAT
    pod_id: str | None = None
    pod_name: str | None = None
    pod_config: dict | None = None  # the spec's immutable pod fields the pod was created with
    create_pending: str | None = None  # pod name being created; set before create, cleared after
    host_key: HostKey | None = None
    ssh_endpoint: str | None = None  # "host:port" of host_key's start: the next command's handshake starts there early
    last_run: LastRun | None = None
    extra: dict = field(default_factory=dict)  # fields of newer formats, kept as they were

    def with_(self, **changes) -> "State":
        return replace(self, **changes)


class StateFormatError(ValueError):
    """A state file this release cannot read: a newer format, or a field of the wrong type."""


def parse_state(raw: dict) -> State:
    """Unknown fields are kept aside and missing ones take defaults; a newer or unknown format and a
    field of the wrong type raise StateFormatError (the file is never rewritten as an older one)."""
    version = raw.get("format", FORMAT)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise StateFormatError(f"it has format {str(version)[:20]}, which this podreconcile (format {FORMAT}) "
                               "does not know; upgrade podreconcile")
    known = {f for f in State.__dataclass_fields__ if f != "extra"}
    return State(
        format=version,
        pod_id=_typed(raw, "pod_id", str),
        pod_name=_typed(raw, "pod_name", str),
        pod_config=_hashed_env(_typed(raw, "pod_config", dict)),
        create_pending=_typed(raw, "create_pending", str),
        host_key=_host_key(_typed(raw, "host_key", dict)),
        last_run=_last_run(_typed(raw, "last_run", dict)),
        ssh_endpoint=_typed(raw, "ssh_endpoint", str),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _hashed_env(config: dict | None) -> dict | None:
    """Older releases kept env values in clear; they are hashed as read, so the next write drops them."""
    env = config.get("env") if config else None
    if not isinstance(env, dict):
        return config
    return {**config, "env": {str(k): v if is_digest(v) else digest(str(v)) for k, v in env.items()}}


def _typed(raw: dict, name: str, kind: type):
    value = raw.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise StateFormatError(f"its field {name} is not {kind.__name__}")
    return value


def _host_key(raw: dict | None) -> HostKey | None:
    if raw is None:
        return None
    return HostKey(start=_typed(raw, "start", str) or "", key=_typed(raw, "key", str) or "")


def _last_run(raw: dict | None) -> LastRun | None:
    if raw is None:
        return None
    run_name = _typed(raw, "run_name", str)
    state = _typed(raw, "state", str)
    if run_name is None or state is None:
        raise StateFormatError("its last_run has no run_name or state")
    return LastRun(run_name, state, _typed(raw, "attempt", int), _typed(raw, "exit_code", int),
                   _typed(raw, "observed_at", str) or "")
