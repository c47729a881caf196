"""What the spec asks for, reduced to what the planner compares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Desired:
    """What the spec asks for, reduced to what the planner compares."""

    pod_name: str
    run_name: str
    gpu_types: tuple[str, ...]
    pod_config: dict  # every pod field of field_policy.POD_FIELDS but gpu_types (engine.project.pod_config)
    has_network_volume: bool
    stop_pod_when_done: bool
    has_data: bool = False
    max_runtime_s: int = 0
    command: str | None = None  # run.command as it will run (placeholders filled)
