"""The HTTP side of the sandbox's S3 API: one port, the data center as the first path segment.

A client's endpoint is `http://127.0.0.1:PORT/<data center, lower-case>` (RunPod's is
`https://s3api-<data center>.runpod.io`) with path-style addressing: `/<dc>/<volume id>/<key>`.
Each request is named (operations.py), counted as `s3.<Operation>`, given an armed fault if any (a
gateway's 502 comes before any check, as on RunPod), then SigV4-checked against the sandbox's key pair
with region = the data center, and served from the volume's folder. A data center without the S3 API
has no endpoint: its path is answered by closing the connection, as a host that is not there.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

from . import documents, sigv4
from .bodies import Body
from .errors import S3Error, not_implemented
from .listing import Page, page
from .multipart import Uploads
from .operations import SUPPORTED, operation
from .volume import Entry, Volume

_CHUNK = 1 << 20
_DRAIN_LIMIT = 600 << 20  # bodies up to this are read before an error answer, so the client sees the answer
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            b"</center>\r\n</body>\r\n</html>\r\n")
SAME_TOKEN = "etag-computation-in-progress"


class Handler(BaseHTTPRequestHandler):
    server_version = "RunPod-S3-sandbox/1"
    protocol_version = "HTTP/1.1"
    service = None  # an S3Service, set on the subclass made by service.make_server

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    # ---- one request ----

    def _handle(self) -> None:
        self.request_id = secrets.token_hex(8).upper()
        self.extra_headers: dict[str, str] = {}
        try:
            self._dispatch()
        except S3Error as error:
            self._error(error)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _dispatch(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        segments = raw_path.lstrip("/").split("/", 2)
        data_center = self.service.data_center(segments[0])
        if data_center is None:
            self.close_connection = True  # no endpoint for this data center: nobody answers
            return
        self.data_center = data_center
        self.bucket = unquote(segments[1]) if len(segments) > 1 else ""
        self.key = unquote(segments[2]) if len(segments) > 2 else ""
        self.query = dict(parse_qsl(raw_query, keep_blank_values=True))
        self.lower_headers = {name.lower(): value for name, value in self.headers.items()}
        self.body = Body(self.rfile, int(self.headers.get("Content-Length") or 0), self.lower_headers)
        name = operation(self.command, self.bucket, self.key, self.query, self.lower_headers)
        fault = self.service.count_and_take_fault(name)
        if fault is not None:
            self._faulted(fault)
            return
        request = sigv4.Request(self.command, raw_path, raw_query, self.lower_headers)
        self.body.payload_hash = sigv4.authorize(request, *self.service.keys, data_center)
        if name not in SUPPORTED:
            raise not_implemented(name)
        if name == "ListBuckets":
            self._send(200, documents.buckets(self.service.keys[0], self.service.buckets(data_center)))
            return
        volume = self.service.volume(data_center, self.bucket)
        getattr(self, f"_{name}")(volume)

    # ---- buckets and listings ----

    def _HeadBucket(self, volume: Volume) -> None:
        self.extra_headers["x-amz-bucket-region"] = self.data_center
        self._send(200, b"")

    def _ListObjectsV2(self, volume: Volume) -> None:
        params = self._list_params()
        token = params.get("continuation-token")
        after = _decode_token(token) if token else params.get("start-after") or None
        found = page(volume, params.get("prefix", ""), params.get("delimiter", ""), after, int(params["max-keys"]))
        if found.truncated and found.last:
            params["next-token"] = base64.urlsafe_b64encode(found.last.encode()).decode()
        self._send(200, documents.object_list(self.bucket, found, params, True, params.get("encoding-type") == "url"))

    def _ListObjects(self, volume: Volume) -> None:
        params = self._list_params()
        found = page(volume, params.get("prefix", ""), params.get("delimiter", ""), params.get("marker") or None,
                     int(params["max-keys"]))
        self._send(200, documents.object_list(self.bucket, found, params, False, params.get("encoding-type") == "url"))

    def _list_params(self) -> dict[str, str]:
        params = dict(self.query)
        try:
            params["max-keys"] = str(max(0, min(1000, int(params.get("max-keys") or 1000))))
        except ValueError:
            raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range", 400) from None
        return params

    # ---- objects ----

    def _HeadObject(self, volume: Volume) -> None:
        entry = volume.entry(self.key)
        self._object_headers(entry)
        self._send(200, b"", length=entry.size, content_type="application/octet-stream")

    def _GetObject(self, volume: Volume) -> None:
        entry = volume.entry(self.key)
        start, end = _byte_range(self.headers.get("Range"), entry.size)
        self._object_headers(entry)
        status = 200
        if (start, end) != (0, entry.size - 1) and self.headers.get("Range"):
            status = 206
            self.extra_headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(0, end - start + 1)
        self._start(status, length, "application/octet-stream")
        if entry.size and not self.key.endswith("/"):
            with open(volume.path_of(self.key), "rb") as f:
                f.seek(start)
                while length > 0:
                    chunk = f.read(min(_CHUNK, length))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    length -= len(chunk)

    def _PutObject(self, volume: Volume) -> None:
        self._refuse_too_large()
        staged = volume.staging()
        md5_hex = self.body.into(staged)
        entry = volume.place(staged, self.key, f'"{md5_hex}"')
        self.extra_headers.update(self.body.checksums)
        self.extra_headers["ETag"] = entry.etag
        self._send(200, b"")

    def _CopyObject(self, volume: Volume) -> None:
        source = unquote(self.lower_headers["x-amz-copy-source"]).lstrip("/").split("?", 1)[0]
        source_bucket, _, source_key = source.partition("/")
        source_volume = self.service.volume(self.data_center, source_bucket)
        entry = source_volume.entry(source_key)
        if source_key.endswith("/"):
            raise S3Error("InvalidRequest", "A directory cannot be copied.", 400)
        copied = volume.copy(source_volume.path_of(entry.key), self.key)
        self._send(200, documents.copy_result(copied))

    def _DeleteObject(self, volume: Volume) -> None:
        volume.delete(self.key)
        self._send(204, b"")

    # ---- multipart ----

    def _CreateMultipartUpload(self, volume: Volume) -> None:
        upload_id = Uploads(volume).create(self.key)
        if "x-amz-checksum-algorithm" in self.lower_headers:
            self.extra_headers["x-amz-checksum-algorithm"] = self.lower_headers["x-amz-checksum-algorithm"]
        self._send(200, documents.initiated(self.bucket, self.key, upload_id))

    def _UploadPart(self, volume: Volume) -> None:
        uploads = Uploads(volume)
        upload = uploads.get(self.query["uploadId"], self.key)
        number = _int(self.query.get("partNumber"), "partNumber")
        uploads.part_path(upload, number)  # a bad number is refused before the body is stored
        self._refuse_too_large()
        staged = volume.staging()
        md5_hex = self.body.into(staged)
        self.extra_headers.update(self.body.checksums)
        self.extra_headers["ETag"] = uploads.store_part(upload, number, staged, md5_hex)
        self._send(200, b"")

    def _CompleteMultipartUpload(self, volume: Volume) -> None:
        uploads = Uploads(volume)
        upload = uploads.get(self.query["uploadId"], self.key)
        entry = uploads.complete(upload, _requested_parts(self.body.small()))
        location = f"/{self.bucket}/{self.key}"
        self._send(200, documents.completed(location, self.bucket, entry))

    def _AbortMultipartUpload(self, volume: Volume) -> None:
        uploads = Uploads(volume)
        uploads.abort(uploads.get(self.query["uploadId"], self.key))
        self._send(204, b"")

    def _ListParts(self, volume: Volume) -> None:
        uploads = Uploads(volume)
        upload = uploads.get(self.query["uploadId"], self.key)
        marker = _int(self.query.get("part-number-marker") or "0", "part-number-marker")
        max_parts = max(1, min(1000, _int(self.query.get("max-parts") or "1000", "max-parts")))
        self._send(200, documents.parts(self.bucket, upload, uploads.parts(upload), marker, max_parts))

    def _ListMultipartUploads(self, volume: Volume) -> None:
        prefix = self.query.get("prefix", "")
        self._send(200, documents.uploads(self.bucket, prefix, Uploads(volume).listing(prefix)))

    # ---- bodies ----

    def _refuse_too_large(self) -> None:
        if "Content-Length" not in self.headers:
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
        limit = self.service.put_limit
        if self.body.left >= limit:
            raise S3Error("EntityTooLarge", f"Your proposed upload exceeds the maximum allowed size: a single "
                          f"upload must be smaller than {_megabytes(limit)}; use a multipart upload.", 400)

    # ---- answers ----

    def _faulted(self, fault) -> None:
        if fault.kind == "timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
        elif fault.kind == "http-502":
            self._drain()
            self._start(502, len(HTML_502), "text/html")
            self._write(HTML_502)
        elif fault.kind == "same-next-token":
            found = Page(truncated=True)  # RunPod still computing ETags: the same token again
            params = {**self.query, "max-keys": "1000", "next-token": SAME_TOKEN}
            self._send(200, documents.object_list(self.bucket, found, params, True, False))
        else:
            self._error(S3Error("InternalError", "We encountered an internal error. Please try again.", 500))

    def _error(self, error: S3Error) -> None:
        self._drain()
        resource = self.path.partition("?")[0]
        body = documents.error(error.code, error.message, resource, self.request_id)
        self.extra_headers = {}
        self._send(error.status, body)

    def _drain(self) -> None:
        body = getattr(self, "body", None)
        if body is not None and not body.drain(_DRAIN_LIMIT):
            self.close_connection = True

    def _object_headers(self, entry: Entry) -> None:
        self.extra_headers["ETag"] = entry.etag
        self.extra_headers["Last-Modified"] = formatdate(entry.mtime, usegmt=True)
        self.extra_headers["Accept-Ranges"] = "bytes"

    def _send(self, status: int, body: bytes, length: int | None = None,
              content_type: str = "application/xml") -> None:
        self._start(status, len(body) if length is None else length, content_type)
        if self.command != "HEAD":
            self._write(body)

    def _start(self, status: int, length: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("x-amz-request-id", self.request_id)
        self.send_header("Content-Type", content_type)
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write(self, body: bytes) -> None:
        if self.command != "HEAD":
            self.wfile.write(body)


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """(first, last) byte of `bytes=a-b`, `bytes=a-` or `bytes=-n`; the whole object without a header."""
    if not header:
        return 0, size - 1
    spec = header.strip()
    if not spec.startswith("bytes=") or "," in spec:
        return 0, size - 1  # S3 ignores a Range it cannot parse
    first, _, last = spec[len("bytes="):].partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(size - 1, int(last)) if last else size - 1
    except ValueError:
        return 0, size - 1
    if start >= size or start > end:
        raise S3Error("InvalidRange", "The requested range is not satisfiable", 416)
    return start, end


def _requested_parts(body: bytes) -> list[tuple[int, str]]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema", 400) from None
    parts = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
        parts.append((_int(fields.get("PartNumber"), "PartNumber"), fields.get("ETag", "")))
    return parts


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect", 400) from None


def _int(value: str | None, name: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise S3Error("InvalidArgument", f"{name} must be an integer.", 400) from None


def _megabytes(limit: int) -> str:
    return f"{limit / (1 << 20):g} MB"
