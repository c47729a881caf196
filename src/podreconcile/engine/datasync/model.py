"""The values data sync works with: files, listings, diffs, progress, results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

PART_SUFFIX = ".podreconcile-part"
RSYNC_PARTIAL_DIR = ".podreconcile-rsync-partial"
_BLOCK = 1 << 20
_SFTP_WORKERS = 4  # parallel SFTP channels: hide the round trips per file (open, close)
_SFTP_TIMEOUT = 120.0
_PROGRESS_INTERVAL = 0.2  # at most 5 progress callbacks a second
_FINALIZE_INTERVAL = 2.0  # completed SFTP parts are renamed in batches, one round trip each
_KILL_GRACE = 5.0
# rsync exits: 20 on a signal; 10, 12, 30, 35 and ssh's 255 when the connection fails or drops;
# 24 when source files vanished meanwhile.
_RSYNC_INTERRUPTED = {20}
_RSYNC_CONNECTION = {10, 12, 30, 35, 255}
_RSYNC_VANISHED = 24


@dataclass(frozen=True)
class DataFile:
    """One local file of a `data:` entry and the absolute path it gets on the pod."""

    local: Path
    remote: str
    size: int
    mtime_ns: int


class RemoteListing(dict[str, tuple[int, int]]):
    """remote path -> (size, mtime_ns) of every file under the `to` roots; `rsync` is the pod's
    rsync executable (None without one), learnt in the same round trip."""

    def __init__(self, files: dict[str, tuple[int, int]] | None = None, rsync: str | None = None):
        super().__init__(files or {})
        self.rsync = rsync


@dataclass(frozen=True)
class UploadDiff:
    """What an upload would send; pure data for plan to show."""

    send: tuple[DataFile, ...]
    bytes_to_send: int
    files_total: int
    bytes_total: int
    rsync_on_pod: bool = False  # from the listing: lets `upload` choose rsync without asking again

    @property
    def empty(self) -> bool:
        return not self.send


@dataclass(frozen=True)
class Progress:
    """One progress report of an upload; `eta_s` is None while the rate is unknown."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    rate_bps: float
    eta_s: float | None


@dataclass(frozen=True)
class UploadResult:
    """What an upload did. `bytes_sent` counts file data that travelled in this run: a resumed
    file counts only its remainder (for rsync: its "literal data")."""

    files_sent: int
    bytes_sent: int
    seconds: float
    method: Literal["rsync", "sftp", "s3"]


ProgressCallback = Callable[[Progress], None]


# -- local side ------------------------------------------------------------------------------------


