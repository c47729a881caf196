"""RunPod's error sentences, matched in one place for both APIs (GraphQL `errors[0].message`,
REST v2 problem `detail`): one fixture per known message in tests/unit/test_retry_and_errors.py."""

from __future__ import annotations

from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.ports import HostGpusBusyError, NoCapacityError, NotFoundError

_NO_CAPACITY = ("no longer any instances available", "does not have the resources to deploy",
                "no compatible cuda host")
_TRANSIENT = ("something went wrong", "too many requests", "rate limit", "try again later",
              "timed out", "internal server error", "service unavailable", "bad gateway")


def is_capacity(message: str) -> bool:
    """RunPod could not place the pod: no machine with this GPU type (or enough disk) now."""
    lowered = message.lower()
    return any(marker in lowered for marker in _NO_CAPACITY)


def is_host_busy(message: str) -> bool:
    """A stopped pod's host has given its GPU to someone else."""
    return "not enough free gpus on the host" in message.lower()


def classify(message: str) -> type[Exception]:
    """Which of our errors RunPod's wording means."""
    lowered = message.lower()
    if is_host_busy(message):
        return HostGpusBusyError
    if is_capacity(message):
        return NoCapacityError
    if "not found" in lowered:
        return NotFoundError
    if any(marker in lowered for marker in _TRANSIENT):
        return TemporaryError
    return PermanentError
