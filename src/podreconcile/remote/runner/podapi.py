"""RunPod's API as the pod sees it, with the pod's own key: read this pod's status, ask it to stop.

REST v2 first (`<base>/v2/pods/{id}`), GraphQL second (`<base>/graphql`): the pod-scoped key may be
refused by one (a 403 is reported and the next one tried) and GraphQL is being retired (410).
Stdlib only (urllib), Python 3.8. The key travels in the Authorization header only; URLs are
logged without query strings or user info.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from .basics import RUNNER_VERSION

DEFAULT_API_BASE = "https://api.runpod.io"
STOP_MUTATION = (
    "mutation stopPod($podId: String!) { podStop(input: {podId: $podId}) { id desiredStatus } }"
)
STATUS_QUERY = "query pod($podId: String!) { pod(input: {podId: $podId}) { id desiredStatus } }"
STOPPED = ("EXITED", "TERMINATED", "gone")
TIMEOUT_S = 10
MAX_RETRY_AFTER_S = 30


class Answer:
    """One HTTP answer: `status` None when nothing came back (network, timeout)."""

    def __init__(self, status, body=None, retry_after=None, problem=""):
        self.status, self.body, self.retry_after, self.problem = status, body, retry_after, problem

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def url_for_log(url: str) -> str:
    """Scheme, host, port and path only: a query string or user info could carry a key."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = ":%d" % parts.port if parts.port else ""
        return "%s://%s%s%s" % (parts.scheme, parts.hostname or "", port, parts.path)
    except ValueError:
        return "(unparsable URL)"


def send(method: str, url: str, key: str, body=None) -> Answer:
    """One request with a Bearer key; JSON in, JSON (or nothing) out."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "Authorization": "Bearer " + key, "User-Agent": "podreconcile-runner/%d" % RUNNER_VERSION,
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return Answer(response.status, _json(response.read(1 << 20)))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, _json(exc.read(1 << 16)), _retry_after(exc.headers.get("Retry-After")),
                      "HTTP %d" % exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Answer(None, problem=exc.__class__.__name__)


def send_with_retries(method: str, url: str, key: str, body=None, attempts: int = 3) -> Answer:
    """`send`, again after a network failure, 429 (waiting its Retry-After) or 5xx; others answer at once."""
    answer = send(method, url, key, body)
    for attempt in range(1, attempts):
        if not answer.transient:
            break
        time.sleep(min(answer.retry_after or attempt, MAX_RETRY_AFTER_S))
        answer = send(method, url, key, body)
    return answer


def _json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8") or "null")
    except ValueError:
        return None  # an HTML gateway page, say


def _retry_after(raw):
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


class PodApi:
    """This pod's status and stop over v2 and GraphQL, at the bases the pod knows."""

    def __init__(self, pod_id: str, key: str, v2_bases: list, graphql_urls: list, log):
        self.pod_id, self.key, self.log = pod_id, key, log
        self.v2_bases, self.graphql_urls = v2_bases, graphql_urls
        self._refused: set = set()  # readers that answered 403, 410, ...: not asked again
        self._reported: set = set()

    def status(self):
        """RUNNING, EXITED, ... or "gone"; None when no API would tell."""
        for base in self.v2_bases:
            url = "%s/pods/%s" % (base, _segment(self.pod_id))
            answer = self._read(url, "GET", None)
            if answer and answer.ok and isinstance(answer.body, dict) and answer.body.get("status"):
                return str(answer.body["status"])
            self._give_up_unless_transient(url, answer)
        for url in self.graphql_urls:
            answer = self._read(url, "POST", {"query": STATUS_QUERY, "variables": {"podId": self.pod_id}})
            data = answer.body.get("data") if answer and answer.ok and isinstance(answer.body, dict) else None
            if isinstance(data, dict) and "pod" in data and not answer.body.get("errors"):
                pod = data["pod"]
                return str(pod.get("desiredStatus") or "UNKNOWN") if isinstance(pod, dict) else "gone"
            self._give_up_unless_transient(url, answer)
        return None

    def _give_up_unless_transient(self, url: str, answer) -> None:
        """An answer without a status that asking again will not change (403, 410, GraphQL's
        "Unauthorized" with HTTP 200, ...): this reader is not asked again."""
        if answer is not None and not answer.transient:
            self._refused.add(url)

    @property
    def can_read(self) -> bool:
        """Some way of reading the status has not refused yet."""
        urls = ["%s/pods/%s" % (b, _segment(self.pod_id)) for b in self.v2_bases] + list(self.graphql_urls)
        return any(url not in self._refused for url in urls)

    def _read(self, url: str, method: str, body):
        """One status read through `url`, unless it refused before; failures are logged once per URL."""
        if url in self._refused:
            return None
        answer = send_with_retries(method, url, self.key, body)
        if not answer.ok and url not in self._reported:
            self._reported.add(url)
            self.log("reading the pod's status via %s failed (%s)" % (url_for_log(url), answer.problem or "no status in the answer"))
        return answer

    def stop_v2(self) -> bool:
        """POST the stop action; True when RunPod took it (200), or answered that it is not valid now (409)."""
        for base in self.v2_bases:
            url = "%s/pods/%s/action" % (base, _segment(self.pod_id))
            answer = send_with_retries("POST", url, self.key, {"action": "stop"})
            if answer.ok or answer.status == 409:
                self.log("pod %s stop requested via %s" % (self.pod_id, url_for_log(url)))
                return True
            self.log("stop via %s refused or failed (%s)" % (url_for_log(url), answer.problem or "no status in the answer"))
        return False

    def stop_graphql(self) -> bool:
        """The podStop mutation; True when the answer confirms it."""
        body = {"query": STOP_MUTATION, "variables": {"podId": self.pod_id}}
        for url in self.graphql_urls:
            answer = send_with_retries("POST", url, self.key, body)
            problem = answer.problem or stop_answer_problem(answer.body)
            if problem is None:
                self.log("pod %s stop requested via %s" % (self.pod_id, url_for_log(url)))
                return True
            self.log("stop via %s failed (%s)" % (url_for_log(url), problem))
        return False


def stop_answer_problem(answer) -> str | None:
    """None when the GraphQL answer confirms the stop, else what is wrong with it."""
    if not isinstance(answer, dict):
        return "not a JSON object"
    if answer.get("errors"):
        return "GraphQL errors"
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get("podStop"):
        return "no podStop in the answer"
    return None


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")
