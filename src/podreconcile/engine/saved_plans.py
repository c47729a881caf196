"""Saved plans: `plan --out FILE` then `apply FILE` applies exactly what was reviewed, or refuses.

A saved plan carries the basis it was made on: a short description of every fact the plan depends
on. `apply FILE` observes again and refuses, naming what moved, when any of them changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from podreconcile.core.errors import UserError
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import FORMAT_VERSION, Plan
from podreconcile.engine.private_files import write_private

if TYPE_CHECKING:  # engine.project imports the spec models: `show` reads a saved plan without them
    from podreconcile.core.observation import Observation
    from podreconcile.core.state import State
    from podreconcile.engine.project import Project

LABELS = {
    "spec": "podspec.yaml or the training config",
    "state": "the state file",
    "pods": "the pods",
    "run": "the run on the pod",
    "checkpoints": "the checkpoints",
    "code": "the local code",
    "data": "the data",
}


@dataclass(frozen=True)
class SavedPlan:
    spec_path: str
    plan: Plan
    basis: dict[str, str]
    force_restart: bool = False
    replace_now: bool = False


def basis(project: Project, state: State, obs: Observation) -> dict[str, str]:
    """The facts a plan depends on, each as a short comparable string."""
    owner = identify_pod(project.spec.pod_name, state, obs.pods, project.settings.pod_id)
    pod = owner.pod or owner.foreign
    pods = sorted(f"{p.id}:{p.name}:{p.status.value}:{p.start_identity}" for p in ([pod] if pod else []) + list(owner.strays))
    run = obs.run
    status = run.status if run else None
    return {
        "spec": _digest(json.dumps(project.spec.model_dump(mode="json"), sort_keys=True)
                        + project.training.path.read_text()),
        "state": f"{state.pod_id}:{state.create_pending}:{state.last_run}",
        "pods": ",".join(pods),
        "run": "unknown" if run is None else
               f"{status.state.value if status else '-'}:{status.attempt if status else '-'}:"
               f"{run.launch_id}:{run.runner_alive}",
        "checkpoints": "unknown" if run is None else
                       ",".join(f"{c.name}{'' if c.complete else '(incomplete)'}" for c in run.checkpoints),
        "code": f"{obs.code.revision}:{obs.code.files_to_send}:{obs.code.bytes_to_send}" if obs.code else "-",
        "data": f"{obs.data.files_to_send}:{obs.data.bytes_to_send}:{obs.data.bytes_total}" if obs.data else "-",
    }


def save(path: Path, project: Project, plan: Plan, facts: dict[str, str], force_restart: bool,
         replace_now: bool = False) -> None:
    document = {"format_version": FORMAT_VERSION, "spec": str(project.spec_path), "basis": facts,
                "options": {"force_restart": force_restart, "replace_now": replace_now}, "plan": plan.to_dict()}
    write_private(path, (json.dumps(document, indent=2) + "\n").encode())


def load(path: Path) -> SavedPlan:
    try:
        raw = json.loads(path.read_text())
        options = raw.get("options") or {}
        return SavedPlan(raw["spec"], Plan.from_dict(raw["plan"]), raw["basis"], bool(options.get("force_restart")),
                         bool(options.get("replace_now")))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; write one with `podreconcile plan --out {path}`.") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is not a saved plan this podreconcile reads (plan format {FORMAT_VERSION}); "
                        f"make a new one with `podreconcile plan --out {path}`.") from None


def stale_reason(saved: dict[str, str], current: dict[str, str]) -> str | None:
    """The first fact that moved since the plan was saved, in words; None when none did."""
    for key, label in LABELS.items():
        if saved.get(key) != current.get(key):
            return f"{label} changed since the plan was made"  # the basis strings are internal, not wording
    return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
