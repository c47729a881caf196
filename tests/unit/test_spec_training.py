"""The training config: where output_dir (and so run_name) comes from, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from podreconcile.core.errors import SpecError
from podreconcile.core.spec import (
    Settings,
    Spec,
    TrainingConfig,
    parse_spec,
    read_training_config,
)

SPEC = """\
version: 1
name: tiny
pod:
  gpu_types: [NVIDIA RTX A6000]
  image: runpod/base:0.0.0
code:
  path: /workspace/tiny
run:
  config: configs/baseline_whisper_small.yaml
"""


def spec_with(extra_run: str = "") -> Spec:
    return parse_spec(SPEC + extra_run, "podspec.yaml", Settings({}))


def write_config(project: Path, text: str) -> None:
    (project / "configs").mkdir(exist_ok=True)
    (project / "configs" / "baseline_whisper_small.yaml").write_text(text)


def test_output_dir_and_run_name_come_from_the_config(tmp_path: Path) -> None:
    write_config(tmp_path, "model: openai/whisper-small\noutput_dir: outputs/baseline_whisper_small/\n")
    assert read_training_config(spec_with(), tmp_path) == TrainingConfig(
        path=tmp_path / "configs" / "baseline_whisper_small.yaml",
        output_dir="outputs/baseline_whisper_small/",
        run_name="baseline_whisper_small",
    )


def test_spec_output_dir_wins_over_the_config(tmp_path: Path) -> None:
    write_config(tmp_path, "output_dir: outputs/from_config\n")
    config = read_training_config(spec_with("  output_dir: outputs/from_spec\n"), tmp_path)
    assert (config.output_dir, config.run_name) == ("outputs/from_spec", "from_spec")


def test_config_without_output_dir_names_the_file_and_both_fixes(tmp_path: Path) -> None:
    write_config(tmp_path, "model: openai/whisper-small\n")
    with pytest.raises(SpecError) as caught:
        read_training_config(spec_with(), tmp_path)
    assert str(caught.value) == (
        "configs/baseline_whisper_small.yaml:1:1: output_dir: missing, so podreconcile cannot tell "
        "where checkpoints go; set output_dir in configs/baseline_whisper_small.yaml, "
        "or run.output_dir in podspec.yaml"
    )


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^configs/baseline_whisper_small\.yaml: training config not found"):
        read_training_config(spec_with(), tmp_path)


def test_config_syntax_error_is_located_in_the_config(tmp_path: Path) -> None:
    write_config(tmp_path, "output_dir: [x\n")
    with pytest.raises(SpecError, match=r"^configs/baseline_whisper_small\.yaml:2:1: YAML syntax error"):
        read_training_config(spec_with(), tmp_path)


def test_output_dir_that_is_not_text(tmp_path: Path) -> None:
    write_config(tmp_path, "lr: 1\noutput_dir: 5\n")
    with pytest.raises(SpecError, match=r"^configs/baseline_whisper_small\.yaml:2:13: output_dir: expected a folder"):
        read_training_config(spec_with(), tmp_path)


def test_output_dir_without_a_last_component_is_located_in_the_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^podspec\.yaml:10:15: run\.output_dir: '\.' has no last folder name"):
        read_training_config(spec_with("  output_dir: .\n"), tmp_path)


def test_absolute_output_dir_off_the_volume(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^podspec\.yaml:10:15: run\.output_dir: /tmp/out is outside the volume"):
        read_training_config(spec_with("  output_dir: /tmp/out\n"), tmp_path)
    config = read_training_config(spec_with("  output_dir: /workspace/out/run1\n"), tmp_path)
    assert config.run_name == "run1"
