"""RunPod's API as one pod's own key meets it, played by a stdlib HTTP server for the runner's tests.

REST v2: `GET /v2/pods/{id}` and `POST /v2/pods/{id}/action` (problem+json errors, 409 when the
action is not valid in the pod's status). GraphQL: `pod(input: {podId})` and `podStop`. Either API
can refuse the pod key (v2: 403; GraphQL: "Unauthorized" with HTTP 200, as RunPod answers a restricted
key) or be missing (v2: an HTML 404) or retired (GraphQL: 410 Gone). A fake runpodctl marks its stop
by creating `marker`, which the server reads as the pod having stopped.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PodApiStub:
    def __init__(self, pod_id: str, key: str, marker: Path | None = None) -> None:
        self.pod_id, self.key, self.marker = pod_id, key, marker
        self.v2 = "ok"  # ok | forbidden | absent
        self.graphql = "ok"  # ok | forbidden | gone
        self.stopped = False
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def status(self) -> str:
        done = self.stopped or (self.marker is not None and self.marker.exists())
        return "EXITED" if done else "RUNNING"

    def seen(self, what: str) -> list[dict]:
        """The requests of one kind: v2-read, v2-stop, graphql-read, graphql-stop."""
        return [r for r in self.requests if r["what"] == what]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- answers ----

    def v2_pod(self) -> dict:
        actions = ["stop", "restart", "terminate"] if self.status == "RUNNING" else ["start", "terminate"]
        return {"id": self.pod_id, "name": "podreconcile-tiny", "status": self.status, "actions": actions}

    def answer_v2(self, what: str, body) -> tuple[int, str, dict | str]:
        if self.v2 == "absent":
            return 404, "text/html", "<html><body>404 page not found</body></html>"
        if self.v2 == "forbidden":
            return 403, "application/problem+json", {"title": "Forbidden", "status": 403, "detail": "access denied"}
        if what == "v2-stop":
            if body != {"action": "stop"}:
                return 422, "application/problem+json", {"title": "Unprocessable Entity", "status": 422, "detail": "bad"}
            if self.status != "RUNNING":
                return 409, "application/problem+json", {"title": "Conflict", "status": 409,
                                                         "detail": "action stop is not valid for pod status EXITED"}
            self.stopped = True
        return 200, "application/json", self.v2_pod()

    def answer_graphql(self, what: str, body) -> tuple[int, str, dict]:
        if self.graphql == "gone":
            return 410, "application/json", {"errors": [{"message": "The GraphQL API has been retired."}]}
        if self.graphql == "forbidden":
            return 200, "application/json", {"errors": [{"message": "Unauthorized"}], "data": None}
        if body.get("variables", {}).get("podId") != self.pod_id:
            return 200, "application/json", {"errors": [{"message": "pod not found"}], "data": None}
        if what == "graphql-stop":
            self.stopped = True
            return 200, "application/json", {"data": {"podStop": {"id": self.pod_id, "desiredStatus": "EXITED"}}}
        return 200, "application/json", {"data": {"pod": {"id": self.pod_id, "desiredStatus": self.status}}}


def _handler(stub: PodApiStub):
    pod_path = re.compile(r"^/v2/pods/([^/]+)(/action)?$")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            what = self._what(body)
            stub.requests.append({"what": what, "method": self.command, "path": self.path, "body": body,
                                  "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != "Bearer " + stub.key:
                self._send(401, "application/problem+json", {"title": "Unauthorized", "status": 401, "detail": "bad key"})
            elif what.startswith("v2"):
                self._send(*stub.answer_v2(what, body))
            elif what.startswith("graphql"):
                self._send(*stub.answer_graphql(what, body))
            else:
                self._send(404, "text/plain", "not found")

        def _what(self, body) -> str:
            if self.path == "/graphql" and self.command == "POST":
                return "graphql-stop" if "podStop" in (body or {}).get("query", "") else "graphql-read"
            found = pod_path.match(self.path)
            if found and found.group(1) == stub.pod_id:
                return "v2-stop" if found.group(2) and self.command == "POST" else "v2-read"
            return "other"

        def _send(self, code: int, kind: str, payload) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler
