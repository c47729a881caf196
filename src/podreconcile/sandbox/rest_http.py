"""The HTTP side of REST v2: authenticate, route, count, apply armed faults, answer problems.

`RestHandler` is mixed into the server's request handler; it expects `sandbox`, `_body`, `_send`
and `_principal` from it. Everything a v2 answer says comes from rest_pods.py and rest_account.py;
this module only decides how it travels: JSON or `application/problem+json`, the RateLimit headers
on every authenticated answer, `Retry-After` on a 429, HTML pages from a faulted edge.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

from .podhost import PodHostError
from .resolvers import GENERIC, HOST_GPUS_BUSY, NO_CAPACITY
from .rest import (
    POD_KEY_OPERATIONS,
    TITLES,
    Problem,
    Request,
    check_query,
    parse_query,
    resolve,
)
from .store import Fault

PROBLEM = "application/problem+json"
GONE = {
    "title": "Gone",
    "status": 410,
    "detail": "The GraphQL API has been retired; use the REST API v2 (https://api.runpod.io/v2).",
}


class RestHandler:
    """REST v2 methods of the server's request handler."""

    def _v2(self, method: str) -> None:
        """Authenticate, route, count, apply an armed fault, run the handler; problems for errors."""
        url = urlparse(self.path)
        raw_body = self._body()  # read first: an early answer must not leave it in a kept-alive connection
        headers: dict[str, str] = {}
        try:
            caller = self._v2_caller()
            headers = self.sandbox.rate_headers()
            resolved = resolve(method, url.path)
            store = self.sandbox.store
            with store.lock:
                store.count_call(resolved.operation)
                fault = store.take_fault(resolved.operation, pod_key=caller is not None)
            if caller is not None and resolved.operation not in POD_KEY_OPERATIONS:
                raise Problem(403, "access denied")
            request = Request(resolved.params, parse_query(url.query), raw_body, caller)

            def run():
                if resolved.query_names is not None:
                    check_query(request.query, resolved.query_names)
                with store.lock:
                    return self.sandbox.route(resolved.handler)(request)

            if fault is not None:
                self._v2_faulted(fault, run, headers)
                return
            status, payload = run()
        except Problem as problem:
            self._problem(problem, headers)
            return
        except PodHostError as error:
            self._problem(Problem(500, f"The pod could not start: {error}."), headers)
            return
        body = b"" if payload is None else json.dumps(payload).encode()
        self._send(status, body, headers=headers)

    def _v2_caller(self):
        """None for the account key, the pod for its pod-scoped key; 401 otherwise (Bearer only)."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
            raise Problem(401, "missing bearer token")
        principal = self._principal()
        if principal is None:
            raise Problem(401, "invalid API key")
        return principal[1]

    def _problem(self, problem: Problem, headers: dict[str, str]) -> None:
        self._send(problem.status, json.dumps(problem.body()).encode(), PROBLEM, {**headers, **problem.headers})

    def _v2_faulted(self, fault: Fault, run, headers: dict[str, str]) -> None:
        if fault.kind == "runtime-null":  # the host daemon's telemetry lookup failed: the rest is true
            status, payload = run()
            self._send(status, json.dumps(without_runtime(payload)).encode(), headers=headers)
            return
        if fault.kind == "ignored":  # answered as done, and nothing done
            self._send(200, b"{}", headers=headers)
            return
        if fault.applied:
            try:
                run()
            except Problem:
                pass  # the call failed by itself; the fault's answer goes out all the same
        if fault.kind == "timeout":
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            return
        status, detail = fault_answer(fault.kind)
        if status == 429:
            headers = {**headers, "Retry-After": str(fault.retry_after)}
        if fault.body == "html":
            self._send(status, html_page(status), "text/html", headers)
        else:
            self._problem(Problem(status, detail), headers)

    def _retired(self) -> None:
        """GraphQL after RunPod retires it: 410 Gone for every request, whatever its key."""
        with self.sandbox.store.lock:
            self.sandbox.store.count_call("graphql.gone")
        self._body()
        self._send(410, json.dumps(GONE).encode(), PROBLEM)


def without_runtime(payload):
    """The answer with every pod's `runtime` null, as when RunPod's telemetry lookup fails for a moment."""
    if isinstance(payload, dict):
        return {k: None if k == "runtime" else without_runtime(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [without_runtime(v) for v in payload]
    return payload


def html_page(status: int) -> bytes:
    """The HTML error page an edge proxy sends instead of the API's JSON."""
    title = f"{status} {TITLES.get(status, 'Error')}"
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()


def fault_answer(kind: str) -> tuple[int, str]:
    """The status and detail RunPod's v2 answers with for an armed fault of this kind."""
    fixed = {
        "no-capacity": (400, NO_CAPACITY),
        "host-gpus-busy": (400, HOST_GPUS_BUSY),
        "http-403": (403, "access denied"),
        "unauthorized": (403, "access denied: the API key's permissions do not allow this"),
        "http-409": (409, "The action is not valid for the pod's current status."),
        "http-429": (429, "rate limit exceeded for the minute window"),
    }
    return fixed.get(kind) or (int(kind.removeprefix("http-")), GENERIC)
