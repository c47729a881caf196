"""The exceptions podreconcile raises, split the way the retry policy and the CLI need them.

- `UserError`: the user can fix it (bad spec, missing key, no capacity). The CLI prints its
  one-sentence message and exits 1, without a traceback unless `--debug`.
- `TemporaryError`: worth retrying (network, HTTP 5xx or 429, SSH not ready yet). Only these are
  retried, and only by the one policy in `retry.py`.
- `PermanentError`: anything else from a provider or a pod that retrying will not fix.

Messages never hold secrets: adapters build them from facts they choose, never from raw request
text (the runpod SDK's QueryError keeps the whole query).
"""

from __future__ import annotations


class PodreconcileError(Exception):
    """Base of every error podreconcile raises on purpose."""


class UserError(PodreconcileError):
    """Something the user can fix; `str()` is one sentence naming the fix."""


class SpecError(UserError):
    """A podspec.yaml (or .runpod.env) problem, located at file:line:column."""


class TemporaryError(PodreconcileError):
    """A fault expected to pass: retry with backoff until the deadline.

    `retry_after` is the least wait, in seconds, the other side asked for (HTTP 429's `Retry-After`);
    the retry policy never waits less, and gives up when it would pass the deadline. `attempts`
    bounds the tries when the error may well be permanent.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, attempts: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # At most this many tries in all: for an answer that is as often permanent as not (RunPod's
        # "Something went wrong"), a few tries, then the error, rather than minutes of retries.
        self.attempts = attempts


class PermanentError(PodreconcileError):
    """A fault that retrying will not fix."""
