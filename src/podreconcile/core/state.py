"""What podreconcile learned about a spec's pod and run, kept between commands. Never secrets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

FORMAT = 1


@dataclass(frozen=True)
class LastRun:
    """The run's outcome as last observed, so plan can tell a finished run while the pod is stopped."""

    run_name: str
    state: str
    attempt: int | None = None
    exit_code: int | None = None
    observed_at: str = ""


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


def parse_state(raw: dict) -> State:
    """Tolerant: unknown fields are kept aside, missing ones take defaults."""
    known = {f for f in State.__dataclass_fields__ if f != "extra"}
    host_key = raw.get("host_key")
    last_run = raw.get("last_run")
    return State(
        format=raw.get("format", FORMAT),
        pod_id=raw.get("pod_id"),
        pod_name=raw.get("pod_name"),
        pod_config=raw.get("pod_config"),
        create_pending=raw.get("create_pending"),
        host_key=HostKey(**host_key) if isinstance(host_key, dict) else None,
        ssh_endpoint=raw.get("ssh_endpoint"),
        last_run=LastRun(**{k: v for k, v in last_run.items() if k in LastRun.__dataclass_fields__})
        if isinstance(last_run, dict) else None,
        extra={k: v for k, v in raw.items() if k not in known},
    )
