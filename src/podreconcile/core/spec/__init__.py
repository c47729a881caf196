"""podspec.yaml and .runpod.env: the user's desired state and settings, validated and located.

    settings = load_settings(project_dir, os.environ)
    spec = load_spec(project_dir / "podspec.yaml", settings)      # raises SpecError
    training = read_training_config(spec, project_dir)            # output_dir, run_name

Every SpecError message reads `file:line:col: field.path: what is wrong; the fix`.
"""

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
