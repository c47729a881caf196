"""A newcomer follows the README on a fresh clone, in a new shell: nothing of the developer's
environment (no RUNPOD_* variables, a home of its own), every command of "A first run" as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from podreconcile.sandbox import daemon
from tests.e2e.conftest import assert_no_python

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SECTION = "## A first run, in a new shell"


def first_run_block(readme: str) -> str:
    section = readme[readme.index(SECTION):]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "the README's first-run section has no bash block"
    return found.group(1)


def test_the_readme_first_run_works_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    block = first_run_block((clone / "README.md").read_text())
    home = tmp_path / "home"
    home.mkdir()
    # A new login shell: the venv on PATH (as `scripts/setup` leaves it), the clone's code, nothing else.
    env = {"HOME": str(home), "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "PYTHONPATH": str(clone / "src"), "LANG": "C.UTF-8",
           daemon.OWNER_ENV: str(os.getpid())}
    try:
        shell = subprocess.run(["bash", "-euo", "pipefail", "-c", "set -x\n" + block], cwd=clone, env=env,
                               capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    finally:
        daemon.down(home / ".podreconcile" / "sandbox")
    out = shell.stdout + shell.stderr
    assert shell.returncode == 0, out[-4000:]
    assert "training succeeded" in out and "Plan: 1 to create" in out
    assert "No changes." in out and "Saved plan plan.json" in out
    assert_no_python(["(README first run)"], "\n".join(l for l in out.splitlines() if not l.startswith("+ ")))
