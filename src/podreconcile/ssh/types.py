"""Values and errors of the SSH adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterable

from podreconcile.errors import PermanentError, TemporaryError
from podreconcile.facts import Endpoint  # noqa: F401  (re-exported: one Endpoint for facts and SSH)

# bytes, a binary file read to its end, or an iterable of chunks produced while sending
Stdin = bytes | BinaryIO | Iterable[bytes] | None


@dataclass(frozen=True)
class Result:
    """What a remote command did; stdout and stderr are decoded as UTF-8 (invalid bytes replaced)."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostKeyChanged(PermanentError):
    """The pod presented a different host key than the one pinned earlier in the same pod start."""


class CommandFailed(PermanentError):
    """A checked remote step exited non-zero; `result` holds its output."""

    def __init__(self, what: str, result: Result) -> None:
        tail = result.stderr.strip()[-400:] or result.stdout.strip()[-400:]
        detail = f": {tail}" if tail else ""
        super().__init__(f"{what} failed on the pod (exit code {result.exit_code}){detail}")
        self.what = what
        self.result = result


class CommandTimedOut(TemporaryError):
    """A remote step ran past its timeout; the command may still be running on the pod."""


class RemotePathNotFound(PermanentError, FileNotFoundError):
    """An SFTP read of a path that does not exist (also a FileNotFoundError for callers' ease)."""



def reason_of(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e) or type(e).__name__)[:200]


