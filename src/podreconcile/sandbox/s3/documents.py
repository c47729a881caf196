"""S3's XML answers, built from plain values (the `http://s3.amazonaws.com/doc/2006-03-01/` namespace)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from .listing import Page
from .multipart import Part, Upload
from .volume import Entry

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def document(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def el(name: str, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def error(code: str, message: str, resource: str, request_id: str) -> bytes:
    inner = el("Code", code) + el("Message", message) + el("Resource", resource) + el("RequestId", request_id)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def buckets(owner: str, volumes: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<Bucket>{el('Name', vid)}{el('CreationDate', created)}</Bucket>" for vid, created in volumes)
    return document("ListAllMyBucketsResult", f"<Owner>{el('ID', owner)}{el('DisplayName', owner)}</Owner><Buckets>{items}</Buckets>")


def object_list(bucket: str, page: Page, params: dict[str, str], v2: bool, encode: bool) -> bytes:
    """ListBucketResult for V1 (`v2=False`) or V2; `params` holds the request's prefix, delimiter, max-keys, markers."""
    def key(value: str) -> str:
        return quote(value, safe="/") if encode else value

    parts = [el("Name", bucket), el("Prefix", key(params.get("prefix", ""))), el("MaxKeys", params["max-keys"])]
    if params.get("delimiter"):
        parts.append(el("Delimiter", key(params["delimiter"])))
    if encode:
        parts.append(el("EncodingType", "url"))
    parts.append(el("IsTruncated", "true" if page.truncated else "false"))
    if v2:
        parts.append(el("KeyCount", len(page.contents) + len(page.prefixes)))
        for name in ("continuation-token", "start-after"):
            if params.get(name):
                parts.append(el("ContinuationToken" if name == "continuation-token" else "StartAfter", key(params[name]) if name == "start-after" else params[name]))
        if page.truncated and params.get("next-token"):
            parts.append(el("NextContinuationToken", params["next-token"]))
    else:
        parts.append(el("Marker", key(params.get("marker", ""))))
        if page.truncated and page.last:
            parts.append(el("NextMarker", key(page.last)))
    for entry in page.contents:
        parts.append(
            f"<Contents>{el('Key', key(entry.key))}{el('LastModified', iso(entry.mtime))}{el('ETag', entry.etag)}"
            f"{el('Size', entry.size)}{el('StorageClass', 'STANDARD')}</Contents>"
        )
    parts.extend(f"<CommonPrefixes>{el('Prefix', key(p))}</CommonPrefixes>" for p in page.prefixes)
    return document("ListBucketResult", "".join(parts))


def copy_result(entry: Entry) -> bytes:
    return document("CopyObjectResult", el("LastModified", iso(entry.mtime)) + el("ETag", entry.etag))


def initiated(bucket: str, key: str, upload_id: str) -> bytes:
    return document("InitiateMultipartUploadResult", el("Bucket", bucket) + el("Key", key) + el("UploadId", upload_id))


def completed(location: str, bucket: str, entry: Entry) -> bytes:
    inner = el("Location", location) + el("Bucket", bucket) + el("Key", entry.key) + el("ETag", entry.etag)
    return document("CompleteMultipartUploadResult", inner)


def parts(bucket: str, upload: Upload, found: list[Part], marker: int, max_parts: int) -> bytes:
    after = [p for p in found if p.number > marker]
    shown, truncated = after[:max_parts], len(after) > max_parts
    inner = [el("Bucket", bucket), el("Key", upload.key), el("UploadId", upload.upload_id),
             el("PartNumberMarker", marker), el("MaxParts", max_parts), el("IsTruncated", "true" if truncated else "false")]
    if truncated:
        inner.append(el("NextPartNumberMarker", shown[-1].number))
    inner.extend(
        f"<Part>{el('PartNumber', p.number)}{el('LastModified', iso(p.mtime))}{el('ETag', p.etag)}{el('Size', p.size)}</Part>"
        for p in shown
    )
    return document("ListPartsResult", "".join(inner))


def uploads(bucket: str, prefix: str, found: list[Upload]) -> bytes:
    inner = [el("Bucket", bucket), el("Prefix", prefix), el("MaxUploads", 1000), el("IsTruncated", "false")]
    inner.extend(
        f"<Upload>{el('Key', u.key)}{el('UploadId', u.upload_id)}{el('Initiated', u.initiated)}"
        f"{el('StorageClass', 'STANDARD')}</Upload>"
        for u in found
    )
    return document("ListMultipartUploadsResult", "".join(inner))
