"""The sandbox's S3 API as a service: its server thread and its faults; keys.py holds its key pair and exports.

The key pair (access key `user_...`, secret `rps_...`, like the one RunPod's console makes) is made
once per sandbox home and kept in `HOME/s3-keys.json`, readable by its owner only. The daemon starts
the server beside the GraphQL one and prints the exports a client needs.
"""

from __future__ import annotations

import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from .documents import iso
from .errors import no_such_bucket
from .keys import load_keys
from .server import Handler
from .volume import ETags, Volume

# The sandbox's data centers with an S3 endpoint (both are in RunPod's list); CA-MTL-1 has none.
S3_DATA_CENTERS = ("EU-RO-1", "US-KS-2")
PUT_LIMIT = 500 * (1 << 20)  # RunPod: PutObject and each part must be under 500 MB
PUT_LIMIT_ENV = "PODRECONCILE_SANDBOX_S3_PUT_LIMIT"
FAULT_KINDS = ("http-502", "http-500", "timeout", "same-next-token")


class S3Service:
    """What every S3 request shares: the sandbox's store (volumes, faults, call counts), keys and limits."""

    def __init__(self, store, keys: tuple[str, str], put_limit: int = PUT_LIMIT) -> None:
        self.store = store
        self.keys = keys
        self.put_limit = put_limit
        self.etags = ETags()

    def data_center(self, path_segment: str) -> str | None:
        return next((dc for dc in S3_DATA_CENTERS if dc.lower() == path_segment), None)

    def count_and_take_fault(self, operation: str):
        with self.store.lock:
            self.store.count_call(f"s3.{operation}")
            return self.store.take_fault(f"s3.{operation}") or self.store.take_fault("s3")

    def buckets(self, data_center: str) -> list[tuple[str, str]]:
        with self.store.lock:
            volumes = [v.id for v in self.store.volumes.values() if v.data_center_id == data_center]
        return [(vid, _created(self.store.volume_dir(vid))) for vid in sorted(volumes)]

    def volume(self, data_center: str, bucket: str) -> Volume:
        """The bucket's volume; a volume of another data center is not found at this endpoint."""
        with self.store.lock:
            found = self.store.volumes.get(bucket)
        if found is None or found.data_center_id != data_center:
            raise no_such_bucket()
        root = self.store.volume_dir(bucket)
        root.mkdir(parents=True, exist_ok=True)
        return Volume(root, self.etags)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # parallel uploads open many connections at once
    daemon_threads = True


def start(store, home: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve the S3 API in a background thread; return the server and its base URL."""
    limit = int(os.environ.get(PUT_LIMIT_ENV) or PUT_LIMIT)
    service = S3Service(store, load_keys(home), limit)
    handler = type("BoundS3Handler", (Handler,), {"service": service})
    server = _Server(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def is_s3_operation(operation: str) -> bool:
    return operation == "s3" or operation.startswith("s3.")


def arm_fault(store, args: dict, fault_type) -> dict:
    """`sandbox fault s3[.Operation] --times N --error KIND`: the next N S3 calls (of that operation) fail."""
    kind, times = args["kind"], int(args["times"])
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown S3 fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
    if times < 1:
        raise ValueError("--times must be at least 1")
    fault = fault_type(kind=kind, remaining=times, applied=False, body="html",
                       hang_seconds=float(args.get("hang_seconds") or 35.0))
    with store.lock:
        store.faults[args["operation"]] = fault
    return {"operation": args["operation"], "kind": kind, "times": times, "applied": False}


def _created(folder: Path) -> str:
    try:
        return iso(folder.stat().st_mtime)
    except OSError:
        return iso(0)
