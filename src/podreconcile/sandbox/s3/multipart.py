"""Multipart uploads kept on the volume in `.s3compat_uploads/<upload id>/`, as RunPod keeps them.

Each upload folder holds `upload.json` (key, initiated) and one `part-NNNNN` file per part with its MD5
in `part-NNNNN.md5`. Complete concatenates the named parts into the key's file and removes the folder;
Abort removes it. Parts survive a restart of the sandbox, so an interrupted upload can be resumed with
ListParts. The 5 MB minimum part size of AWS is not enforced (RunPod does not).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import S3Error
from .volume import UPLOADS, Entry, Volume

MAX_PART_NUMBER = 10000


def no_such_upload() -> S3Error:
    return S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, "
                   "or the upload may have been aborted or completed.", 404)


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    mtime: float
    etag: str


@dataclass(frozen=True)
class Upload:
    upload_id: str
    key: str
    initiated: str


class Uploads:
    """The multipart uploads of one volume."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.folder = volume.root / UPLOADS

    def create(self, key: str) -> str:
        self.volume.path_of(key)  # refuse a bad key now, not at Complete
        upload_id = secrets.token_urlsafe(24)
        folder = self.folder / upload_id
        folder.mkdir(parents=True)
        initiated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        (folder / "upload.json").write_text(json.dumps({"key": key, "initiated": initiated}))
        return upload_id

    def get(self, upload_id: str, key: str | None = None) -> Upload:
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise no_such_upload()
        try:
            meta = json.loads((self.folder / upload_id / "upload.json").read_text())
        except (OSError, ValueError):
            raise no_such_upload() from None
        if key is not None and meta["key"] != key:
            raise no_such_upload()
        return Upload(upload_id, meta["key"], meta["initiated"])

    def part_path(self, upload: Upload, number: int) -> Path:
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive", 400)
        return self.folder / upload.upload_id / f"part-{number:05d}"

    def store_part(self, upload: Upload, number: int, staged: Path, md5_hex: str) -> str:
        path = self.part_path(upload, number)
        path.with_suffix(".md5").write_text(md5_hex)
        os.replace(staged, path)
        return f'"{md5_hex}"'

    def parts(self, upload: Upload) -> list[Part]:
        found = []
        for path in sorted((self.folder / upload.upload_id).glob("part-[0-9]*")):
            if path.suffix == ".md5":
                continue
            try:
                st = path.stat()
                md5_hex = path.with_suffix(".md5").read_text().strip()
            except OSError:
                continue  # a part being replaced right now
            found.append(Part(int(path.name.split("-")[1]), st.st_size, st.st_mtime, f'"{md5_hex}"'))
        return found

    def complete(self, upload: Upload, requested: list[tuple[int, str]]) -> Entry:
        """Join the requested (part number, ETag) list, in ascending order, into the key's file."""
        if not requested:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        numbers = [n for n, _ in requested]
        if numbers != sorted(set(numbers)):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.", 400)
        have = {p.number: p for p in self.parts(upload)}
        digests = b""
        for number, etag in requested:
            part = have.get(number)
            if part is None or part.etag.strip('"') != etag.strip('"'):
                raise S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may not "
                              "have been uploaded, or the specified entity tag may not match the part's entity tag.", 400)
            digests += bytes.fromhex(part.etag.strip('"'))
        staged = self.volume.staging()
        with open(staged, "wb") as out:
            for number, _ in requested:
                with open(self.part_path(upload, number), "rb") as part_file:
                    shutil.copyfileobj(part_file, out, 1 << 20)
        etag = f'"{hashlib.md5(digests).hexdigest()}-{len(requested)}"'
        entry = self.volume.place(staged, upload.key, etag)
        self.abort(upload)
        return entry

    def abort(self, upload: Upload) -> None:
        shutil.rmtree(self.folder / upload.upload_id, ignore_errors=True)
        self.volume.tidy()

    def listing(self, prefix: str) -> list[Upload]:
        uploads = []
        if not self.folder.is_dir():
            return uploads
        for folder in self.folder.iterdir():
            if folder.name == "tmp":
                continue
            try:
                upload = self.get(folder.name)
            except S3Error:
                continue
            if upload.key.startswith(prefix):
                uploads.append(upload)
        return sorted(uploads, key=lambda u: (u.key, u.initiated))
