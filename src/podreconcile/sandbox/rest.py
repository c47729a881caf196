"""RunPod's REST v2 API under `/v2`: routes, callers, RFC 9457 problems, operation names.

Each route has an operation name (`v2.pods.create`, ...) that `sandbox fault` and `sandbox calls`
use. Handlers live in rest_pods.py and rest_account.py; they raise `Problem` for every error, which
the server sends as `application/problem+json` `{title, status, detail, errors?}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from .rest_checks import Check, body_errors
from .store import Pod

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


class Problem(Exception):
    """An error answer: HTTP status, one-sentence detail, validation lines, extra headers."""

    def __init__(self, status: int, detail: str, errors: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict:
        payload = {"title": TITLES.get(self.status, "Error"), "status": self.status, "detail": self.detail}
        if self.errors:
            payload["errors"] = self.errors
        return payload


@dataclass
class Request:
    """One v2 call, as a handler sees it."""

    params: dict[str, str]
    query: dict[str, list[str]]
    raw_body: bytes
    caller: Pod | None  # None: the account key; else the pod whose pod-scoped key called

    def body(self, check: Check):
        """The JSON body, checked against the contract: 400 if it is not JSON, 422 on violations."""
        try:
            body = json.loads(self.raw_body or b"null")
        except ValueError:
            raise Problem(400, "The request body is not valid JSON.") from None
        errors = body_errors(check, body)
        if errors:
            raise Problem(422, "Request validation failed.", errors)
        return body

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def arg_list(self, name: str) -> list[str]:
        value = self.arg(name)
        return [v.strip() for v in value.split(",") if v.strip()] if value else []


# (method, path pattern, operation, handler name, query parameters the route takes)
ROUTES = [
    ("GET", r"/v2/pods", "v2.pods.list", "list_pods", ("includeClusterPods",)),
    ("POST", r"/v2/pods", "v2.pods.create", "create_pod", ()),
    ("GET", r"/v2/pods/(?P<id>[^/]+)", "v2.pods.get", "get_pod", ()),
    ("PATCH", r"/v2/pods/(?P<id>[^/]+)", "v2.pods.update", "update_pod", ()),
    ("DELETE", r"/v2/pods/(?P<id>[^/]+)", "v2.pods.delete", "delete_pod", ()),
    ("POST", r"/v2/pods/(?P<id>[^/]+)/action", "v2.pods.action", "pod_action", ()),
    ("GET", r"/v2/network-volumes", "v2.network-volumes.list", "list_volumes", ()),
    ("POST", r"/v2/network-volumes", "v2.network-volumes.create", "create_volume", ()),
    ("GET", r"/v2/network-volumes/(?P<id>[^/]+)", "v2.network-volumes.get", "get_volume", ()),
    ("PATCH", r"/v2/network-volumes/(?P<id>[^/]+)", "v2.network-volumes.update", "update_volume", ()),
    ("DELETE", r"/v2/network-volumes/(?P<id>[^/]+)", "v2.network-volumes.delete", "delete_volume", ()),
    ("GET", r"/v2/catalog/gpus", "v2.catalog.gpus", "list_gpus", None),
    ("GET", r"/v2/catalog/gpus/(?P<id>[^/]+)", "v2.catalog.gpus.get", "get_gpu", None),
    ("GET", r"/v2/catalog/datacenters", "v2.catalog.datacenters", "list_data_centers", None),
    ("GET", r"/v2/catalog/datacenters/(?P<id>[^/]+)", "v2.catalog.datacenters.get", "get_data_center", None),
    ("GET", r"/v2/account/ssh-keys", "v2.account.ssh-keys.get", "get_ssh_keys", ()),
    ("PUT", r"/v2/account/ssh-keys", "v2.account.ssh-keys.put", "put_ssh_keys", ()),
    ("GET", r"/v2/billing/pods", "v2.billing.pods", "pod_billing", None),
]
# What a pod's own key may do over v2: read its pod and stop it (checked again by the handlers).
POD_KEY_OPERATIONS = ("v2.pods.get", "v2.pods.action")
OPERATIONS = tuple(route[2] for route in ROUTES)


@dataclass(frozen=True)
class Resolved:
    operation: str
    handler: str
    params: dict[str, str]
    query_names: tuple[str, ...] | None  # None: the handler checks its own query parameters


def resolve(method: str, path: str) -> Resolved:
    """The route for a request; 404 for an unknown path, 405 for a known path's wrong method."""
    allowed = []
    for route_method, pattern, operation, handler, query_names in ROUTES:
        match = re.fullmatch(pattern, path)
        if match is None:
            continue
        if route_method == method:
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            return Resolved(operation, handler, params, query_names)
        allowed.append(route_method)
    if allowed:
        raise Problem(405, "The requested method is not allowed for this path.", headers={"Allow": ", ".join(allowed)})
    raise Problem(404, f"No route {path}.")


def check_query(query: dict[str, list[str]], names: tuple[str, ...]) -> None:
    """Refuse a query parameter the route does not take, by name (a typo must not pass silently)."""
    for name in query:
        if name not in names:
            raise Problem(400, f"Unknown query parameter '{name}'.")


def parse_query(raw: str) -> dict[str, list[str]]:
    return parse_qs(raw, keep_blank_values=True)
