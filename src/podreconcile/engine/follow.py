"""Following the training's log from the pod until the attempt's `EXIT_CODE=<n>` line.

The connection can drop (a preemption, a network blip); the follower then looks at the pod again and
reconnects while it runs. A pod that stops before the last line arrives ends the follow without an
exit code: the outcome is on the volume, for the next `plan` or `status`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from podreconcile.core.errors import TemporaryError
from podreconcile.core.ports import Provider
from podreconcile.engine import pod_steps, retry
from podreconcile.engine.observe import Connection, paths
from podreconcile.engine.project import Project

UNREACHABLE_DEADLINE = 600.0  # give up following when the pod runs but SSH stays unreachable this long
EXIT_LINE = re.compile(r"^EXIT_CODE=(-?\d+)\s*$")
HEADER = re.compile(r"^=== podreconcile run \S+ attempt (\d+) ")


@dataclass(frozen=True)
class Ending:
    exit_code: int | None  # None: the pod stopped before the attempt's last line was seen
    attempt: int | None
    pod_status: str | None = None


class _Ended(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def follow(project: Project, provider: Provider, conn: Connection, pod_id: str,
           on_line: Callable[[str], None], on_notice: Callable[[str], None] = lambda _: None,
           lines: int | None = None) -> Ending:
    """Print the latest attempt's log (from its first line, or the last `lines`) until it ends.

    After a reconnect the log goes on from the line after the last one printed (when following from
    the first line; after a `lines` start, from what is new), so nothing is printed twice.
    """
    attempt: list[int] = []
    seen = [0]

    def line(text: str) -> None:
        seen[0] += 1
        on_line(text)
        header = HEADER.match(text)
        if header:
            attempt.append(int(header.group(1)))
        ended = EXIT_LINE.match(text)
        if ended:
            raise _Ended(int(ended.group(1)))

    run_paths = paths(project)
    last_contact = time.monotonic()
    while time.monotonic() - last_contact < UNREACHABLE_DEADLINE:
        pod = retry.call(lambda: provider.get_pod(pod_id), deadline=120)
        if pod is None or not pod.status.is_up:
            status = (pod.last_status_change or pod.status.value) if pod else "gone"
            return Ending(None, attempt[-1] if attempt else None, status)
        command = pod_steps.follow_command(run_paths, lines, skip=seen[0])
        try:
            session = conn.session(pod, deadline=60)
            last_contact = time.monotonic()
            session.stream(command, line, what="following the training log")
        except _Ended as ended:
            return Ending(ended.code, attempt[-1] if attempt else None)
        except TemporaryError:
            conn.close()
            on_notice(f"lost the SSH connection to pod {pod_id}; reconnecting")
            time.sleep(1)
    return Ending(None, attempt[-1] if attempt else None, "unreachable over SSH")
