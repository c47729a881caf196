"""Issue 12, the setup that explains itself: a missing .runpod.env is named with the copy command, and
the example's placeholder key is refused before any call reaches RunPod."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.test_inputs_and_secrets import assert_clean_error

pytestmark = pytest.mark.e2e


def test_a_missing_runpod_env_is_named_with_the_copy_command(project):
    (project.root / ".runpod.env").unlink()
    result = project.cli("apply", "--yes")
    assert_clean_error(result, "cp .runpod.env.example .runpod.env")
    assert result.stderr.startswith("Error: .runpod.env is missing next to podspec.yaml")
    assert project.pods() == []


def test_the_placeholder_key_is_refused_before_any_api_call(project, sandbox):
    shutil.copy(project.root / ".runpod.env.example", project.root / ".runpod.env")
    env = project.env(SSH_KEY_PATH=str(project.ssh_key))  # the example's key path is not on this machine
    env.pop("RUNPOD_API_KEY")
    before = sandbox.cli("calls").stdout
    result = project.cli("plan", env=env)
    assert_clean_error(result, "placeholder", "RUNPOD_API_KEY")
    assert sandbox.cli("calls").stdout == before
