"""Which pod is ours: the one rule every command uses (plan, apply, status, logs, stop, destroy, ...).

A pod is acted on only when its name says it is ours: `podreconcile-<name>`, or the name it had when
the user adopted it explicitly (`apply --adopt POD_ID`, recorded in the state file). The rule, in order:

1. `--adopt POD_ID`: that pod, whatever its name (the user said so).
2. The state file's pod, if it still exists: ours when its name is the recorded one (or ours); a pod
   renamed behind our back is *foreign*: shown, never acted on, until adopted again.
3. The state names no live pod: the one live pod named `podreconcile-<name>` (adopted, never
   duplicated); several such pods: none is picked (they are strays).
4. No state pod id at all and a legacy `POD_ID` (from .runpod.env): adopted when it bears our name;
   with another name it is foreign and needs `apply --adopt POD_ID`.
"""

from __future__ import annotations

from dataclasses import dataclass

from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.state import State


@dataclass(frozen=True)
class Ownership:
    pod: PodFacts | None = None  # the pod commands may act on
    adopt: bool = False  # it is not in the state file yet: plan adopts it first
    strays: tuple[PodFacts, ...] = ()  # other live pods named podreconcile-<name>
    foreign: PodFacts | None = None  # would be ours, but its name says otherwise: needs `apply --adopt`
    why_foreign: str = ""  # how the foreign pod came to be considered ("POD_ID=... in .runpod.env")
    expected_name: str = ""  # the name a pod of ours bears
    missing_adopt: str | None = None  # `--adopt POD_ID` named no live pod
    note: str | None = None  # a legacy POD_ID that is not used, and why

    @property
    def blocker(self) -> str | None:
        """Why no command may act, as one sentence that names the fix; None when nothing stands in the way."""
        if self.missing_adopt:
            return (f"Pod {self.missing_adopt} (given to --adopt) is not one of this account's live pods; "
                    "check the id with `podreconcile sandbox status` or the RunPod console.")
        if self.foreign is not None:
            pod = self.foreign
            return (f"Pod {pod.id} ({self.why_foreign}) is named {pod.name!r}, not {self.expected_name}; podreconcile "
                    f"acts on it only once you adopt it: `podreconcile apply --adopt {pod.id}`.")
        return None


def identify_pod(pod_name: str, state: State, pods, legacy_pod_id: str | None = None,
                 adopt_id: str | None = None) -> Ownership:
    """Which of `pods` (the account's, as observed) belongs to the spec whose pod is `pod_name`."""
    live = [p for p in pods if p.status is not PodStatus.TERMINATED]
    named = [p for p in live if p.name == pod_name]
    by_id = {p.id: p for p in live}
    if adopt_id is not None:
        if adopt_id not in by_id:
            return Ownership(missing_adopt=adopt_id)
        pod = by_id[adopt_id]
        return Ownership(pod, adopt=adopt_id != state.pod_id or pod.name != state.pod_name,
                         strays=tuple(p for p in named if p.id != adopt_id))
    if state.pod_id in by_id:
        return _state_pod(pod_name, state, by_id[state.pod_id], named)
    if len(named) == 1:
        return Ownership(named[0], adopt=True)
    if len(named) > 1:
        return Ownership(strays=tuple(named))
    if legacy_pod_id in by_id and state.pod_id is None:
        return Ownership(foreign=by_id[legacy_pod_id], why_foreign=f"POD_ID={legacy_pod_id} in .runpod.env",
                         expected_name=pod_name)
    if legacy_pod_id in by_id:
        # product.md: POD_ID is only a bridge from the shell scripts, used while no state file exists.
        return Ownership(note=f"POD_ID={legacy_pod_id} in .runpod.env is not used: the state file names pod "
                              f"{state.pod_id}, which no longer exists; `podreconcile apply --adopt {legacy_pod_id}` "
                              "adopts it instead of a new pod.")
    return Ownership()


def _state_pod(pod_name: str, state: State, pod: PodFacts, named: list[PodFacts]) -> Ownership:
    strays = tuple(p for p in named if p.id != pod.id)
    if pod.name in (pod_name, state.pod_name):
        return Ownership(pod, strays=strays)
    recorded = state.pod_name or pod_name
    return Ownership(foreign=pod, strays=strays, why_foreign=f"the state file's pod, renamed from {recorded!r}",
                     expected_name=recorded)
