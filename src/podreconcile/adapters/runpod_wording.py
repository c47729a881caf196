"""RunPod's error sentences, matched in one place for both APIs (GraphQL `errors[0].message`,
REST v2 problem `detail`): one fixture per known message in tests/unit/test_retry_and_errors.py."""

from __future__ import annotations

from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.ports import HostGpusBusyError, NoCapacityError, NotFoundError

_NO_CAPACITY = ("no longer any instances available", "does not have the resources to deploy",
                "no compatible cuda host")
_TRANSIENT = ("something went wrong", "too many requests", "rate limit", "try again later",
              "timed out", "internal server error", "service unavailable", "bad gateway")


# RunPod's catch-all sentence. It answers permanent failures too (bad docker args, some resume errors,
# masked parse errors), so it is tried this many times in all, then reported with what was sent.
GENERIC = "something went wrong"
GENERIC_ATTEMPTS = 3
GENERIC_HINT = ("RunPod answers this for permanent failures too (e.g. bad docker args or an image it cannot pull), so "
                "it was tried {n} times; check what was sent, or try again later")
# A restricted or read-only key: GraphQL says "Unauthorized" with HTTP 200, v2 says 403.
KEY_PERMISSIONS_FIX = ("give the key read and write access to pods, network volumes and the catalog (RunPod console, "
                       "Settings, API Keys), or use a key that has it.")


def is_generic(message: str) -> bool:
    """RunPod's catch-all "Something went wrong. Please try again later or contact support."."""
    return GENERIC in message.lower()


def generic_error(said: str) -> TemporaryError:
    """The catch-all, retried a bounded few times; its text names what was sent (in `said`)."""
    return TemporaryError(f"{said} ({GENERIC_HINT.format(n=GENERIC_ATTEMPTS)})", attempts=GENERIC_ATTEMPTS)


def is_unauthorized(message: str) -> bool:
    """GraphQL's answer to a key without the permission (HTTP 200), not to a bad key (HTTP 401)."""
    return message.strip().rstrip(".").lower() == "unauthorized"


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
