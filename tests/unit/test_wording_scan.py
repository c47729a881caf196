"""The e2e suite's scan for Python in the wording catches what it is meant to, and only that."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_python


@pytest.mark.parametrize("leak", ["exit code None", "attempt None", "alive: True", "dirty False",
                                  "Traceback (most recent call last):", "<podreconcile.core.plan.Plan object at 0x7f>",
                                  "PosixPath('/tmp/x')"])
def test_python_in_the_wording_is_caught(leak: str) -> None:
    with pytest.raises(AssertionError, match="printed Python"):
        assert_no_python(["status"], f"Run: tiny_run\\n{leak}\\n")


def test_debug_runs_ask_for_the_traceback() -> None:
    assert_no_python(["--debug", "plan"], "Traceback (most recent call last):\n")


def test_ordinary_wording_passes() -> None:
    assert_no_python(["status"], 'Run  tiny_run: failed, attempt 1, exit code 143\\n{"alive": true, "x": null}\\n'
                                 "Nonexistent Truest Falsehood\\n")
