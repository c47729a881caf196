"""Issue 5 end to end: the prompt and Ctrl+C through a real pseudo-terminal, --detailed-exitcode,
saved plans applied or refused as stale, Markdown output."""

from __future__ import annotations

import json

import pexpect
import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def spawn(project, *args: str) -> pexpect.spawn:
    return pexpect.spawn("podreconcile", list(args), cwd=str(project.root), env=project.env(NO_COLOR=""),
                         encoding="utf-8", timeout=60, dimensions=(40, 200))


def test_the_prompt_asks_and_no_changes_nothing(project):
    child = spawn(project, "apply")
    child.expect(r"Apply these changes\? \[y/N\]: ")
    assert "\033[" in child.before, "colour on a terminal"
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and "Nothing was changed" in child.before
    assert project.pods() == []


def test_yes_at_the_prompt_applies_and_ctrl_c_detaches(project):
    project.edit("configs/tiny.yaml", max_steps=60, step_seconds=0.1)
    child = spawn(project, "apply")
    child.expect(r"Apply these changes\? \[y/N\]: ")
    child.sendline("y")
    child.expect("following the training log")
    child.expect(r"step \d+ loss")
    child.sendintr()  # Ctrl+C as the terminal sends it: SIGINT to the foreground process group
    child.expect("detached; training goes on")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED", timeout=60)
    assert project.current_log().rstrip().endswith("EXIT_CODE=0"), "training went on after the detach"


def test_detailed_exitcode(project):
    assert project.cli("plan", "--detailed-exitcode").returncode == 2
    assert project.cli("plan").returncode == 0
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    assert project.cli("plan", "--detailed-exitcode").returncode == 0
    project.edit("podspec.yaml", pod__gpu_count="many")
    assert project.cli("plan", "--detailed-exitcode").returncode == 1


def test_saved_plan_is_applied_or_refused_when_stale(project, tmp_path):
    saved = tmp_path / "plan.json"
    made = project.cli("plan", "--out", str(saved))
    assert made.returncode == 0 and saved.exists()
    document = json.loads(saved.read_text())
    assert [a["kind"] for a in document["plan"]["actions"]] == ["create_pod", "sync_code", "upload_data", "launch_run"]
    (project.root / "scripts" / "extra.py").write_text("print('changed')\n")
    project.commit()
    stale = project.cli("apply", str(saved))
    assert stale.returncode == 1 and "is stale: the local code changed" in stale.stderr
    assert project.pods() == []
    assert project.cli("plan", "--out", str(saved)).returncode == 0
    applied = project.cli("apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    assert "EXIT_CODE=0" in applied.stdout and len(project.pods()) == 1


def test_markdown_and_json_formats(project):
    markdown = project.cli("plan", "--format", "markdown")
    assert markdown.returncode == 0 and "| `+` | **create pod** |" in markdown.stdout
    assert "Cost: $0.69/h" in markdown.stdout
    plan = json.loads(project.cli("plan", "--json").stdout)
    assert plan["format_version"] == 2 and plan["changes_pending"] and plan["cost"]["per_hour"] == 0.69
    assert [a["code"] for a in plan["actions"]] == ["pod_missing", "new_pod", "unknown_until_start", "run_not_started"]
