"""Following the training's log from the pod until the runner records the attempt's end.

The end of an attempt is what the runner records in status.json (the same launch id, a final state
and an exit code); the `EXIT_CODE=<n>` last line only prompts the follower to look. Training output
cannot end the follow: a line it prints is checked against status.json and, not confirmed, is just
output (the runner also frames its own lines, so training cannot print a bare one).

While the stream is open the follower holds the run's followers.lock on the pod (remote/follow_hold.py),
and it reads status.json before closing the stream: the runner stops the pod as soon as every follower
has let go (never later than its cap), so the stop never cuts the connection before the end is read.

The connection can drop (a preemption, a network blip); the follower then looks at the pod again and
reconnects while it runs. A pod that stops before the end is recorded ends the follow without an
exit code: the outcome is on the volume, for the next `plan` or `status`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from podreconcile.core.errors import TemporaryError
from podreconcile.core.observation import PodFacts
from podreconcile.core.ports import PodShell, Provider
from podreconcile.core.run_observation import RunState, RunStatus
from podreconcile.engine import pod_steps, retry
from podreconcile.engine.observe import Connection, paths
from podreconcile.engine.project import Project

UNREACHABLE_DEADLINE = 600.0  # give up following when the pod runs but SSH stays unreachable this long
CONFIRM_DEADLINE = 20.0  # how long an EXIT_CODE line waits for status.json to say the attempt ended
EXIT_LINE = re.compile(r"^EXIT_CODE=(-?\d+)\s*$")
HEADER = re.compile(r"^=== podreconcile run \S+ attempt (\d+) ")


@dataclass(frozen=True)
class Ending:
    exit_code: int | None  # None: the pod stopped before the attempt's end was recorded
    attempt: int | None
    pod_status: str | None = None


class _Ended(Exception):
    """status.json confirmed the end an `EXIT_CODE=` line announced."""

    def __init__(self, status: RunStatus):
        super().__init__()
        self.status = status


class _LostWhileConfirming(Exception):
    """The connection dropped while status.json was read (the pod may be stopping)."""


def follow(project: Project, provider: Provider, conn: Connection, pod_id: str,
           on_line: Callable[[str], None], on_notice: Callable[[str], None] = lambda _: None,
           lines: int | None = None, launch_id: str | None = None, listed: PodFacts | None = None) -> Ending:
    """Print the latest attempt's log (from its first line, or the last `lines`) until it ends.
    `listed`: the pod as the caller just read it, if it did (the first round does not read it again).

    `launch_id`: the launch whose end to wait for; None takes the one status.json names when the
    follow starts. After a reconnect the log goes on from the line after the last one printed
    (when following from the first line; after a `lines` start, from what is new), so nothing is
    printed twice.
    """
    attempt: list[int] = []
    seen = [0]

    def reader(session: PodShell) -> Callable[[str], None]:
        def line(text: str) -> None:
            seen[0] += 1
            on_line(text)
            header = HEADER.match(text)
            if header:
                attempt.append(int(header.group(1)))
            if EXIT_LINE.match(text):
                # Read while the stream, and with it the followers' lock, stays open: the runner
                # stops the pod once every follower has let go, so the status is read first.
                try:
                    ended = _confirmed(session, run_paths, launch_id)
                except TemporaryError:
                    raise _LostWhileConfirming() from None
                if ended is not None:
                    raise _Ended(ended)
        return line

    run_paths = paths(project)
    last_contact = time.monotonic()
    while time.monotonic() - last_contact < UNREACHABLE_DEADLINE:
        # The caller's own fresh look at the pod serves the first round: one API call, not two.
        pod, listed = listed or retry.call(lambda: provider.get_pod(pod_id), deadline=120), None
        if pod is None or not pod.status.is_up:
            status = (pod.last_status_change or pod.status.value) if pod else "gone"
            return Ending(None, attempt[-1] if attempt else None, status)
        try:
            session = conn.session(pod, deadline=60)
            last_contact = time.monotonic()
            if launch_id is None:
                launch_id = _current_launch(session, run_paths)
            command = pod_steps.follow_command(run_paths, lines, skip=seen[0], launch_id=launch_id)
            session.stream(command, reader(session), what="following the training log")
        except _Ended as end:
            ended = end.status
            return Ending(ended.exit_code, ended.attempt if ended.attempt is not None else
                          (attempt[-1] if attempt else None))
        except _LostWhileConfirming:
            continue  # the pod stopped meanwhile; the loop looks at it again
        except TemporaryError:
            conn.close()
            on_notice(f"lost the SSH connection to pod {pod_id}; reconnecting")
            time.sleep(1)
    return Ending(None, attempt[-1] if attempt else None, "unreachable over SSH")


def _current_launch(session: PodShell, run_paths: pod_steps.RunPaths) -> str | None:
    status = pod_steps.read_status(session, run_paths)
    return status.launch_id if status else None


def _confirmed(session: PodShell, run_paths: pod_steps.RunPaths, launch_id: str | None,
               wait: float = CONFIRM_DEADLINE) -> RunStatus | None:
    """status.json once it records the end of `launch_id` (any launch when None); None when it does
    not within `wait` seconds, so the line was not the runner's."""
    deadline = time.monotonic() + wait
    while True:
        status = pod_steps.read_status(session, run_paths)
        if (status is not None and status.state in (RunState.SUCCEEDED, RunState.FAILED)
                and status.exit_code is not None and (launch_id is None or status.launch_id == launch_id)):
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)
