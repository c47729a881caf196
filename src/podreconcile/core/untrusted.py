"""Reading what a pod says: strict, size-capped, and never raising on a malformed value.

The pod is someone else's computer (and its volume outlives the pod): status.json, the probe's
output and the listings are untrusted input. Each reader returns None for a value it cannot read,
so that one fact is "unreadable" while the rest of the answer still counts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_TEXT = 8 * 1024 * 1024  # no pod-side script of ours prints more
MAX_STR = 64 * 1024
MAX_INT = 2**63 - 1
_DIGITS = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: "²".isdigit() is True, int("²") raises


def json_value(text: str, limit: int = MAX_TEXT) -> Any:
    """The JSON value of `text`, or None when it is too long, not JSON, or nests absurdly deep."""
    if not isinstance(text, str) or len(text) > limit:
        return None
    try:
        return json.loads(text, parse_int=_int, parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        return None


def _int(digits: str) -> int | None:
    """A JSON integer, unless it is too long to be one we wrote: then that value alone is unreadable
    (int() of 5,000 digits raises, and a big one costs quadratic time)."""
    return int(digits) if len(digits) <= 24 else None


def as_int(value: Any, low: int = -MAX_INT, high: int = MAX_INT) -> int | None:
    """An integer in [low, high] (also from ASCII digits as text); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def as_float(value: Any, low: float = -1e18, high: float = 1e18) -> float | None:
    """A finite number in [low, high] as a float; None for anything else (10**400 included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not low <= value <= high:
        return None  # float() of a huge int raises OverflowError
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def as_str(value: Any, limit: int = MAX_STR) -> str | None:
    """Text up to `limit` characters; None for anything else."""
    return value if isinstance(value, str) and len(value) <= limit else None


def as_bool(value: Any) -> bool:
    """true, or 1; anything else is false."""
    return value is True or (type(value) is int and value == 1)


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []
