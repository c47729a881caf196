"""Stopping this pod: `runpodctl` first, then RunPod's GraphQL API with the pod's own key."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .basics import RUNNER_VERSION
from .launch import Launch

DEFAULT_API_URL = "https://api.runpod.io/graphql"
STOP_MUTATION = (
    "mutation stopPod($podId: String!) { podStop(input: {podId: $podId}) { id desiredStatus } }"
)


def stop_pod(env: dict, launch: Launch, log) -> str:
    """Stop this pod; returns how: "runpodctl", "api", "no_pod_id" or "failed"."""
    pod_id = env.get("RUNPOD_POD_ID")
    if not pod_id:
        log("RUNPOD_POD_ID is not in PID 1's environment; cannot stop the pod")
        return "no_pod_id"
    if _stop_with_runpodctl(pod_id, env, log):
        return "runpodctl"
    api_key = env.get("RUNPOD_API_KEY")
    if not api_key:
        log("RUNPOD_API_KEY is not in PID 1's environment; cannot call the API")
        return "failed"
    for url in graphql_urls(env, launch):
        if _stop_with_api(url, pod_id, api_key, log):
            return "api"
    return "failed"


def graphql_urls(env: dict, launch: Launch) -> list:
    """Where to POST podStop: the pod's own API URLs first, then launch.json's fallback."""
    urls = [env.get("RUNPOD_GRAPHQL_URL"), env.get("RUNPOD_API_URL"),
            launch.api_url_fallback or DEFAULT_API_URL]
    out = []
    for url in urls:
        if url and url not in out:
            out.append(url)
    return out


def _stop_with_runpodctl(pod_id: str, env: dict, log) -> bool:
    """`runpodctl stop pod <id>` (the legacy CLI RunPod injects); the key travels in env."""
    try:
        done = subprocess.run(["runpodctl", "stop", "pod", pod_id], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                              start_new_session=True)
    except FileNotFoundError:
        log("runpodctl not found; using the API")
        return False
    except (OSError, subprocess.SubprocessError) as exc:
        log("runpodctl failed (%s); using the API" % exc.__class__.__name__)
        return False
    if done.returncode == 0:
        log("pod %s stop requested with runpodctl" % pod_id)
        return True
    log("runpodctl exited with %d; using the API" % done.returncode)
    return False


def _url_for_log(url: str) -> str:
    """Scheme, host, port and path only: a query string or user info could carry a key."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = ":%d" % parts.port if parts.port else ""
        return "%s://%s%s%s" % (parts.scheme, parts.hostname or "", port, parts.path)
    except ValueError:
        return "(unparsable URL)"


def _stop_with_api(url: str, pod_id: str, api_key: str, log, attempts: int = 3) -> bool:
    """POST the podStop mutation with a Bearer key; a few tries, 10 s each."""
    body = json.dumps({"query": STOP_MUTATION, "variables": {"podId": pod_id}}).encode("utf-8")
    attempt = 0
    while attempt < attempts:
        attempt += 1
        problem, final = _post_stop(url, body, api_key)
        if final:
            attempts = attempt  # a refused key or request stays refused: next URL
        if problem is None:
            log("pod %s stop requested via %s" % (pod_id, _url_for_log(url)))
            return True
        log("stop via %s failed (%s), try %d of %d" % (_url_for_log(url), problem, attempt, attempts))
        if attempt < attempts:
            time.sleep(attempt)
    return False


def _post_stop(url: str, body: bytes, api_key: str) -> tuple:
    """(problem or None, whether retrying this URL is pointless) for one POST of the mutation."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + api_key,
        "User-Agent": "podreconcile-runner/%d" % RUNNER_VERSION,
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read(1 << 20).decode("utf-8") or "{}")
        return _stop_answer_problem(answer), False
    except urllib.error.HTTPError as exc:
        return "HTTP %d" % exc.code, 400 <= exc.code < 500 and exc.code != 429
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return exc.__class__.__name__, False


def _stop_answer_problem(answer) -> str | None:
    """None when the GraphQL answer confirms the stop, else what is wrong with it."""
    if not isinstance(answer, dict):
        return "not a JSON object"
    if answer.get("errors"):
        return "GraphQL errors"
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get("podStop"):
        return "no podStop in the answer"
    return None
