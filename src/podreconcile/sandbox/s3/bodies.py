"""A request's body, read once: into a staged file or memory, with the signed SHA-256 and any
Content-MD5 / x-amz-checksum-* header checked, as S3 checks them.

Only plain bodies are taken (what boto3 sends over plain HTTP); aws-chunked streaming payloads are
answered NotImplemented.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from pathlib import Path

from . import sigv4
from .errors import S3Error, not_implemented

_CHUNK = 1 << 20
SMALL_LIMIT = 1 << 20  # CompleteMultipartUpload's XML


class Body:
    def __init__(self, rfile, length: int, headers: dict[str, str]) -> None:
        self.rfile, self.left, self.headers = rfile, length, headers
        self.payload_hash = sigv4.UNSIGNED
        self.checksums: dict[str, str] = {}  # x-amz-checksum-* headers that matched: echoed back

    def into(self, staged: Path) -> str:
        """Write the body to `staged` and return its MD5 (hex); the file is removed on any failure."""
        try:
            if self.payload_hash.startswith("STREAMING-"):
                raise not_implemented("aws-chunked (streaming) payload encoding")
            digests, crc = _digests(), 0
            with open(staged, "wb") as f:
                while self.left > 0:
                    chunk = self._chunk()
                    f.write(chunk)
                    crc = zlib.crc32(chunk, crc)
                    for digest in digests.values():
                        digest.update(chunk)
            self._check(digests, crc)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return digests["md5"].hexdigest()

    def small(self) -> bytes:
        if self.left > SMALL_LIMIT:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
        data = b""
        while self.left > 0:
            data += self._chunk()
        digests = _digests()
        for digest in digests.values():
            digest.update(data)
        self._check(digests, zlib.crc32(data))
        return data

    def drain(self, limit: int) -> bool:
        """Read and drop what is left so that an error answer reaches the client; False when over `limit`."""
        if self.left > limit:
            return False
        while self.left > 0:
            try:
                self._chunk()
            except ConnectionError:
                return False
        return True

    def _chunk(self) -> bytes:
        chunk = self.rfile.read(min(_CHUNK, self.left))
        if not chunk:
            raise ConnectionError("the client closed the connection mid-body")
        self.left -= len(chunk)
        return chunk

    def _check(self, digests: dict, crc: int) -> None:
        if self.payload_hash != sigv4.UNSIGNED and digests["sha256"].hexdigest() != self.payload_hash:
            raise S3Error("XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.", 400)
        expected = {
            "content-md5": digests["md5"].digest(),
            "x-amz-checksum-crc32": crc.to_bytes(4, "big"),
            "x-amz-checksum-sha1": digests["sha1"].digest(),
            "x-amz-checksum-sha256": digests["sha256"].digest(),
        }
        for header, digest in expected.items():
            sent = self.headers.get(header)
            if sent is None:
                continue
            if not _same(sent, digest):
                raise S3Error("BadDigest", f"The {header} you specified did not match the calculated checksum.", 400)
            if header.startswith("x-amz-checksum-"):
                self.checksums[header] = sent


def _digests() -> dict:
    return {"md5": hashlib.md5(), "sha256": hashlib.sha256(), "sha1": hashlib.sha1()}


def _same(sent: str, digest: bytes) -> bool:
    try:
        return base64.b64decode(sent, validate=True) == digest
    except binascii.Error:
        return False
