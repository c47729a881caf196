"""pod.idle_timeout in the spec, and the preflight checks (GPU types and stock, the local project)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core import gpu_choice
from podreconcile.core.errors import SpecError
from podreconcile.core.plan import Action, Kind, Plan
from podreconcile.core.ports import GpuOffer, StockLevel
from podreconcile.core.spec import parse_spec
from podreconcile.engine import preflight
from tests.unit.test_spec import MINIMAL, SETTINGS


def spec_with(pod_lines: str = "", run_lines: str = ""):
    text = MINIMAL.replace("  image: runpod/base:0.0.0\n", "  image: runpod/base:0.0.0\n" + pod_lines)
    text = text.replace("  config: configs/tiny.yaml\n", "  config: configs/tiny.yaml\n" + run_lines)
    return parse_spec(text, "podspec.yaml", SETTINGS)


# ---- pod.idle_timeout ----


def test_idle_timeout_defaults_to_15_minutes() -> None:
    assert spec_with().pod.idle_timeout == 900


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("off", 0), ("OFF", 0)])
def test_idle_timeout_is_a_duration_or_off(text: str, seconds: int) -> None:
    assert spec_with(f"  idle_timeout: {text}\n").pod.idle_timeout == seconds


@pytest.mark.parametrize(("text", "expected"), [
    ("0s", "must be longer than zero"),  # zero is written `off`
    ("15", "without a unit; add one"),
    ("soon", "expected a duration like"),
])
def test_a_bad_idle_timeout_names_the_field_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec_with(f"  idle_timeout: {text}\n")
    assert "pod.idle_timeout: " in str(caught.value) and expected in str(caught.value)


# ---- GPU types ----


def offers(*gpus: str, priced: bool = True, stock: StockLevel = StockLevel.HIGH) -> dict[str, GpuOffer]:
    return {g: GpuOffer(g, g, 48, 0.5 if priced else None, stock) for g in gpus}


def test_gpu_types_that_runpod_offers_pass() -> None:
    spec = spec_with()  # gpu_types: [NVIDIA RTX A6000]
    assert preflight.gpu_problems(spec, offers("NVIDIA RTX A6000", "NVIDIA GeForce RTX 4090")) == []


def test_an_unknown_gpu_type_is_located_and_the_closest_known_names_suggested() -> None:
    text = MINIMAL.replace("[NVIDIA RTX A6000]", "[NVIDIA RTX A6000, NVIDIA GeForce RTX 4909]")
    spec = parse_spec(text, "podspec.yaml", SETTINGS)
    (problem,) = preflight.gpu_problems(spec, offers("NVIDIA RTX A6000", "NVIDIA GeForce RTX 4090",
                                                     "NVIDIA GeForce RTX 3090"))
    assert problem.check == "gpu_types"
    assert problem.message.startswith("podspec.yaml:4:")
    assert "'NVIDIA GeForce RTX 4909' is not a GPU type RunPod knows" in problem.message
    assert "did you mean 'NVIDIA GeForce RTX 4090', 'NVIDIA GeForce RTX 3090' or 'NVIDIA RTX A6000'?" in problem.message


def test_a_known_gpu_type_not_offered_in_the_cloud_says_so() -> None:
    (problem,) = preflight.gpu_problems(spec_with(), offers("NVIDIA RTX A6000", priced=False))
    assert "does not offer 'NVIDIA RTX A6000' as on-demand in secure cloud" in problem.message


@given(known=st.lists(st.text(min_size=1, max_size=20), max_size=8))
def test_gpu_problems_name_exactly_the_types_not_known(known: list[str]) -> None:
    problems = preflight.gpu_problems(spec_with(), offers(*known))
    assert len(problems) == (0 if "NVIDIA RTX A6000" in known else 1)


def test_a_new_pod_whose_every_candidate_has_no_stock_is_a_problem() -> None:
    spec = spec_with()
    create = Plan((Action(Kind.CREATE_POD, "no pod", gpu_types=("NVIDIA RTX A6000",)),))
    empty = gpu_choice.with_candidates(create, offers("NVIDIA RTX A6000", stock=StockLevel.NONE))
    (problem,) = preflight.stock_problems(spec, empty)
    assert "none of pod.gpu_types (NVIDIA RTX A6000) has stock" in problem.message
    stocked = gpu_choice.with_candidates(create, offers("NVIDIA RTX A6000", stock=StockLevel.LOW))
    assert preflight.stock_problems(spec, stocked) == []
    assert preflight.stock_problems(spec, create) == []  # no catalog read: nothing is known about stock


# ---- the local checks, on a real folder ----


def _project(tmp_path, spec_text: str):
    import subprocess

    from podreconcile.engine.project import load_project

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text("output_dir: outputs/tiny_run\n")
    (tmp_path / "podspec.yaml").write_text(spec_text)
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return load_project(tmp_path / "podspec.yaml", environ={"SSH_KEY_PATH": str(key)})


def _git(tmp_path, *args):
    import subprocess

    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=t@e", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


def test_a_folder_that_is_not_a_git_repository_is_one_problem_naming_git_init(tmp_path) -> None:
    project = _project(tmp_path, MINIMAL)
    (problem,) = preflight.local_problems(project)
    assert problem.check == "git" and "git init" in problem.message


def test_an_untracked_config_a_missing_key_and_a_missing_data_folder_are_named(tmp_path) -> None:
    spec = MINIMAL + "data:\n  - {from: data/x, to: /workspace/data/x}\n"
    project = _project(tmp_path, spec)
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("")
    _git(tmp_path, "add", "train.py")
    (tmp_path / "key.pub").unlink()
    checks = {p.check: p.message for p in preflight.local_problems(project)}
    assert set(checks) == {"config", "ssh_key", "data"}
    assert checks["config"].endswith("git add configs/tiny.yaml`.") and "podspec.yaml:9:" in checks["config"] and "git add configs/tiny.yaml" in checks["config"]
    assert "ssh-keygen -y" in checks["ssh_key"]
    assert "data[0].from: data/x does not exist" in checks["data"]


def test_a_tracked_project_has_no_problem(tmp_path) -> None:
    project = _project(tmp_path, MINIMAL)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "x")
    assert preflight.local_problems(project) == []


@pytest.mark.parametrize("command", [
    "awk 'BEGIN { print 1 }' && python t.py --config {config}",
    "python t.py --config {config} --x { --y } {0} {} {config.__class__}",
])
def test_braces_that_are_not_placeholders_do_not_block(tmp_path, command: str) -> None:
    """Issue 9: only {config} and {run_name} are filled; every other brace reaches the pod as written."""
    project = _project(tmp_path, MINIMAL.replace("  config: configs/tiny.yaml\n",
                                                 f"  config: configs/tiny.yaml\n  command: \"{command}\"\n"))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "x")
    assert preflight.local_problems(project) == []
    assert project.command == command.replace("{config}", "configs/tiny.yaml")
