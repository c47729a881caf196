"""Stop a pod and see it stopped: an OK answer is not proof (RunPod has answered a stop and kept the pod running).

The stop is asked again, with backoff, until a read shows the pod down or gone, or the deadline passes.
A stop of a pod that is already down is done (the provider turns RunPod's 409 into success).
"""

from __future__ import annotations

import time
from typing import Callable

from podreconcile.core.errors import PermanentError
from podreconcile.core.ports import Provider
from podreconcile.engine import retry

STOP_DEADLINE = 120.0


def stop_until_stopped(provider: Provider, pod_id: str, deadline: float = STOP_DEADLINE,
                       on_wait: Callable[[str], None] = lambda _: None, sleep=time.sleep) -> None:
    """Stop `pod_id`, re-reading it and asking again until it is observed down; PermanentError past `deadline`."""
    started, wait = time.monotonic(), 0.5
    while True:
        retry.call(lambda: provider.stop_pod(pod_id), deadline=max(1.0, deadline - (time.monotonic() - started)))
        pod = retry.call(lambda: provider.get_pod(pod_id), deadline=60)
        if pod is None or not pod.status.is_up:
            return
        if time.monotonic() - started > deadline:
            raise PermanentError(f"RunPod answered the stop of pod {pod_id}, but after {deadline:.0f} s it is still "
                                 f"{pod.status.value}; stop it in the RunPod console, then run `podreconcile status`.")
        on_wait(f"pod {pod_id} is still {pod.status.value} although its stop was answered OK; asking again")
        sleep(wait)
        wait = min(wait * 2, 5.0)
