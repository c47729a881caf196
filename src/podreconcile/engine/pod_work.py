"""The pod-side work of observe and apply, behind one small seam.

`PodWork` is what observe and apply need from a pod and the local project: look at the run, the
code and the data; sync the code; upload the data; launch. `SshPodWork` does it over the command
run's one SSH connection; a unit test hands apply a fake, so it needs no SSH.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Protocol

from podreconcile.core.errors import UserError
from podreconcile.core.observation import CodeFacts, DataFacts, PodFacts
from podreconcile.core.ports import PodShell
from podreconcile.core.run_observation import RunFacts
from podreconcile.core.state import State
from podreconcile.engine import (
    codesync,
    datasync,
    gitsync,
    idle_guard,
    pod_steps,
    volume_upload,
)
from podreconcile.engine.early_ssh import EARLY_TIMEOUT, EarlySession
from podreconcile.engine.observe import (
    Connection,
    compared_code,
    compared_data,
    data_diff,
    local_code,
    local_data,
    paths,
)


class PodWork(Protocol):
    guard_problem: str | None  # why the pod's idle guard is not armed, if it is not
    volume: object | None  # engine.volume_access.VolumeAccess: the network volume through S3, or None

    def local(self) -> tuple[CodeFacts, DataFacts | None]: ...
    def connect_early(self, state) -> None: ...  # start the SSH handshake to the last known endpoint
    def look(self, pod: PodFacts, deadline: float | None) -> tuple[RunFacts, CodeFacts, DataFacts | None]: ...
    def sync_code(self, pod: PodFacts, say: Callable[[str], None], warn: Callable[[str], None]) -> None: ...
    def upload_data(self, pod: PodFacts, say: Callable[[str], None], progress) -> None: ...
    def launch(self, pod: PodFacts, document: dict) -> None: ...
    def revision(self) -> str: ...
    def close(self) -> None: ...


@dataclass
class _LookAhead:
    """The look begun on the early handshake's session (which start, where), before the API answered."""

    early: EarlySession
    session: Future  # PodShell | None
    facts: tuple[Future, Future, Future]  # run, code, data

    def matches(self, pod: PodFacts) -> bool:
        return self.early.start == pod.start_identity and self.early.endpoint == pod.ssh


class SshPodWork(Connection):
    """PodWork over SSH (the Connection it extends holds the session, pinned per pod start)."""

    _ahead: _LookAhead | None = None

    def local(self) -> tuple[CodeFacts, DataFacts | None]:
        return local_code(self.project), local_data(self.project)

    def connect_early(self, state: State) -> None:
        """The handshake to the last known endpoint, and the look on it as soon as it is up: the three
        commands only read, and their answers count only if the API then reports that same start."""
        if self._ahead is not None:
            return
        super().connect_early(state)
        early, self._early = self._early, None
        if early is None:
            return
        session = _in_background(lambda: early.take(EARLY_TIMEOUT))
        self._ahead = _LookAhead(early, session, self._look_on(lambda: _required(session)))

    def look(self, pod: PodFacts, deadline: float | None) -> tuple[RunFacts, CodeFacts, DataFacts | None]:
        facts = self._facts_ahead(pod)
        if facts is None:
            session = self.session(pod, deadline=deadline, arm=False)
            facts = self._look_on(lambda: session)
        run = facts[0].result()
        self._arm_unless_armed(run)
        return run, facts[1].result(), facts[2].result()

    def _facts_ahead(self, pod: PodFacts) -> tuple[Future, Future, Future] | None:
        """The look begun early, if it reached this very start; else None (and its session closed)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if not ahead.matches(pod):
            ahead.early.abandon()  # another start: another port and host key
            return None
        session = ahead.session.result()
        if session is None or not session.is_alive():
            if session:
                session.close()
            return None
        self.close()
        self._adopt(session, pod, arm=False)
        return ahead.facts

    def _look_on(self, session: Callable[[], PodShell]) -> tuple[Future, Future, Future]:
        """Three commands on three channels of the one connection at once: one round trip, not three."""
        project = self.project
        return (_in_background(lambda: pod_steps.probe(session(), paths(project), project.spec.run.venv)),
                _in_background(lambda: compared_code(project, session())),
                _in_background(lambda: compared_data(project, session())))

    def _arm_unless_armed(self, run: RunFacts) -> None:
        """The probe read the pod's idle guard: arm it only if none runs or it runs with other settings."""
        wanted = idle_guard.settings(self.project.spec.pod.idle_timeout, self.project.mount, self.api_base_url)
        if idle_guard.armed(run, wanted):
            self.guard_problem = None
        else:
            self._arm_guard(self._session)

    def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.early.abandon()
            ahead.session.add_done_callback(lambda done: done.result() and done.result().close())
        super().close()

    def sync_code(self, pod: PodFacts, say, warn) -> None:
        session = self.session(pod)
        code = self.project.spec.code
        if code.sync == "git":
            revision = gitsync.pull(session, code.path, code.repo)
            local = codesync.revision(self.project.dir)
            if revision != local.commit:
                # The pod must run the commit the user reviewed; a pull cannot reach an unpushed one.
                raise UserError(f"The pod pulled {revision}, but your checkout is at {local.commit}; push (or "
                                "pull) so both are at the same commit, then apply again.")
            say(f"the pod's checkout is at {revision}")
            return
        result = codesync.sync_code(session, self.project.dir, code.path, code.exclude)
        if result.dirty:
            warn("uncommitted changes were synced; the pod runs code that no commit holds")
        say(f"synced {result.files_sent} file(s), {result.bytes_sent} bytes; "
            f"deleted {result.files_deleted}; revision {result.revision}")

    def upload_data(self, pod: PodFacts, say, progress) -> None:
        session = self.session(pod)
        diff = data_diff(self.project, session)
        if not diff.send:
            say("the volume already holds every data file")
            return
        # rsync is a connection of its own: only an upload large enough to pay for it uses it.
        result = datasync.upload(session, diff, key_path=self.project.ssh_key(), progress=progress,
                                 prefer_rsync=datasync.rsync_pays_off(diff))
        volume_upload.record_rate(self.project, result.bytes_sent, result.seconds)  # the plan's GPU-time estimate
        rate = result.bytes_sent / result.seconds / 1e6 if result.seconds else 0
        say(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes "
            f"in {result.seconds:.1f} s ({rate:.1f} MB/s, {result.method})")

    def launch(self, pod: PodFacts, document: dict) -> None:
        pod_steps.launch(self.session(pod), paths(self.project), document)

    def revision(self) -> str:
        return str(codesync.revision(self.project.dir))


def _required(session: Future) -> PodShell:
    """The early session for a command begun ahead; without one, the look ahead is simply not used."""
    shell = session.result()
    if shell is None:
        raise _NoEarlySession()
    return shell


class _NoEarlySession(Exception):
    pass


def _in_background(job: Callable[[], object]) -> Future:
    """`job` on a daemon thread: a look still waiting on a dead link never holds the command's exit."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(job())
            except BaseException as error:  # noqa: BLE001 - handed to whoever takes the result
                future.set_exception(error)

    threading.Thread(target=run, name="look", daemon=True).start()
    return future
