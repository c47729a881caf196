"""A plan is data: an ordered tuple of typed actions, each saying why it is needed.

Values that cannot be known before apply (the new pod's SSH endpoint, the checkpoint of a run on a
pod that is stopped) are `None` and render as "known after apply". `Plan.to_dict` is the versioned
document `plan --json` prints and `plan --out` saves (docs/plan-format.md describes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum

FORMAT_VERSION = 1


class Kind(str, Enum):
    ADOPT_POD = "adopt_pod"
    CREATE_POD = "create_pod"
    START_POD = "start_pod"
    REPLACE_POD = "replace_pod"
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


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class Action:
    kind: Kind
    reason: str
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
    via: str | None = None  # upload_data: "s3" sends through RunPod's S3 API before the pod starts

    def to_dict(self) -> dict:
        raw = asdict(self)
        raw["changes"] = [asdict(c) for c in self.changes]
        return {k: _plain(v) for k, v in raw.items() if v not in (None, (), [])}

    @classmethod
    def from_dict(cls, raw: dict) -> "Action":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["kind"] = Kind(raw["kind"])
        values["mode"] = LaunchMode(raw["mode"]) if raw.get("mode") else None
        values["gpu_types"] = tuple(raw.get("gpu_types", ()))
        values["changes"] = tuple(FieldChange(**c) for c in raw.get("changes", ()))
        return cls(**values)


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
        )


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value
