"""The sandbox's HTTP server: RunPod's `POST /graphql`, REST v2 under `/v2`, and an admin surface.

Transport behaviour follows RunPod (shared/runpod-facts.md sections 1 and 3): auth by
`Authorization: Bearer` or `?api_key=`, HTTP 401 for a bad key, HTTP 400 with the parser's message
for a malformed or invalid query, HTTP 200 with `errors[0].message` and `data.<op>: null` for a
resolver error. Armed faults replace an operation's answer with a 5xx, a 429, a hang or RunPod's
capacity errors. REST v2 (rest.py) answers from the same store; with `graphql_gone`, GraphQL
answers `410 Gone` as a retired API while v2 keeps working.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from graphql import (
    GraphQLError,
    GraphQLSyntaxError,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.language import OperationDefinitionNode

from . import links
from .lifecycle import Lifecycle
from .resolvers import GENERIC, HOST_GPUS_BUSY, NO_CAPACITY, Api
from .rest import OPERATIONS
from .rest_account import AccountRoutes
from .rest_http import RestHandler, html_page, without_runtime
from .rest_pods import PodRoutes
from .s3 import service as s3_service
from .store import DATA_CENTERS, GPU_TYPES, NEVER, Fault, Store, Volume, js_date

SCHEMA = build_schema(resources.files(__package__).joinpath("schema.graphql").read_text())
FAULT_KINDS = ("http-500", "http-502", "http-503", "http-429", "http-403", "http-409", "http-410", "timeout",
               "no-capacity", "host-gpus-busy", "unauthorized", "runtime-null", "ignored")  # fmt: skip
# What a restricted or read-only key gets from GraphQL: HTTP 200 with this error (only a bad key gets 401).
UNAUTHORIZED = "Unauthorized"
STOCK_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
# The rate-limit policy the sandbox announces on every v2 answer (it limits only through faults).
RATE_QUOTA, RATE_WINDOW = 600, 60


class Sandbox:
    """The server's shared state: store, lifecycle and resolvers."""

    def __init__(self, store: Store, lifecycle: Lifecycle, graphql_gone: bool = False) -> None:
        self.store = store
        self.life = lifecycle
        self.api = Api(store, lifecycle)
        self.pod_routes = PodRoutes(store, lifecycle, self.api)
        self.account_routes = AccountRoutes(store, lifecycle)
        self.graphql_gone = graphql_gone
        self._window = (0, 0)  # (minute window start, v2 calls in it)

    def route(self, handler: str):
        return getattr(self.pod_routes, handler, None) or getattr(self.account_routes, handler)

    def rate_headers(self) -> dict[str, str]:
        """RateLimit / RateLimit-Policy as RunPod sends them on every authenticated v2 answer."""
        now = int(time.time())
        start, used = self._window
        if now - start >= RATE_WINDOW:
            start, used = now - now % RATE_WINDOW, 0
        self._window = (start, used + 1)
        remaining, reset = max(0, RATE_QUOTA - used - 1), RATE_WINDOW - (now - start)
        return {
            "RateLimit": f'"minute";r={remaining};t={reset}',
            "RateLimit-Policy": f'"minute";q={RATE_QUOTA};w={RATE_WINDOW}',
        }


