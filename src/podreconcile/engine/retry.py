"""The one retry policy: temporary errors only, jittered exponential backoff, an explicit deadline.

A temporary error may carry `retry_after` (an HTTP 429's `Retry-After`): the wait is then never
shorter than that, and retrying stops at once when such a wait would pass the deadline. An error that
carries `attempts` (RunPod's ambiguous "Something went wrong") is tried at most that many times.
`sleep` is injectable so tests spend no real time on waits. Each retry is reported through
`on_retry` (a context variable the CLI sets to its progress display), so a long wait is never silent.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Callable, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from podreconcile.core.errors import TemporaryError

T = TypeVar("T")

on_retry: ContextVar[Callable[[str], None]] = ContextVar("on_retry", default=lambda message: None)


def _report(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    on_retry.get()(f"{error}; retrying in {wait:.1f} s (attempt {state.attempt_number + 1})")


def _asked_wait(state: RetryCallState) -> float:
    """The least wait the failed attempt's error asked for (0 when it asked for none)."""
    error = state.outcome.exception() if state.outcome else None
    return float(getattr(error, "retry_after", None) or 0.0)


def _wait_at_least_asked(backoff: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    return lambda state: max(backoff(state), _asked_wait(state))


def _stop_when_asked_wait_passes(deadline: float) -> Callable[[RetryCallState], bool]:
    return lambda state: _asked_wait(state) > 0 and state.seconds_since_start + _asked_wait(state) > deadline


def _stop_when_attempts_spent(state: RetryCallState) -> bool:
    error = state.outcome.exception() if state.outcome else None
    attempts = getattr(error, "attempts", None)
    return attempts is not None and state.attempt_number >= attempts


def retrying(deadline: float = 120.0, first_wait: float = 0.5, max_wait: float = 8.0,
             sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """A tenacity controller that retries `TemporaryError` until `deadline` seconds have passed."""
    return Retrying(
        retry=retry_if_exception_type(TemporaryError),
        wait=_wait_at_least_asked(wait_random_exponential(multiplier=first_wait, max=max_wait)),
        stop=stop_after_delay(deadline) | _stop_when_asked_wait_passes(deadline) | _stop_when_attempts_spent,
        sleep=sleep,
        before_sleep=_report,
        reraise=True,
    )


def call(fn: Callable[[], T], deadline: float = 120.0, **kwargs) -> T:
    """Run `fn`, retrying temporary errors until the deadline; the last error is re-raised."""
    return retrying(deadline=deadline, **kwargs)(fn)
