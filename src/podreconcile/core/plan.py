"""A plan is data: an ordered tuple of typed actions, each saying why it is needed.

Values that cannot be known before apply (the new pod's SSH endpoint, the checkpoint of a run on a
pod that is stopped) are `None` and render as "known after apply". `Plan.to_dict` is the versioned
document `plan --json` prints and `plan --out` saves (docs/plan-format.md describes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum

FORMAT_VERSION = 2


class Kind(str, Enum):
    ADOPT_POD = "adopt_pod"
    CREATE_POD = "create_pod"
    START_POD = "start_pod"
    REPLACE_POD = "replace_pod"
    UPDATE_POD = "update_pod"  # PATCH the pod in place (image, env, ports, container disk); restart if running
    SYNC_CODE = "sync_code"
    UPLOAD_DATA = "upload_data"
    LAUNCH_RUN = "launch_run"
    STOP_POD = "stop_pod"
    TERMINATE_POD = "terminate_pod"  # `destroy`: the pod and its volume disk go; a network volume stays


class LaunchMode(str, Enum):
    AUTO = "auto"  # resume from the latest complete checkpoint on the pod, else fresh (known after start)
    FRESH = "fresh"
    RESUME = "resume"
    FORCE_RESTART = "force_restart"


class Reason(str, Enum):
    """Why an action (or a deferral) is needed: a closed set of stable codes CI policy can match on."""

    POD_MISSING = "pod_missing"  # no pod exists for the spec, or the state's pod is gone
    POD_NOT_IN_STATE = "pod_not_in_state"  # found by its name or POD_ID: adopted
    STRAY_POD = "stray_pod"  # another pod with our name
    POD_STOPPED = "pod_stopped"
    FIELD_CHANGED = "field_changed"  # a field whose policy forces a replacement
    FIELD_CHANGED_IN_PLACE = "field_changed_in_place"  # a field RunPod changes on the pod (update pod)
    HOST_NO_FREE_GPU = "host_no_free_gpu"
    REPLACE_NOW = "replace_now"  # --replace-now under a live run
    NEW_POD = "new_pod"  # a new pod has no code, and its volume is unknown
    POD_UNREACHABLE = "pod_unreachable"  # booting, or SSH did not answer
    RUN_NOT_STARTED = "run_not_started"
    RUN_FAILED = "run_failed"
    RUN_INTERRUPTED = "run_interrupted"  # the pod stopped or was preempted under the run
    RUN_OUTCOME_UNKNOWN = "run_outcome_unknown"  # the run ended while nobody watched
    RUN_SUCCEEDED_POD_IDLE = "run_succeeded_pod_idle"
    CODE_CHANGED = "code_changed"
    DATA_CHANGED = "data_changed"
    UNKNOWN_UNTIL_START = "unknown_until_start"  # what the volume holds is known once the pod runs
    FORCE_RESTART = "force_restart"
    RUN_ALIVE = "run_alive"  # a deferral: the change waits for the end of the live run
    RUN_DONE = "run_done"  # a deferral: the change waits for the next run
    USER_STOP = "user_stop"  # `podreconcile stop`
    USER_DESTROY = "user_destroy"  # `podreconcile destroy`
    VISIT = "visit"  # `logs --start` / `sync-data` start a stopped pod for a moment and stop it again


class Fact(str, Enum):
    """What an action assumes about the world, checked just before apply carries it out."""

    POD_STATUS = "pod_status"  # pod `pod_id` has status `value` (RUNNING, EXITED)
    NO_POD = "no_pod"  # no live pod is ours
    RUN_NOT_ALIVE = "run_not_alive"  # no runner holds the run's lock or is starting
    LATEST_CHECKPOINT = "latest_checkpoint"  # the latest complete checkpoint is `value` (None: there is none)


@dataclass(frozen=True)
class Expect:
    fact: Fact
    value: str | None = None


class Contingency(str, Enum):
    """A foreseeable branch shown with the action, the only branch apply may take on its own."""

    REPLACE_IF_HOST_HAS_NO_FREE_GPU = "replace_if_host_has_no_free_gpu"  # on start_pod, with a network volume
    SKIP_IF_RUN_SUCCEEDED = "skip_if_run_succeeded"  # on launch_run: launch only if the run has not succeeded


CONTINGENCY_TEXT = {
    Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU:
        "if its host has no free GPU: replace it by a new pod on the same network volume",
    Contingency.SKIP_IF_RUN_SUCCEEDED:
        "launch only if the run has not succeeded (known after start); if it has, stop the pod instead",
}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object
    policy: str | None = None  # field_policy.Policy's value: what the change does
    names: tuple[str, ...] = ()  # env: the variables that differ; their values are never shown


@dataclass(frozen=True)
class GpuCandidate:
    """One GPU type of `pod.gpu_types` as RunPod's catalog showed it when the plan was made."""

    gpu: str
    stock: str  # NONE | LOW | MEDIUM | HIGH | UNKNOWN (ports.StockLevel's values)
    price_per_gpu: float | None  # USD per GPU-hour; None: not priced for this cloud

    @property
    def skipped(self) -> bool:
        """No stock now: apply does not try it (one create per candidate with stock, in order)."""
        return self.stock == "NONE"


