"""Observation: the facts plan needs, in one API call and one SSH round trip per source.

`Connection` holds the command run's one SSH session. It is opened for the pod's current start and
reused for every remote step; a new start (new port, new host keys) needs a new one. Host keys are
trusted on first use per start and pinned for the rest of it: a change within a start is fatal.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.observation import (
    CodeFacts,
    DataFacts,
    Observation,
    PodFacts,
    PodStatus,
)
from podreconcile.core.ownership import identify_pod
from podreconcile.core.ports import PodShell, Provider, ShellConnector
from podreconcile.core.state import HostKey, State
from podreconcile.engine import codesync, datasync, gitsync, pod_steps, retry
from podreconcile.engine.early_ssh import EarlySession, parse_endpoint
from podreconcile.engine.project import Project

SSH_DEADLINE = 600.0  # a cold image pull on RunPod takes minutes before sshd answers
EARLY_TIMEOUT = 10.0  # the early handshake's own bound; the regular connect retries after it


class Connection:
    def __init__(self, project: Project, connect: ShellConnector, persist_host_key: bool) -> None:
        self.project = project
        self._connect = connect
        self.persist = persist_host_key
        self._session: PodShell | None = None
        self._start: str | None = None
        self._early: EarlySession | None = None

    def connect_early(self, state: State) -> None:
        """Start the handshake to the last known start's endpoint now; `session` takes it if the pod is still there."""
        known = state.host_key
        endpoint = parse_endpoint(state.ssh_endpoint) if known else None
        if endpoint is None or self._session or self._early:
            return
        key = self.project.ssh_key()
        self._early = EarlySession(known.start, endpoint, lambda: self._connect(
            endpoint, key, pinned_key=known.key, timeout=EARLY_TIMEOUT))

    def session(self, pod: PodFacts, deadline: float = SSH_DEADLINE) -> PodShell:
        if self._session and self._start == pod.start_identity and self._session.is_alive():
            return self._session
        early, self._early = self._early, None
        self.close()
        if pod.ssh is None:
            if early:
                early.abandon()
            raise TemporaryError(f"pod {pod.id} has no SSH port yet")
        if early:
            session = self._take(early, pod)
            if session:
                return session
        state = self.project.state_file.read()
        pinned = state.host_key.key if state.host_key and state.host_key.start == pod.start_identity else None
        key = self.project.ssh_key()
        session = retry.call(lambda: self._connect(pod.ssh, key, pinned_key=pinned), deadline=deadline,
                             first_wait=0.25, max_wait=4.0)
        if self.persist and (pinned is None or state.ssh_endpoint != str(pod.ssh)):
            self.project.state_file.write(self.project.state_file.read().with_(
                host_key=HostKey(pod.start_identity, session.host_key), ssh_endpoint=str(pod.ssh)))
        self._session, self._start = session, pod.start_identity
        return session

    def _take(self, early: EarlySession, pod: PodFacts) -> PodShell | None:
        if early.start != pod.start_identity or early.endpoint != pod.ssh:
            early.abandon()  # another start: another port and host key
            return None
        session = early.take(EARLY_TIMEOUT)
        if session is None or not session.is_alive():
            if session:
                session.close()
            return None
        self._session, self._start = session, pod.start_identity
        return session

    def close(self) -> None:
        if self._session:
            self._session.close()
        if self._early:
            self._early.abandon()
        self._session = self._start = self._early = None


def wait_for_ssh_port(provider: Provider, pod_id: str, on_wait: Callable[[str], None] = lambda _: None,
                      deadline: float = SSH_DEADLINE, sleep=time.sleep) -> PodFacts:
    """Poll the pod, backing off from 0.25 s, until RunPod reports its SSH port."""
    started, wait = time.monotonic(), 0.25
    while True:
        pod = retry.call(lambda: provider.get_pod(pod_id), deadline=60)
        if pod is None or pod.status is PodStatus.EXITED:
            raise PermanentError(f"Pod {pod_id} {'vanished' if pod is None else 'stopped'} while booting.")
        if pod.ssh is not None:
            return pod
        elapsed = time.monotonic() - started
        if elapsed > deadline:
            raise PermanentError(f"Pod {pod_id} had no SSH port after {deadline:.0f} s; check its logs in the RunPod console.")
        on_wait(f"waiting for pod {pod_id} to boot and open SSH")
        sleep(wait)
        wait = min(wait * 1.6, 5.0)


