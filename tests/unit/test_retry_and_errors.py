"""The retry policy retries only temporary errors and reports each retry; RunPod's wording maps
to our error kinds in one place, with a fixture per known message (shared/runpod-facts.md section 3)."""

from __future__ import annotations

import pytest

from podreconcile.adapters.runpod_graphql import classify, gql
from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.ports import HostGpusBusyError, NoCapacityError, NotFoundError
from podreconcile.engine import retry


def test_temporary_errors_are_retried_and_reported():
    calls, sleeps, reports = [], [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise TemporaryError("HTTP 429")
        return "done"

    token = retry.on_retry.set(reports.append)
    try:
        assert retry.call(flaky, sleep=sleeps.append) == "done"
    finally:
        retry.on_retry.reset(token)
    assert len(calls) == 4 and len(sleeps) == 3 and all(0 <= s <= 8 for s in sleeps)
    assert len(reports) == 3 and reports[0].startswith("HTTP 429; retrying in ")


def test_permanent_errors_fail_at_once():
    sleeps = []

    def broken():
        raise PermanentError("bad request")

    with pytest.raises(PermanentError):
        retry.call(broken, sleep=sleeps.append)
    assert sleeps == []


def test_the_deadline_ends_retrying():
    with pytest.raises(TemporaryError):
        retry.call(lambda: (_ for _ in ()).throw(TemporaryError("down")), deadline=0.2, first_wait=0.01, max_wait=0.02)


@pytest.mark.parametrize("message,kind", [
    ("There are no longer any instances available with the requested specifications. Please refresh and try again.", NoCapacityError),
    ("There are no longer any instances available with the request specifications. Please try again later.", NoCapacityError),
    ("There are no longer any instances available with enough disk space.", NoCapacityError),
    ("This machine does not have the resources to deploy your pod. Please try a different machine", NoCapacityError),
    ("No compatible CUDA host is currently available.\n", NoCapacityError),
    ("There are not enough free GPUs on the host machine to start this pod.", HostGpusBusyError),
    ("There are not enough free GPUs on the host machine to start this pod", HostGpusBusyError),
    ("Something went wrong. Please try again later or contact support.", TemporaryError),
    ("Too many requests. Please slow down and try again later.", TemporaryError),
    ("pod not found to terminate", NotFoundError),
    ("Cannot resume a spot pod as an on demand pod.", PermanentError),
    ("Network volumes are only available for Pods in the Secure Cloud.", PermanentError),
    ('Syntax Error: Expected ":", found String "".', PermanentError),
])
def test_runpod_wording_maps_to_our_errors(message, kind):
    assert classify(message) is kind


@pytest.mark.parametrize("value", ['say "hi"', "C:\\dir", "l1\nl2", "x\\", 'x" }, { key: "EVIL", value: "y', "ünï 😀"])
def test_graphql_literals_round_trip_through_a_real_parser(value):
    from graphql import parse

    document = parse(f"mutation {{ m(input: {{v: {gql(value)}, n: {gql(3)}, b: {gql(True)}, z: {gql(None)}}}) }}")
    fields = document.definitions[0].selection_set.selections[0].arguments[0].value.fields
    assert fields[0].value.value == value and len(fields) == 4


def test_an_error_that_bounds_its_attempts_is_tried_that_many_times_then_raised():
    calls, sleeps = [], []

    def ambiguous():
        calls.append(1)
        raise TemporaryError("Something went wrong", attempts=3)

    with pytest.raises(TemporaryError):
        retry.call(ambiguous, deadline=600, sleep=sleeps.append)
    assert len(calls) == 3 and len(sleeps) == 2


def test_runpods_catch_all_and_a_restricted_key_over_graphql_are_told_apart():
    from podreconcile.adapters.runpod_wording import (
        generic_error,
        is_generic,
        is_unauthorized,
    )

    error = generic_error("RunPod create pod x (image y)")
    assert isinstance(error, TemporaryError) and error.attempts == 3 and "image y" in str(error)
    assert is_generic("Something went wrong. Please try again later or contact support.")
    assert is_unauthorized("Unauthorized") and is_unauthorized("unauthorized.")
    assert not is_unauthorized("Unauthorized request, please check your API key and try again later")