@dataclass(frozen=True)
class Action:
    kind: Kind
    reason: str
    code: Reason | None = None
    pod_id: str | None = None
    gpu_types: tuple[str, ...] = ()
    data_center: str | None = None  # a new pod's data center, pinned by its network volume
    changes: tuple[FieldChange, ...] = ()
    mode: LaunchMode | None = None
    checkpoint: str | None = None
    step: int | None = None
    checkpoint_mtime: float | None = None  # seconds since the epoch, as the pod's filesystem says
    files: int | None = None
    bytes: int | None = None
    expects: tuple[Expect, ...] = ()  # what the action assumes about the world when it runs
    contingency: Contingency | None = None
    command: str | None = None  # launch_run: the training command exactly as it will run
    local_files: int | None = None  # upload_data on a pod not yet reachable: the data on this machine
    local_bytes: int | None = None
    via: str | None = None  # upload_data: "s3" sends through RunPod's S3 API before the pod starts
    restart: bool | None = None  # update_pod: the running pod restarts to take the changes
    candidates: tuple[GpuCandidate, ...] = ()  # a new pod's GPU types with stock and price, in order

    def to_dict(self) -> dict:
        raw = asdict(self)
        raw["candidates"] = [asdict(c) for c in self.candidates]
        raw["changes"] = [_change_dict(c) for c in self.changes]
        raw["expects"] = [{"fact": e.fact.value, "value": e.value} for e in self.expects]
        return {k: _plain(v) for k, v in raw.items() if v not in (None, (), [])}

    @classmethod
    def from_dict(cls, raw: dict) -> "Action":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["kind"] = Kind(raw["kind"])
        values["mode"] = LaunchMode(raw["mode"]) if raw.get("mode") else None
        values["gpu_types"] = tuple(raw.get("gpu_types", ()))
        values["changes"] = tuple(_change(c) for c in raw.get("changes", ()))
        values["code"] = Reason(raw["code"]) if raw.get("code") else None
        values["expects"] = tuple(Expect(Fact(e["fact"]), e.get("value")) for e in raw.get("expects", ()))
        values["contingency"] = Contingency(raw["contingency"]) if raw.get("contingency") else None
        values["candidates"] = tuple(GpuCandidate(**c) for c in raw.get("candidates", ()))
        return cls(**values)

    @property
    def gpus_to_try(self) -> tuple[str, ...]:
        """The GPU types apply tries, in order: the candidates with stock, else (no catalog) every type."""
        if self.candidates:
            return tuple(c.gpu for c in self.candidates if not c.skipped)
        return self.gpu_types

    def expected(self, fact: Fact) -> Expect | None:
        return next((e for e in self.expects if e.fact is fact), None)


def _change_dict(change: FieldChange) -> dict:
    raw = {k: _plain(v) for k, v in asdict(change).items() if v not in (None, (), [])}
    return {"field": change.field, "old": change.old, "new": change.new} | raw


def _change(raw: dict) -> FieldChange:
    return FieldChange(raw["field"], raw.get("old"), raw.get("new"), raw.get("policy"), tuple(raw.get("names", ())))


@dataclass(frozen=True)
class Cost:
    """What the pod the plan runs costs: per hour, and at most until max_runtime stops it."""

    gpu: str
    gpu_count: int
    per_hour: float
    max_runtime_s: int

    @property
    def worst_case(self) -> float:
        return round(self.per_hour * self.max_runtime_s / 3600, 2)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    summary: str = ""  # one sentence on the run's state, shown with or without actions
    blocker: str | None = None  # a reason apply must stop after the actions (e.g. duplicate pods)
    notes: tuple[str, ...] = field(default_factory=tuple)
    cost: Cost | None = None
    deferred: tuple[FieldChange, ...] = ()  # changed fields that wait (for the run's end, the next start or run)
    deferred_code: Reason | None = None  # why they wait

    @property
    def empty(self) -> bool:
        return not self.actions and self.blocker is None

    def kinds(self) -> list[Kind]:
        return [a.kind for a in self.actions]

    def to_dict(self) -> dict:
        cost = asdict(self.cost) | {"worst_case": self.cost.worst_case} if self.cost else None
        return {
            "format_version": FORMAT_VERSION,
            "changes_pending": not self.empty,
            "actions": [a.to_dict() for a in self.actions],
            "summary": self.summary,
            "blocker": self.blocker,
            "notes": list(self.notes),
            "cost": cost,
            "deferred": [_change_dict(c) for c in self.deferred],
            "deferred_code": self.deferred_code.value if self.deferred_code else None,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "Plan":
        if raw.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"plan format {raw.get('format_version')!r}; this podreconcile reads {FORMAT_VERSION}")
        cost = raw.get("cost")
        return cls(
            actions=tuple(Action.from_dict(a) for a in raw.get("actions", ())),
            summary=raw.get("summary", ""),
            blocker=raw.get("blocker"),
            notes=tuple(raw.get("notes", ())),
            cost=Cost(cost["gpu"], cost["gpu_count"], cost["per_hour"], cost["max_runtime_s"]) if cost else None,
            deferred=tuple(_change(c) for c in raw.get("deferred", ())),
            deferred_code=Reason(raw["deferred_code"]) if raw.get("deferred_code") else None,
        )


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value
