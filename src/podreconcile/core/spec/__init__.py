"""podspec.yaml and .runpod.env: the user's desired state and settings, validated and located.

    settings = load_settings(project_dir, os.environ)
    spec = load_spec(project_dir / "podspec.yaml", settings)      # raises SpecError
    training = read_training_config(spec, project_dir)            # output_dir, run_name

Every SpecError message reads `file:line:col: field.path: what is wrong; the fix`.

The names below are loaded from their modules on first use: `podreconcile schema` and `init` import
the models without the loader, the settings and the training config (CLI start-up, docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podreconcile.core.spec.duration import format_duration, parse_duration
    from podreconcile.core.spec.loader import load_spec, parse_spec
    from podreconcile.core.spec.models import (
        CodeSpec,
        DataItem,
        PodSpec,
        RunSpec,
        SourceInfo,
        Spec,
        TensorboardSpec,
    )
    from podreconcile.core.spec.problems import InvalidSpec, Problem
    from podreconcile.core.spec.settings import Settings, load_settings
    from podreconcile.core.spec.training import TrainingConfig, read_training_config

_HOME = {
    "format_duration": "duration", "parse_duration": "duration",
    "load_spec": "loader", "parse_spec": "loader",
    "CodeSpec": "models", "DataItem": "models", "PodSpec": "models", "RunSpec": "models",
    "SourceInfo": "models", "Spec": "models", "TensorboardSpec": "models",
    "InvalidSpec": "problems", "Problem": "problems",
    "Settings": "settings", "load_settings": "settings",
    "TrainingConfig": "training", "read_training_config": "training",
}  # fmt: skip


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


__all__ = [
    "CodeSpec",
    "DataItem",
    "InvalidSpec",
    "PodSpec",
    "Problem",
    "RunSpec",
    "Settings",
    "SourceInfo",
    "Spec",
    "TensorboardSpec",
    "TrainingConfig",
    "format_duration",
    "load_settings",
    "load_spec",
    "parse_duration",
    "parse_spec",
    "read_training_config",
]
