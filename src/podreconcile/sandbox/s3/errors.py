"""S3's error answer: a code, a message and an HTTP status, sent as S3's XML `<Error>` document."""

from __future__ import annotations


class S3Error(Exception):
    """A request refused the way S3 refuses it."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def no_such_key() -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404)


def no_such_bucket() -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404)


def not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", f"{what} is not implemented by RunPod's S3-compatible API.", 501)
