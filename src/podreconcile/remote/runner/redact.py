"""Which values are secrets, and masking them in a byte stream."""

from __future__ import annotations

import re

SECRET_NAME_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
NOT_SECRET = frozenset({"PUBLIC_KEY", "SSH_PUBLIC_KEY"})


MIN_NAMED = 4  # a shorter value ("1", "on") would mask every occurrence of common text


def secret_values(env: dict, names=()) -> list:
    """Values to mask in logs: those of the variables the launch names as secrets (every `${VAR}`
    and pod.secret_env value of the spec), and anything named like a key, token or password."""
    named = set(names)
    return [
        v for k, v in env.items()
        if (k in named and len(v) >= MIN_NAMED)
        or (SECRET_NAME_RE.search(k) and k not in NOT_SECRET and len(v) >= 6)
    ]


class Redactor:
    """Masks secret values in a byte stream, also when a value is split across two chunks."""

    MASK = b"[redacted]"

    def __init__(self, secrets: list):
        encoded = {s.encode("utf-8", "surrogateescape") for s in secrets}
        self.secrets = sorted(encoded, key=len, reverse=True)
        self.carry = b""

    def feed(self, data: bytes) -> bytes:
        """Redacted bytes safe to write now; a tail that may start a secret is held back."""
        if not self.secrets:
            return data
        buf = self.carry + data
        for secret in self.secrets:
            buf = buf.replace(secret, self.MASK)
        keep = self._partial_tail(buf)
        self.carry = buf[len(buf) - keep:] if keep else b""
        return buf[:len(buf) - keep]

    def flush(self) -> bytes:
        out, self.carry = self.carry, b""
        return out

    def _partial_tail(self, buf: bytes) -> int:
        """Length of the longest tail of `buf` that is a proper prefix of some secret."""
        best = 0
        for secret in self.secrets:
            for n in range(min(len(secret) - 1, len(buf)), best, -1):
                if buf.endswith(secret[:n]):
                    best = n
                    break
        return best