def paths(project: Project) -> pod_steps.RunPaths:
    return pod_steps.RunPaths(project.mount, project.run_name, project.spec.code.path, project.output_dir)


def observe(project: Project, provider: Provider, state: State, conn: Connection, *,
            legacy_pod_id: str | None = None, adopt_pod_id: str | None = None,
            ssh_deadline: float = 30.0) -> Observation:
    """Gather the world: every pod of the account (one call), then the run over SSH if reachable."""
    conn.connect_early(state)  # the handshake overlaps the API call
    pods, volumes = retry.call(provider.account, deadline=60)
    pods, volumes = tuple(pods), tuple(volumes)
    pod = identify_pod(project.spec.pod_name, state, pods, legacy_pod_id, adopt_pod_id).pod
    local = Observation(pods=pods, volumes=volumes, code=local_code(project), data=local_data(project))
    if pod is None or pod.status is not PodStatus.RUNNING or pod.ssh is None:
        return local
    try:
        session = conn.session(pod, deadline=ssh_deadline)
        # Three commands on three channels of the one connection at once: one round trip, not three.
        with ThreadPoolExecutor(3, thread_name_prefix="observe") as pool:
            run = pool.submit(pod_steps.probe, session, paths(project), project.spec.run.venv)
            code = pool.submit(compared_code, project, session)
            data = pool.submit(compared_data, project, session)
            run, code, data = run.result(), code.result(), data.result()
    except TemporaryError as error:
        return replace(local, notes=(f"SSH did not answer: {error}",))
    return replace(local, run=run, code=code, data=data)


def local_code(project: Project) -> CodeFacts:
    rev = codesync.revision(project.dir)
    return CodeFacts(revision=str(rev), dirty=rev.dirty)


def compared_code(project: Project, session: PodShell) -> CodeFacts:
    if project.spec.code.sync == "git":
        rev = codesync.revision(project.dir)
        return CodeFacts(revision=rev.commit, dirty=rev.dirty, files_to_send=0, bytes_to_send=0, files_to_delete=0,
                         remote_revision=gitsync.remote_revision(session, project.spec.code.path))
    exclude = project.spec.code.exclude
    local = codesync.local_manifest(project.dir, exclude)
    remote = codesync.remote_manifest(session, project.spec.code.path, local.keys())
    diff = codesync.plan_sync(local, remote, exclude)
    rev = codesync.revision(project.dir)
    return CodeFacts(revision=str(rev), dirty=rev.dirty, files_to_send=len(diff.send),
                     bytes_to_send=diff.bytes_to_send, files_to_delete=len(diff.delete),
                     remote_revision=remote.revision)


def local_data(project: Project) -> DataFacts | None:
    if not project.spec.data:
        return None
    files = datasync.local_data(project.dir, project.spec.data)
    return DataFacts(files_total=len(files), bytes_total=sum(f.size for f in files))


def data_diff(project: Project, session: PodShell) -> datasync.UploadDiff:
    """The data files missing or changed on the volume: one listing round trip for every entry."""
    local = datasync.local_data(project.dir, project.spec.data)
    remote = datasync.remote_listing(session, [item.to for item in project.spec.data])
    return datasync.plan_upload(local, remote)


def compared_data(project: Project, session: PodShell) -> DataFacts | None:
    if not project.spec.data:
        return None
    diff = data_diff(project, session)
    return DataFacts(diff.files_total, diff.bytes_total, len(diff.send), diff.bytes_to_send)
