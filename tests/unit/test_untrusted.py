"""Fuzzing what a pod may say: no parser of pod output ever raises anything but its one clear error.

Finding 7 of issue 9: the probe's output, status.json, the data listing, the code manifest and the
SFTP prepare answer are someone else's computer talking. Hypothesis throws JSON of every shape (and
text that is not JSON) at each parser.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.core.errors import PermanentError
from podreconcile.core.run_observation import ProbeParseError, parse_probe, parse_status
from podreconcile.core.untrusted import as_float, as_int, json_value
from podreconcile.engine.codesync import parse_manifest
from podreconcile.engine.datasync import parse_listing

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["²", "١٢", "-0", " 7 ", "1e400", "9" * 40, "2026-13-45T99:99:99Z"]),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)), max_leaves=20)
STATUS_KEYS = ["run", "state", "attempt", "exit_code", "started_at", "ended_at", "resumed_from", "revision",
               "launch_id", "mode", "pid", "stopped_reason", "deadline_at", "pod_stop"]
PROBE_KEYS = ["status", "tmux_alive", "runner_alive", "checkpoints", "revision", "log_tail", "has_rsync",
              "python", "venv_ok", "launch_id"]
checkpoint = st.fixed_dictionaries({}, optional={"name": values, "step": values, "complete": values, "mtime": values})
status = st.fixed_dictionaries({}, optional={k: values for k in STATUS_KEYS})
probe = st.fixed_dictionaries({}, optional={**{k: values for k in PROBE_KEYS}, "status": st.one_of(status, values),
                                            "checkpoints": st.one_of(st.lists(st.one_of(checkpoint, values)), values)})


def dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


@given(probe)
def test_the_probe_parser_reads_any_object_without_raising(raw: dict) -> None:
    facts = parse_probe(dumps(raw))
    for c in facts.checkpoints:
        assert isinstance(c.step, int) and (c.mtime is None or isinstance(c.mtime, float))
    if facts.status is not None:
        assert facts.status.attempt is None or isinstance(facts.status.attempt, int)


@given(st.text(max_size=200))
def test_the_probe_parser_on_any_text_raises_only_its_own_error(text: str) -> None:
    try:
        parse_probe(text)
    except ProbeParseError:
        pass


@given(st.one_of(status, values))
def test_status_json_of_any_shape_is_read_or_unreadable(raw) -> None:
    parse_status(dumps(raw))


@given(st.one_of(values, st.fixed_dictionaries({"files": st.dictionaries(st.text(max_size=5), values), "rsync": values})))
def test_a_listing_of_any_shape_is_read_or_one_clear_error(raw) -> None:
    try:
        listing = parse_listing(dumps(raw))
    except PermanentError:
        return
    assert all(isinstance(s, int) and isinstance(m, int) for s, m in listing.values())


@given(st.one_of(values, st.fixed_dictionaries({"files": st.dictionaries(st.text(max_size=5), values),
                                                "synced": values, "revision": values})))
def test_a_manifest_of_any_shape_is_read_or_one_clear_error(raw) -> None:
    try:
        manifest = parse_manifest(dumps(raw))
    except PermanentError:
        return
    assert manifest.revision is None or isinstance(manifest.revision, str)


def test_huge_and_deep_values_are_unreadable_not_errors() -> None:
    assert json_value("[" * 200_000 + "]" * 200_000) is None
    assert json_value("x" * 10, limit=5) is None
    assert json_value('{"a": ' + "9" * 5000 + "}") == {"a": None}
    assert as_int("²") is None and as_int("١٢") is None and as_int(2**70) is None and as_int(True) is None
    assert as_float(10**400) is None and as_float(float("inf")) is None and as_float(1.5) == 1.5


def test_escape_sequences_from_a_pod_never_reach_the_terminal_but_colours_do() -> None:
    from podreconcile.core.terminal_text import printable

    hostile = ("step 1 \x1b[32mok\x1b[0m\r\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x1b\\\x1b[2J\x1b[1A"
               "\x1bPdcs\x1b\\\x9b31m\x00\x08end")
    out = printable(hostile)
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\x1b[1A" not in out and "\x1bP" not in out
    assert "\x9b" not in out and "\x00" not in out and "\x08" not in out
    assert out.startswith("step 1 \x1b[32mok\x1b[0m\r") and out.endswith("end")


@given(st.text())
def test_printable_leaves_no_escape_but_colours(text: str) -> None:
    import re as re_

    from podreconcile.core.terminal_text import printable

    out = printable(text)
    assert not re_.search(r"\x1b(?!\[[0-9;]{0,32}m)", out)
    assert not re_.search(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x9b]", out)
