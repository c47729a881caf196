"""Secrets as a type: a value that never renders, compared by hash, shown only by name.

Every value from `.runpod.env`, the environment or a `${VAR}` substitution, and every pod env value
the spec marks secret, is held in a `Secret`. Its `str`, `repr` and format show `(secret)`, so an
f-string, a log line or an exception message cannot leak it by accident; `reveal()` is the one way
to the text, used where the value must reach RunPod or the pod.
"""

from __future__ import annotations

import hashlib
import hmac

SHOWN = "(secret)"
HASH_PREFIX = "sha256:"


def digest(text: str) -> str:
    """The hash stored and compared in place of a secret value (`sha256:<hex>`)."""
    return HASH_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_digest(text: object) -> bool:
    return isinstance(text, str) and text.startswith(HASH_PREFIX) and len(text) == len(HASH_PREFIX) + 64


class Secret:
    """A text value that renders as `(secret)` everywhere; `reveal()` gives the text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    @property
    def digest(self) -> str:
        return digest(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self.digest, other.digest)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Secret({SHOWN!r})"

    def __str__(self) -> str:
        return SHOWN

    def __format__(self, spec: str) -> str:
        return format(SHOWN, spec)

    def __reduce__(self):  # pickling would write the value out
        raise TypeError("a Secret is not serialisable")
