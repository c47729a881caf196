"""Golden tests of `status` as a person reads it: plain through a pipe, coloured on a terminal.

Regenerate after an intended change with: UPDATE_GOLDEN=1 pytest tests/unit/test_status_render.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from podreconcile.cli.status import _pod, status_text
from podreconcile.core.observation import Endpoint, PodFacts, PodStatus

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PLAN_RUNNING = {"actions": [], "summary": "Run tiny_run is running (attempt 2); nothing to do."}

RUNNING_POD = PodFacts("abcdefghijklmn", "podreconcile-demo", PodStatus.RUNNING, "Rented by User: Fri Jan 15 2027",
                       gpu_display_name="RTX 4090", gpu_count=1, cost_per_hr=0.69,
                       started_at="2027-01-15T07:00:00Z", ssh=Endpoint("127.0.0.1", 40123))
STOPPED_POD = PodFacts("abcdefghijklmn", "podreconcile-demo", PodStatus.EXITED, "Exited by user: Fri Jan 15 2027",
                       gpu_display_name="RTX 4090", gpu_count=1, cost_per_hr=0.0, started_at="2027-01-15T07:00:00Z")

INFOS = {
    "running": {
        "spec": "demo",
        "pod": _pod(RUNNING_POD, Path("/home/me/.ssh/id_ed25519"), NOW),
        "run": {"name": "tiny_run", "observed": True, "state": "running", "alive": True, "attempt": 2,
                "exit_code": None, "stopped_reason": None, "latest_checkpoint": "checkpoint-20", "latest_step": 20,
                "last_log_line": "step 23 loss 0.41", "revision": "abc1234",
                "log_lines": ["step 21 loss 0.44", "step 22 loss 0.42", "step 23 loss 0.41"]},
        "plan": PLAN_RUNNING,
    },
    "stopped": {
        "spec": "demo",
        "pod": _pod(STOPPED_POD, None, NOW),
        "run": {"name": "tiny_run", "observed": False,
                "last_seen": {"state": "failed", "attempt": 1, "exit_code": None, "at": "2027-01-15T07:30:00Z"}},
        "plan": {"actions": [{"kind": "start_pod"}, {"kind": "sync_code"}, {"kind": "launch_run"}],
                 "summary": "Run tiny_run is not running (the pod is stopped)."},
    },
    "none": {
        "spec": "demo", "pod": None,
        "run": {"name": "tiny_run", "observed": False, "last_seen": None},
        "plan": {"actions": [{"kind": "create_pod"}], "summary": "Run tiny_run has not started on this pod."},
    },
}


@pytest.mark.parametrize("name", INFOS)
@pytest.mark.parametrize("kind", ["txt", "ansi"])
def test_status_matches_golden(name: str, kind: str) -> None:
    rendered = status_text(INFOS[name], colour=kind == "ansi") + "\n"
    golden = GOLDEN / f"status_{name}.{kind}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text(), f"{golden} differs; if intended, regenerate with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", INFOS)
def test_plain_status_is_the_coloured_one_without_escapes(name: str) -> None:
    plain = status_text(INFOS[name], colour=False)
    coloured = status_text(INFOS[name], colour=True)
    assert "\033[" not in plain and "\033[" in coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured) == plain


def test_spend_is_the_rate_times_the_time_since_this_start() -> None:
    pod = INFOS["running"]["pod"]
    assert pod["uptime_seconds"] == 3600 and pod["spend_this_start_usd"] == 0.69
    assert pod["ssh"] == "ssh -i /home/me/.ssh/id_ed25519 -p 40123 root@127.0.0.1"
    assert INFOS["stopped"]["pod"]["spend_this_start_usd"] is None
