"""Which S3 operation a request is, from its method, path and query (the names faults and counts use)."""

from __future__ import annotations

SUPPORTED = frozenset({
    "ListBuckets", "HeadBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads",
    "GetObject", "HeadObject", "PutObject", "CopyObject", "DeleteObject",
    "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
})

# Sub-resources RunPod does not serve, named as S3 names the operations on them.
_SUBRESOURCES = {
    "acl": "Acl", "tagging": "Tagging", "versioning": "Versioning", "policy": "Policy", "location": "Location",
    "encryption": "Encryption", "lifecycle": "Lifecycle", "cors": "Cors", "object-lock": "ObjectLockConfiguration",
    "website": "Website", "logging": "Logging", "notification": "NotificationConfiguration", "retention": "Retention",
    "legal-hold": "LegalHold", "replication": "Replication", "accelerate": "Accelerate", "attributes": "Attributes",
}


def operation(method: str, bucket: str, key: str, query: dict[str, str], headers) -> str:
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{method.title()}Service"
    sub = next((name for name in query if name in _SUBRESOURCES), None)
    if sub is not None:
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method.title())
        return f"{verb}{'Object' if key else 'Bucket'}{_SUBRESOURCES[sub]}"
    return _object_operation(method, query, headers) if key else _bucket_operation(method, query)


def _bucket_operation(method: str, query: dict[str, str]) -> str:
    if method == "HEAD":
        return "HeadBucket"
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method.title()}Bucket")


def _object_operation(method: str, query: dict[str, str], headers) -> str:
    copy = headers.get("x-amz-copy-source") is not None
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if "uploadId" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "RestoreObject" if "restore" in query else "PostObject"
    return f"{method.title()}Object"
