"""Helpers of the SSH adapter."""

from __future__ import annotations


def reason_of(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e) or type(e).__name__)[:200]


