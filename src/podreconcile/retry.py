"""The one retry policy: temporary errors only, jittered exponential backoff, an explicit deadline.

`sleep` is injectable so tests (and the planner's model) spend no real time on waits.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from .errors import TemporaryError

T = TypeVar("T")


def retrying(deadline: float = 120.0, first_wait: float = 0.5, max_wait: float = 8.0,
             sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """A tenacity controller that retries `TemporaryError` until `deadline` seconds have passed."""
    return Retrying(
        retry=retry_if_exception_type(TemporaryError),
        wait=wait_random_exponential(multiplier=first_wait, max=max_wait),
        stop=stop_after_delay(deadline),
        sleep=sleep,
        reraise=True,
    )


def call(fn: Callable[[], T], deadline: float = 120.0, **kwargs) -> T:
    """Run `fn`, retrying temporary errors until the deadline; the last error is re-raised."""
    return retrying(deadline=deadline, **kwargs)(fn)
