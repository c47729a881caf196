"""Durations as people write them in a spec: 90s, 30m, 24h, 1d, 1h30m."""

from __future__ import annotations

import re

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

EXAMPLES = "90s, 30m, 24h, 1d or 1h30m"


def parse_duration(text: str) -> int:
    """Seconds in `text`: whole numbers with units d, h, m, s, largest first (`1h30m`).

    Raises ValueError with a message that says how to write it.
    """
    found = _DURATION.fullmatch(text.strip())
    if not text.strip() or not found:
        raise ValueError(
            f"expected a duration like {EXAMPLES}, got {text!r}; "
            "write whole numbers each followed by d, h, m or s, largest unit first"
        )
    seconds = sum(int(n) * size for n, (_, size) in zip(found.groups(), _UNITS) if n)
    if seconds <= 0:
        raise ValueError(f"must be longer than zero, got {text!r}; for example 24h")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest text `parse_duration` reads back as `seconds` (> 0), e.g. 5400 -> '1h30m'."""
    if seconds <= 0:
        raise ValueError("a duration is longer than zero")
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
