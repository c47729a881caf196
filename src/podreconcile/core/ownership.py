"""Which pod is ours: the one rule every command uses."""

from __future__ import annotations

from podreconcile.core.observation import PodStatus
from podreconcile.core.state import State


def identify_pod(pod_name: str, state: State, pods, legacy_pod_id: str | None = None):
    """(our pod or None, whether it must be adopted, other live pods with our name)."""
    live = [p for p in pods if p.status is not PodStatus.TERMINATED]
    named = [p for p in live if p.name == pod_name]
    by_id = {p.id: p for p in live}
    if state.pod_id in by_id:
        return by_id[state.pod_id], False, [p for p in named if p.id != state.pod_id]
    if len(named) == 1:
        return named[0], True, []
    if len(named) > 1:
        return None, False, named
    if legacy_pod_id in by_id:
        return by_id[legacy_pod_id], True, []
    return None, False, []
