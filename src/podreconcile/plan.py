"""A plan is data: an ordered tuple of typed actions, each saying why it is needed.

Values that cannot be known before apply (the new pod's SSH endpoint, the checkpoint of a run on a
pod that is stopped) are `None` and render as "known after apply".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Kind(str, Enum):
    ADOPT_POD = "adopt_pod"
    CREATE_POD = "create_pod"
    START_POD = "start_pod"
    REPLACE_POD = "replace_pod"
    SYNC_CODE = "sync_code"
    UPLOAD_DATA = "upload_data"
    LAUNCH_RUN = "launch_run"
    STOP_POD = "stop_pod"


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
    changes: tuple[FieldChange, ...] = ()
    mode: LaunchMode | None = None
    checkpoint: str | None = None
    step: int | None = None
    files: int | None = None
    bytes: int | None = None

    def to_dict(self) -> dict:
        raw = asdict(self)
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in raw.items() if v not in (None, (), [])}


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    summary: str = ""  # one sentence on the run's state, shown with or without actions
    blocker: str | None = None  # a reason apply must stop after the actions (e.g. duplicate pods)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.actions and self.blocker is None

    def kinds(self) -> list[Kind]:
        return [a.kind for a in self.actions]
