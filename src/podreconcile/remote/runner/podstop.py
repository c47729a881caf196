"""Stopping this pod, so billing stops: three ways, each checked by reading the pod's status back.

1. `runpodctl stop pod $RUNPOD_POD_ID`: the legacy grammar every runpodctl RunPod injects understands.
   It exits 0 even when it printed that the stop failed, so its exit code proves nothing.
2. REST v2 `POST <base>/v2/pods/{id}/action {"action": "stop"}` with the pod's key.
3. GraphQL `podStop` with the pod's key, while RunPod still serves it.

`<base>` is the API base apply used (launch.json `api_base_url`), else RunPod's. A way that is
refused (403), gone (410) or unreachable hands over to the next. The result goes into status.json.
"""

from __future__ import annotations

import subprocess
import time

from .launch import Launch
from .podapi import DEFAULT_API_BASE, STOPPED, PodApi


def stop_pod(env: dict, launch: Launch, log) -> str:
    """Stop this pod; returns how: "runpodctl", "api_v2", "graphql" (each seen stopped), "unverified"
    (a way said yes but no status read could confirm it), "no_pod_id" or "failed"."""
    pod_id = env.get("RUNPOD_POD_ID")
    if not pod_id:
        log("RUNPOD_POD_ID is not in PID 1's environment; cannot stop the pod")
        return "no_pod_id"
    key = env.get("RUNPOD_API_KEY") or ""
    if not key:
        log("RUNPOD_API_KEY is not in PID 1's environment; only runpodctl can try")
    api = PodApi(pod_id, key, v2_bases(launch), graphql_urls(env, launch), log)
    ways = (("runpodctl", lambda: _stop_with_runpodctl(pod_id, env, log)),
            ("api_v2", api.stop_v2), ("graphql", api.stop_graphql))
    said_yes = False
    for name, attempt in ways:
        if name != "runpodctl" and not key:
            break
        if not attempt():
            continue
        seen = _wait_until_stopped(api, launch.stop_verify_s, log) if key else None
        if seen in STOPPED:
            log("pod %s is %s (stopped via %s)" % (pod_id, seen, name))
            return name
        said_yes = True
        log("%s answered, but the pod reads %s; trying the next way" % (name, seen or "unknown (no status read)"))
    return "unverified" if said_yes else "failed"


def v2_bases(launch: Launch) -> list:
    """Where REST v2 lives: under the base apply used (RunPod's when launch.json names none)."""
    return [(launch.api_base_url or DEFAULT_API_BASE) + "/v2"]


def graphql_urls(env: dict, launch: Launch) -> list:
    """Where GraphQL lives: the pod's own URL, then under the base apply used (else RunPod's).

    RUNPOD_API_URL meant the GraphQL URL up to runpodctl 2.4 and a REST base later: only a value that
    ends in /graphql is taken."""
    legacy = env.get("RUNPOD_API_URL") or ""
    return _unique([env.get("RUNPOD_GRAPHQL_URL"), legacy if legacy.rstrip("/").endswith("/graphql") else None,
                    launch.graphql_url_fallback, (launch.api_base_url or DEFAULT_API_BASE) + "/graphql"])


def _unique(urls: list) -> list:
    out = []
    for url in urls:
        if url and url.rstrip("/") not in out:
            out.append(url.rstrip("/"))
    return out


def _wait_until_stopped(api: PodApi, deadline_s: float, log):
    """The pod's status once it reads stopped, or the last status read when the deadline passes."""
    started, seen = time.monotonic(), None
    while True:
        seen = api.status() or seen
        if seen in STOPPED or time.monotonic() - started >= deadline_s or not api.can_read:
            return seen
        time.sleep(min(1.0, max(0.1, deadline_s / 10)))


def _stop_with_runpodctl(pod_id: str, env: dict, log) -> bool:
    """`runpodctl stop pod <id>`; the key travels in env. Its exit code is only a first hint."""
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
