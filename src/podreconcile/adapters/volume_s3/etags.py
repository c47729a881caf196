"""A local file's S3 ETags: the plain MD5 and the multipart ETag for a given part size, in one read.

RunPod gives a file written over SSH (or re-read after a restart) its plain MD5 and a file uploaded in
parts the multipart form, so a local file matches a remote object when either is equal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from podreconcile.core.volume_s3 import multipart_etag

_CHUNK = 1 << 20


def local_etags(path: Path, part_size: int) -> set[str]:
    whole, part, part_md5s, in_part = hashlib.md5(), hashlib.md5(), [], 0
    with open(path, "rb") as f:
        while chunk := f.read(min(_CHUNK, part_size - in_part)):
            whole.update(chunk)
            part.update(chunk)
            in_part += len(chunk)
            if in_part == part_size:
                part_md5s.append(part.digest())
                part, in_part = hashlib.md5(), 0
    if in_part:
        part_md5s.append(part.digest())
    return {whole.hexdigest(), multipart_etag(part_md5s)} if part_md5s else {whole.hexdigest()}


def part_size_for(size: int, part_size: int, max_parts: int = 10000) -> int:
    """The part size to use: ours, or larger when a huge file would need more than S3's 10,000 parts."""
    return max(part_size, -(-size // max_parts))
