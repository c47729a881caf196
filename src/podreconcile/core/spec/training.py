"""The user's training config, read only for what podreconcile needs: the output directory."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podreconcile.core.spec.models import Spec
from podreconcile.core.spec.problems import InvalidSpec, Problem
from podreconcile.core.spec.source import build_source_map, parse_yaml, to_plain

#: Builds the Problem for a bad output_dir, located wherever that output_dir was written.
_Locate = Callable[[str], Problem]


@dataclass(frozen=True)
class TrainingConfig:
    """`path`: the config file on this machine. `output_dir`: as written (relative to code.path
    unless absolute). `run_name`: its last component, the run's identity on the volume."""

    path: Path
    output_dir: str
    run_name: str


def read_training_config(spec: Spec, project_dir: Path) -> TrainingConfig:
    """Read `spec.run.config` (relative to `project_dir`) and settle the output directory.

    `spec.run.output_dir` wins over the config's `output_dir`. Raises SpecError naming the file
    and the fix when the config is missing, unreadable, or names no usable output directory.
    """
    path = Path(project_dir) / spec.run.config
    _inside_project(path, Path(project_dir), spec)
    if spec.run.output_dir is not None:
        output_dir = spec.run.output_dir

        def locate(message: str) -> Problem:
            return spec.source.problem(("run", "output_dir"), message)
    else:
        output_dir, locate = _output_dir_from_config(path, spec.run.config)
    return TrainingConfig(path, output_dir, _run_name(output_dir, spec, locate))


def _inside_project(path: Path, project_dir: Path, spec: Spec) -> None:
    """The config is read here and synced with the code: a symlink out of the project is refused."""
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(project_dir))
    if path.exists() and root not in real.parents:
        raise InvalidSpec([spec.source.problem(("run", "config"), (
            "leads outside the project through a symlink; put the training config inside the project"
        ))])


def _output_dir_from_config(path: Path, shown: str) -> tuple[str, _Locate]:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidSpec([Problem(shown, None, None, "", (
            f"training config not found (looked for {path}); "
            "create it, or fix run.config in podspec.yaml"
        ))]) from None
    tree = parse_yaml(text, shown)
    source = build_source_map(tree, shown)
    config = to_plain(tree)
    value = config.get("output_dir") if isinstance(config, dict) else None
    if value is None:
        raise InvalidSpec([source.problem(("output_dir",), (
            "missing, so podreconcile cannot tell where checkpoints go; "
            f"set output_dir in {shown}, or run.output_dir in podspec.yaml"
        ), at_key=True)])
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec([source.problem(("output_dir",), (
            f"expected a folder path as text, got {value!r}; write e.g. output_dir: outputs/baseline"
        ))])
    return value, lambda message: source.problem(("output_dir",), message)


def _run_name(output_dir: str, spec: Spec, locate: _Locate) -> str:
    normal = posixpath.normpath(output_dir)
    run_name = posixpath.basename(normal)
    if run_name in ("", ".", ".."):
        raise InvalidSpec([locate(
            f"{output_dir!r} has no last folder name to name the run by; "
            "use a folder like outputs/baseline"
        )])
    mount = spec.pod.volume_mount_path
    # Relative to code.path, so `../../../tmp/x` is judged where it lands, not as written.
    full = posixpath.normpath(posixpath.join(spec.code.path, output_dir))
    if not full.startswith(mount.rstrip("/") + "/"):
        raise InvalidSpec([locate(
            f"{output_dir} is outside the volume ({mount}), so checkpoints would vanish when the "
            "pod stops; make it relative to code.path, or put it under the volume"
        )])
    return run_name
