"""No pod left billing: when an apply fails or is interrupted, the pod it created or started is
stopped before podreconcile exits, unless a run was launched on it.

`BillingGuard` wraps the call to `Applier.run`. It decides from what the apply began (the kinds of
the actions `Applier.execute` was called for) and from the state file (the pod recorded there, or a
create still in flight), never from a guess about the world:

- a pod this apply created (create or replace), started (start of a pod that was not running) or
  restarted (an update of a running pod), with no launch begun, is stopped, and the message says which pod and why; the volume keeps
  everything;
- once a launch has begun the pod is left alone: the runner stops it when training ends, and if
  the launch did not get as far as the runner, the pod's idle guard (`pod.idle_timeout`) does;
- a second Ctrl+C (or SIGTERM) during that stop leaves the pod running and says how to stop it.

SIGTERM is handled as Ctrl+C for the whole command (`sigterm_as_interrupt`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from podreconcile.core.errors import PodreconcileError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.plan import Kind
from podreconcile.core.ports import Provider
from podreconcile.engine import retry
from podreconcile.engine.pod_stop import stop_until_stopped
from podreconcile.engine.state_file import StateFile

MAKES_POD = frozenset({Kind.CREATE_POD, Kind.REPLACE_POD})
STOP_DEADLINE = 60.0


class Terminated(KeyboardInterrupt):
    """SIGTERM: ends the command the way Ctrl+C does."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Reporter(Protocol):
    def step(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


@dataclass
class BillingGuard:
    provider: Provider
    states: StateFile
    report: Reporter
    began: Callable[[], list[Kind]]  # the kinds of the actions the apply has begun, in order
    pod_before: PodFacts | None  # our pod as observed before the apply; None: there was none
    stop_command: str  # how the user stops the pod by hand, e.g. `podreconcile stop`

    def __enter__(self) -> "BillingGuard":
        return self

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or not isinstance(error, (Exception, KeyboardInterrupt)):
            return False
        pods = self._pods_to_stop()
        try:
            for pod_id, verb in pods:
                self._stop(pod_id, verb, _why(error))
        except KeyboardInterrupt:
            ids = ", ".join(pod_id for pod_id, _ in pods)
            self.report.warn(f"interrupted again: pod {ids} is left RUNNING and billing; stop it with: "
                             f"{self.stop_command}")
        return False  # the original error (or interrupt) goes on

    def _pods_to_stop(self) -> list[tuple[str, str]]:
        """(pod id, "created" | "started" | "restarted") for the pods this apply made run and may stop."""
        began = self.began()
        created = any(k in MAKES_POD for k in began)
        started = Kind.START_POD in began and (self.pod_before is None or
                                               self.pod_before.status is not PodStatus.RUNNING)
        # An update of a running pod restarts it: a new container, with no run and no idle guard yet.
        restarted = Kind.UPDATE_POD in began and self.pod_before is not None and self.pod_before.status.is_up
        if not (created or started or restarted):
            return []
        state = self.states.read()
        ids = [state.pod_id] if state.pod_id else self._pending_creates(state.create_pending)
        if not ids:
            return []
        if Kind.LAUNCH_RUN in began:
            self.report.warn(f"left pod {', '.join(ids)} running: a run was being launched on it, and its runner "
                             "stops the pod when training ends (the pod's idle guard does if the run did not start)")
            return []
        verb = "created" if created else "started" if started else "restarted"
        return [(pod_id, verb) for pod_id in ids]

    def _pending_creates(self, name: str | None) -> list[str]:
        """A create that was cut off may still have made the pod: look for it by its name."""
        if not name:
            return []
        try:
            pods = retry.call(self.provider.list_pods, deadline=30)
        except PodreconcileError:
            return []
        return [p.id for p in pods if p.name == name and p.status is not PodStatus.TERMINATED]

    def _stop(self, pod_id: str, verb: str, why: str) -> None:
        self.report.step(f"stopping pod {pod_id} (Ctrl+C again leaves it running)")
        try:
            stop_until_stopped(self.provider, pod_id, deadline=STOP_DEADLINE)
        except PodreconcileError as error:
            self.report.warn(f"could not stop pod {pod_id}, which this apply {verb} ({error}); it may still be "
                             f"billing: stop it with: {self.stop_command}")
            return
        self.report.step(f"stopped pod {pod_id}, which this apply {verb}, because {why}; "
                         "the volume keeps everything")


def _why(error: BaseException) -> str:
    if isinstance(error, Terminated):
        return "apply was terminated (SIGTERM)"
    if isinstance(error, KeyboardInterrupt):
        return "apply was interrupted (Ctrl+C)"
    return "apply failed (the error follows)"