def first_field(document) -> str | None:
    """The top-level field of the request's first operation: the name faults and counts use."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                return selection.name.value
    return None


class Handler(RestHandler, BaseHTTPRequestHandler):
    server_version = "sandbox-runpod/1"
    protocol_version = "HTTP/1.1"
    sandbox: Sandbox  # set on the subclass made by make_server
    # A client that stalls (on its headers or body) is dropped after this many seconds per read,
    # so it cannot hold a thread forever; bodies past MAX_BODY are refused before being read.
    timeout = 10
    MAX_BODY = 1 << 20

    def log_message(self, format, *args) -> None:  # quiet: the key may be in the query string
        pass

    # ---- plumbing ----

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload).encode())

    def _key(self) -> str:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):].strip()
        return parse_qs(urlparse(self.path).query).get("api_key", [""])[0]

    def _principal(self):
        """`("user", None)`, `("pod", pod)` for a pod-scoped key, or None for a bad key."""
        key, store = self._key(), self.sandbox.store
        if key and secrets.compare_digest(key, store.api_key):
            return ("user", None)
        with store.lock:
            pod = store.pod_by_key(key) if key else None
        return ("pod", pod) if pod else None

    def _body_size_ok(self) -> bool:
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = -1
        if 0 <= size <= self.MAX_BODY:
            return True
        self.close_connection = True
        self._json(413 if size > 0 else 400, {"errors": [{"message": "request body too large or its length invalid"}]})
        return False

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # ---- routes ----

    def do_GET(self) -> None:
        route = urlparse(self.path).path
        if route == "/_sandbox/health":
            self._json(200, {"ok": True})
        elif route.startswith("/v2/"):
            self._v2("GET")
        else:
            self._json(404, {"error": "not found"})

    def do_PATCH(self) -> None:
        self._v2("PATCH")

    def do_PUT(self) -> None:
        self._v2("PUT")

    def do_DELETE(self) -> None:
        self._v2("DELETE")

    def do_POST(self) -> None:
        if not self._body_size_ok():
            return
        route = urlparse(self.path).path
        if route.startswith("/v2/"):
            self._v2("POST")
            return
        if route == "/graphql" and self.sandbox.graphql_gone:
            self._retired()
            return
        principal = self._principal()
        if principal is None:
            self._body()
            self._json(401, {"errors": [{"message": "Unauthorized"}]})
        elif route == "/graphql":
            self._graphql(principal[1])
        elif route.startswith("/_sandbox/") and principal[0] == "user":
            self._admin(route.removeprefix("/_sandbox/"))
        else:
            self._json(404, {"error": "not found"})

    def _graphql(self, caller_pod) -> None:
        try:
            request = json.loads(self._body() or b"{}")
            source = request["query"]
        except (ValueError, KeyError, TypeError):
            self._json(400, {"errors": [{"message": "Must provide query string."}]})
            return
        try:
            document = parse(source)
        except GraphQLSyntaxError as error:
            self._json(400, {"errors": [error.formatted]})
            return
        operation = first_field(document) or "(none)"
        store = self.sandbox.store
        problems = validate(SCHEMA, document)
        with store.lock:
            store.count_call(operation)
            fault = None if problems else store.take_fault(operation, pod_key=caller_pod is not None)
        if problems:
            self._json(400, {"errors": [e.formatted for e in problems]})
        elif fault is not None:
            self._faulted(fault, operation, document, request, caller_pod)
        else:
            self._json(200, self._execute(document, request, caller_pod))

    def _execute(self, document, request: dict, caller_pod) -> dict:
        with self.sandbox.store.lock:
            result = execute(
                SCHEMA,
                document,
                root_value=self.sandbox.api,
                context_value={"pod": caller_pod},
                variable_values=request.get("variables"),
                operation_name=request.get("operationName"),
            )
        payload = {"data": result.data}
        if result.errors:
            payload["errors"] = [_formatted(e) for e in result.errors]
        return payload

    def _faulted(self, fault: Fault, operation: str, document, request: dict, caller_pod) -> None:
        if fault.kind == "runtime-null":  # the host daemon's telemetry lookup failed: the rest is true
            self._json(200, without_runtime(self._execute(document, request, caller_pod)))
            return
        if fault.kind == "ignored":  # answered as done, and nothing done
            self._json(200, {"data": {operation: None}})
            return
        if fault.applied:
            self._execute(document, request, caller_pod)
        if fault.kind == "unauthorized":
            self._json(200, {"errors": [{"message": UNAUTHORIZED, "path": [operation]}], "data": {operation: None}})
            return
        if fault.kind == "timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            return
        if fault.kind in ("no-capacity", "host-gpus-busy"):
            message = NO_CAPACITY if fault.kind == "no-capacity" else HOST_GPUS_BUSY
            self._json(200, {"errors": [{"message": message, "path": [operation]}], "data": {operation: None}})
            return
        status = int(fault.kind.removeprefix("http-"))
        headers = {"Retry-After": str(fault.retry_after)} if status == 429 else {}
        if fault.body == "html":
            self._send(status, html_page(status), "text/html", headers)
        else:
            message = "Too many requests. Please slow down and try again later." if status == 429 else GENERIC
            self._send(status, json.dumps({"errors": [{"message": message}]}).encode(), headers=headers)

    # ---- admin (the `podreconcile sandbox ...` commands) ----

    def _admin(self, action: str) -> None:
        try:
            args = json.loads(self._body() or b"{}")
            handler = getattr(self, f"_admin_{action.replace('-', '_')}", None)
            if handler is None:
                self._json(404, {"error": f"unknown action {action}"})
                return
            self._json(200, handler(args))
        except (KeyError, ValueError, TypeError) as error:
            self._json(400, {"error": str(error)})

    def _admin_calls(self, args: dict) -> dict:
        with self.sandbox.store.lock:
            return dict(sorted(self.sandbox.store.calls.items()))

    def _admin_fault(self, args: dict) -> dict:
        if s3_service.is_s3_operation(args["operation"]):
            return s3_service.arm_fault(self.sandbox.store, args, Fault)
        kind, times, operation = args["kind"], int(args["times"]), args["operation"]
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("--times must be at least 1")
        v2 = operation.startswith("v2.")
        if v2 and operation not in OPERATIONS:
            raise ValueError(f"unknown v2 operation {operation!r}; choose one of {', '.join(OPERATIONS)}")
        body = args.get("body") or ("html" if kind == "http-429" and not v2 else "json")
        applied = args.get("applied")
        fault = Fault(
            kind=kind,
            remaining=times,
            applied=(kind == "timeout") if applied is None else bool(applied),
            body=body,
            hang_seconds=float(args.get("hang_seconds") or 35.0),
            retry_after=int(args.get("retry_after") or 1),
            pod_key_only=bool(args.get("pod_key")),
        )
        with self.sandbox.store.lock:
            self.sandbox.store.faults[operation] = fault
        return {"operation": operation, "kind": kind, "times": times, "applied": fault.applied}

    def _admin_clear_faults(self, args: dict) -> dict:
        """`sandbox fault-clear`: disarm every fault (API and S3) that has not fired yet."""
        with self.sandbox.store.lock:
            cleared = sorted(self.sandbox.store.faults)
            self.sandbox.store.faults.clear()
        return {"cleared": cleared}

    def _admin_image(self, args: dict) -> dict:
        """`sandbox image`: how pods of an image start sshd: after N seconds, or never (it ignores PUBLIC_KEY)."""
        image, delay = str(args["image"]), args.get("sshd_delay")
        if delay is not None and float(delay) < 0:
            raise ValueError("--sshd-delay must be 0 or more")
        with self.sandbox.store.lock:
            self.sandbox.store.image_sshd[image] = NEVER if delay is None else float(delay)
        return {"image": image, "sshd_delay": delay}

    def _admin_volume_create(self, args: dict) -> dict:
        """`sandbox volume create`: straight into the store, so it works with GraphQL gone too."""
        name, size, data_center = args["name"], int(args["size"]), args["data_center"]
        if data_center not in DATA_CENTERS:
            raise ValueError(f"unknown data center {data_center!r}; choose one of {', '.join(DATA_CENTERS)}")
        if size < 1:
            raise ValueError("--size-gb must be at least 1")
        store = self.sandbox.store
        with store.lock:
            volume = Volume(store.new_volume_id(), name, size, data_center)
            store.volumes[volume.id] = volume
            store.volume_dir(volume.id).mkdir(parents=True, exist_ok=True)
            store.save()
        return {"id": volume.id}

    def _admin_stock(self, args: dict) -> dict:
        gpu, level, data_center = args["gpu"], args["level"], args.get("data_center") or "*"
        if gpu not in {g.id for g in GPU_TYPES}:
            raise ValueError(f"unknown GPU type {gpu!r}")
        if level not in STOCK_LEVELS:
            raise ValueError(f"unknown stock level {level!r}; choose one of {', '.join(STOCK_LEVELS)}")
        with self.sandbox.store.lock:
            self.sandbox.store.stock[(gpu, data_center)] = level
        return {"gpu": gpu, "data_center": data_center, "level": level}

    def _admin_preempt(self, args: dict) -> dict:
        store = self.sandbox.store
        with store.lock:
            pod = store.find_pod(args["pod_id"])
            if pod is None:
                raise ValueError(f"no pod {args['pod_id']}")
            reason = "Outbid" if pod.interruptible else "Exited by Runpod"
            self.sandbox.life.halt(pod, f"{reason}: {js_date()}")
            store.save()
        return {"pod_id": pod.id, "desiredStatus": pod.desired_status, "lastStatusChange": pod.last_status_change}

    def _admin_link(self, args: dict) -> dict:
        """`sandbox link`: set a running emulated pod's delay, jitter, loss and rate, or take it down."""
        netem = links.netem_from_dict(args["netem"])
        store = self.sandbox.store
        with store.lock:
            pod = store.find_pod(args["pod_id"])
        if pod is None:
            raise ValueError(f"no pod {args['pod_id']}")
        try:
            # Not under the store lock: the link process may take a moment to apply the settings.
            self.sandbox.life.set_link(pod, netem)
        except links.LinkError as error:
            raise ValueError(str(error).rstrip(".")) from None
        return {"pod_id": pod.id, "netem": netem.describe()}

    def _admin_rename(self, args: dict) -> dict:
        """Rename a pod, as RunPod's console (or v2 `PATCH /pods/{id}` with `name`) can, behind the client's back."""
        store = self.sandbox.store
        name = str(args["name"]).strip()
        if not name:
            raise ValueError("a pod name must not be empty")
        with store.lock:
            pod = store.find_pod(args["pod_id"])
            if pod is None:
                raise ValueError(f"no pod {args['pod_id']}")
            pod.name = name
            store.save()
        return {"pod_id": pod.id, "name": pod.name}

    def _admin_status(self, args: dict) -> dict:
        store = self.sandbox.store
        with store.lock:
            pods = [
                {"id": p.id, "name": p.name, "desiredStatus": p.desired_status, "sshPort": p.ssh_port
                 if p.desired_status == "RUNNING" else None, "sshHost": p.ssh_host,
                 "networkVolumeId": p.network_volume_id, "link": self.sandbox.life.link_view(p)}
                for p in store.live_pods()
            ]
            volumes = [{"id": v.id, "name": v.name, "size": v.size, "dataCenterId": v.data_center_id}
                       for v in store.volumes.values()]
        return {"pods": pods, "volumes": volumes}

    def _admin_shutdown(self, args: dict) -> dict:
        def later() -> None:
            time.sleep(0.2)  # let this answer reach the caller before the process winds down
            self.server.shutdown()

        threading.Thread(target=later, daemon=True).start()
        return {"ok": True}


def _formatted(error: GraphQLError) -> dict:
    formatted = dict(error.formatted)
    formatted.pop("locations", None)
    return formatted


def make_server(sandbox: Sandbox, port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"sandbox": sandbox})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server
