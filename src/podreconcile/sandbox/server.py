"""The sandbox's HTTP server: RunPod's `POST /graphql`, plus a small admin surface for the CLI.

Transport behaviour follows RunPod (shared/runpod-facts.md sections 1 and 3): auth by
`Authorization: Bearer` or `?api_key=`, HTTP 401 for a bad key, HTTP 400 with the parser's message
for a malformed or invalid query, HTTP 200 with `errors[0].message` and `data.<op>: null` for a
resolver error. Armed faults replace an operation's answer with a 5xx, a 429, a hang or RunPod's
capacity errors.
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

from .lifecycle import Lifecycle
from .resolvers import GENERIC, HOST_GPUS_BUSY, NO_CAPACITY, Api
from .store import Fault, Store, js_date

SCHEMA = build_schema(resources.files(__package__).joinpath("schema.graphql").read_text())
FAULT_KINDS = ("http-500", "http-429", "timeout", "no-capacity", "host-gpus-busy")
HTML_429 = b"<html><head><title>429 Too Many Requests</title></head><body><h1>429 Too Many Requests</h1></body></html>"
HTML_500 = b"<html><head><title>500 Internal Server Error</title></head><body><h1>500 Internal Server Error</h1></body></html>"


class Sandbox:
    """The server's shared state: store, lifecycle and resolvers."""

    def __init__(self, store: Store, lifecycle: Lifecycle) -> None:
        self.store = store
        self.life = lifecycle
        self.api = Api(store, lifecycle)


def first_field(document) -> str | None:
    """The top-level field of the request's first operation: the name faults and counts use."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                return selection.name.value
    return None


class Handler(BaseHTTPRequestHandler):
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

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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
        if urlparse(self.path).path == "/_sandbox/health":
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._body_size_ok():
            return
        route = urlparse(self.path).path
        principal = self._principal()
        if principal is None:
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
            fault = None if problems else store.take_fault(operation)
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
        if fault.applied:
            self._execute(document, request, caller_pod)
        if fault.kind == "timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            return
        if fault.kind in ("no-capacity", "host-gpus-busy"):
            message = NO_CAPACITY if fault.kind == "no-capacity" else HOST_GPUS_BUSY
            self._json(200, {"errors": [{"message": message, "path": [operation]}], "data": {operation: None}})
            return
        status = 500 if fault.kind == "http-500" else 429
        if fault.body == "html":
            self._send(status, HTML_500 if status == 500 else HTML_429, "text/html")
        else:
            message = GENERIC if status == 500 else "Too many requests. Please slow down and try again later."
            self._json(status, {"errors": [{"message": message}]})

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
        kind, times = args["kind"], int(args["times"])
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("--times must be at least 1")
        body = args.get("body") or ("html" if kind == "http-429" else "json")
        applied = args.get("applied")
        fault = Fault(
            kind=kind,
            remaining=times,
            applied=(kind == "timeout") if applied is None else bool(applied),
            body=body,
            hang_seconds=float(args.get("hang_seconds") or 35.0),
        )
        with self.sandbox.store.lock:
            self.sandbox.store.faults[args["operation"]] = fault
        return {"operation": args["operation"], "kind": kind, "times": times, "applied": fault.applied}

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

    def _admin_status(self, args: dict) -> dict:
        store = self.sandbox.store
        with store.lock:
            pods = [
                {"id": p.id, "name": p.name, "desiredStatus": p.desired_status, "sshPort": p.ssh_port
                 if p.desired_status == "RUNNING" else None, "networkVolumeId": p.network_volume_id}
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
