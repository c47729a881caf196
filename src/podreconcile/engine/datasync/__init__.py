"""Data sync: the spec's `data:` entries, uploaded once and afterwards only what changed.

Three steps, the first two cheap enough for `plan`:

1. `local_data`: every file under each entry's `from`, with the path it gets on the pod.
2. `remote_listing` (one round trip: a python3 script on the pod walks the `to` roots) and the pure
   `plan_upload`: a file is sent when the pod lacks it or its (size, mtime) differ. Every upload
   stamps the local mtime on the pod's copy, so the quick check is exact on the next run.
3. `upload`: rsync over the session's endpoint, key and pinned host key when both sides have it,
   otherwise SFTP over the session itself: pipelined writes on a few parallel SFTP channels (a
   round trip per block or per file would bound throughput on a distant pod).

Interrupted uploads resume. rsync keeps what arrived in `.podreconcile-rsync-partial/` beside the
file and uses it as the basis next time. SFTP writes `<file>.podreconcile-part` and renames it when
complete; a later upload checks the part's bytes against the local file's first bytes (one round
trip for all parts) and continues from its end. In both cases a file's own name never holds a
half-written file, and files that arrived are not sent again.

Data sync never deletes anything on the pod.
"""

from podreconcile.engine.datasync.listing import (
    listing_request,
    local_data,
    parse_listing,
    plan_upload,
    remote_listing,
    same_mtime,
)
from podreconcile.engine.datasync.model import (
    PART_SUFFIX,
    RSYNC_PARTIAL_DIR,
    DataFile,
    Progress,
    RemoteListing,
    UploadDiff,
    UploadResult,
)
from podreconcile.engine.datasync.rsync import (
    RsyncGroup,
    RsyncLine,
    parse_progress2,
    rsync_argv,
    rsync_groups,
    ssh_command,
)
from podreconcile.engine.datasync.transfer import rsync_pays_off, upload

__all__ = [
    "PART_SUFFIX", "RSYNC_PARTIAL_DIR", "DataFile", "RsyncGroup", "RsyncLine", "Progress", "RemoteListing", "UploadDiff", "UploadResult",
    "listing_request", "local_data", "parse_listing", "parse_progress2", "plan_upload", "remote_listing",
    "rsync_argv", "rsync_groups", "rsync_pays_off", "same_mtime", "ssh_command", "upload",
]
