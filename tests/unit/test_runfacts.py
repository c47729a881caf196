"""parse_probe: fixtures of raw probe output (as it arrives over SSH) -> RunFacts."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core.run_observation import (
    Checkpoint,
    ProbeParseError,
    RunFacts,
    RunState,
    parse_probe,
)

# A training under way, after a login banner; checkpoint-100 beats checkpoint-20 by number.
RUNNING = """\
Welcome to RunPod!
{"checkpoints": [{"complete": true, "mtime": 1764403200.5, "name": "checkpoint-100", "step": 100}, \
{"complete": true, "mtime": 1764403100.0, "name": "checkpoint-20", "step": 20}, \
{"complete": false, "mtime": 1764403300.0, "name": "checkpoint-120", "step": 120}, \
{"complete": false, "mtime": 1764403000.0, "name": "checkpoint-3", "step": 3}], \
"has_rsync": true, "launch_id": "launch-7", "log_tail": "step 121 loss 0.4410", "probe_version": 1, \
"python": "3.10.12", "revision": "9f1c2e7", "runner_alive": true, "status": {"attempt": 3, \
"child_pgid": 4242, "deadline_at": "2026-11-30T08:00:00Z", "ended_at": null, "exit_code": null, \
"launch_id": "launch-7", "mode": "auto", "pid": 4240, "pod_stop": null, "resumed_from": "checkpoint-100", \
"revision": "9f1c2e7", "run": "baseline_whisper_small", "started_at": "2026-11-29T08:00:00Z", \
"state": "running", "stopped_reason": null}, "tmux_alive": true, "venv_ok": true}
"""

# A fresh pod: nothing on the volume yet.
EMPTY = (
    '{"checkpoints": [], "has_rsync": false, "launch_id": null, "log_tail": null, "probe_version": 1, '
    '"python": "3.8.10", "revision": null, "runner_alive": false, "status": null, "tmux_alive": false, '
    '"venv_ok": true}\n'
)

# A finished run whose status.json came from another runner version.
ODD = json.dumps({
    "status": {"run": "r", "state": "paused", "attempt": "2", "exit_code": "x", "started_at": "yesterday",
               "ended_at": "2026-11-29T09:00:00", "extra": {"nested": True}},
    "checkpoints": [{"name": "checkpoint-5", "step": "5", "complete": 1},
                    {"name": "weird", "step": None}, "not-a-dict"],
    "tmux_alive": "yes", "runner_alive": 1, "has_rsync": None, "revision": 42,
})


def test_a_running_training():
    facts = parse_probe(RUNNING)

    assert facts.runner_alive and facts.tmux_alive and facts.alive and facts.has_rsync
    assert facts.revision == "9f1c2e7" and facts.log_tail == "step 121 loss 0.4410"
    assert facts.python == "3.10.12" and facts.venv_ok and facts.launch_id == "launch-7"
    status = facts.status
    assert status.state is RunState.RUNNING and status.active
    assert (status.run, status.attempt, status.exit_code) == ("baseline_whisper_small", 3, None)
    assert status.started_at == datetime(2026, 11, 29, 8, tzinfo=timezone.utc) and status.ended_at is None
    assert status.resumed_from == "checkpoint-100" and status.pid == 4240 and status.mode == "auto"


def test_checkpoints_are_ordered_by_number():
    facts = parse_probe(RUNNING)

    assert [c.step for c in facts.checkpoints] == [3, 20, 100, 120]
    assert facts.latest_complete_checkpoint == Checkpoint("checkpoint-100", 100, True, 1764403200.5)
    assert [c.name for c in facts.incomplete_newer_than_latest] == ["checkpoint-120"]


def test_an_empty_volume():
    facts = parse_probe(EMPTY)

    assert facts.status is None and facts.checkpoints == () and not facts.alive
    assert facts.latest_complete_checkpoint is None and facts.incomplete_newer_than_latest == ()
    assert facts.revision is None and facts.log_tail is None and not facts.has_rsync


def test_only_incomplete_checkpoints_are_all_newer_than_none():
    text = json.dumps({"checkpoints": [{"name": "checkpoint-10", "step": 10, "complete": False}]})
    facts = parse_probe(text)
    assert facts.latest_complete_checkpoint is None
    assert [c.step for c in facts.incomplete_newer_than_latest] == [10]


def test_odd_values_are_absent_not_errors():
    facts = parse_probe(ODD)

    assert facts.status.state is RunState.UNKNOWN and not facts.status.active
    assert facts.status.attempt == 2 and facts.status.exit_code is None
    assert facts.status.started_at is None
    assert facts.status.ended_at == datetime(2026, 11, 29, 9, tzinfo=timezone.utc)  # naive -> UTC
    assert facts.checkpoints == (Checkpoint("checkpoint-5", 5, True, None),)
    assert not facts.tmux_alive and facts.runner_alive and not facts.has_rsync
    assert facts.revision is None


@pytest.mark.parametrize("state", list(RunState))
def test_every_state_round_trips(state):
    facts = parse_probe(json.dumps({"status": {"state": state.value}}))
    assert facts.status.state is state


def test_missing_keys_get_defaults():
    facts = parse_probe("{}")
    assert facts == RunFacts(status=None, tmux_alive=False, runner_alive=False, checkpoints=(),
                             revision=None, log_tail=None, has_rsync=False)
    assert parse_probe('{"status": {}}').status.state is RunState.UNKNOWN


def test_pretty_printed_output_is_accepted():
    facts = parse_probe(json.dumps(json.loads(EMPTY), indent=2))
    assert facts.python == "3.8.10"


@pytest.mark.parametrize("text", ["", "bash: python3: command not found\n", "[1, 2]", "{broken"])
def test_output_without_a_json_object_raises(text):
    with pytest.raises(ProbeParseError):
        parse_probe(text)


def test_facts_are_frozen():
    facts = parse_probe(EMPTY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.runner_alive = True  # type: ignore[misc]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
probe_keys = st.sampled_from(["status", "tmux_alive", "runner_alive", "checkpoints", "revision",
                              "log_tail", "has_rsync", "python", "venv_ok", "launch_id"])


@given(st.dictionaries(probe_keys, json_values))
def test_any_json_object_parses(data):
    facts = parse_probe(json.dumps(data))
    assert isinstance(facts, RunFacts)
    assert list(facts.checkpoints) == sorted(facts.checkpoints, key=lambda c: c.step)


def test_quiet_time_is_the_newest_progress_log_or_checkpoint_and_only_an_active_run_stalls():
    probed = json.loads(RUNNING.splitlines()[1])
    quiet = parse_probe(json.dumps({**probed, "log_age_s": 900.0, "now": 1764403300.0 + 60}))
    assert quiet.quiet_seconds == 60.0  # checkpoint-120 (incomplete, still a sign of life) a minute ago
    assert quiet.stalled(30) and not quiet.stalled(61)
    assert parse_probe(json.dumps({**probed, "log_age_s": 5})).quiet_seconds == 5.0
    assert parse_probe(json.dumps({**probed, "log_age_s": 5})).stalled(5)
    unknown = parse_probe(RUNNING)
    assert unknown.quiet_seconds is None and not unknown.stalled(1)  # an old probe: unknown is not stalled
    ended = parse_probe(json.dumps({**probed, "log_age_s": 900, "status": {**probed["status"], "state": "succeeded"}}))
    assert not ended.stalled(1)
    assert parse_probe(json.dumps({**probed, "log_age_s": "x", "now": True})).quiet_seconds is None
