"""Observation: the facts plan needs, in one API call and one SSH round trip per source.

`Connection` holds the command run's one SSH session. It is opened for the pod's current start and
reused for every remote step; a new start (new port, new host keys) needs a new one. Host keys are
trusted on first use per start and pinned for the rest of it: a change within a start is fatal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace

from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import (
    CodeFacts,
    DataFacts,
    Observation,
    PodFacts,
    PodStatus,
    VolumeFacts,
)
from podreconcile.core.ownership import identify_pod
from podreconcile.core.ports import PodShell, Provider, ShellConnector
from podreconcile.core.state import HostKey, State
from podreconcile.engine import (
    codesync,
    datasync,
    gitsync,
    idle_guard,
    pod_steps,
    retry,
    volume_observe,
)
from podreconcile.engine.early_ssh import EARLY_TIMEOUT, EarlySession, parse_endpoint
from podreconcile.engine.project import Project
from podreconcile.engine.volume_access import VolumeAccess

SSH_DEADLINE = 600.0  # a cold image pull on RunPod takes minutes before sshd answers
# Seconds to wait for a new pod's SSH (port, then sshd) instead of SSH_DEADLINE: a slower boot, or a shorter wait.
SSH_TIMEOUT_ENV = "PODRECONCILE_SSH_TIMEOUT"


def boot_deadline() -> float:
    """How long a booting pod may take to answer SSH: PODRECONCILE_SSH_TIMEOUT seconds, else SSH_DEADLINE."""
    raw = os.environ.get(SSH_TIMEOUT_ENV, "").strip()
    try:
        return float(raw) if raw and float(raw) > 0 else SSH_DEADLINE
    except ValueError:
        raise UserError(f"{SSH_TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 900, or unset it.") from None


class Connection:
    def __init__(self, project: Project, connect: ShellConnector, persist_host_key: bool,
                 api_base_url: str | None = None, volume: VolumeAccess | None = None) -> None:
        self.project = project
        self.api_base_url = api_base_url  # where the pod-side guard stops the pod (never a key)
        self._connect = connect
        self.persist = persist_host_key
        self.volume = volume or VolumeAccess(project)  # the network volume through S3, without a pod
        self._session: PodShell | None = None
        self._start: str | None = None
        self.guard_problem: str | None = None  # why the pod's idle guard is not armed, if it is not
        self._early: EarlySession | None = None

    def use_early(self, early: EarlySession | None) -> None:
        """A handshake begun before this connection existed (engine.early_ssh.begin), taken as this
        connection's early one."""
        if early is not None and self._early is None and self._session is None:
            self._early = early

    def connect_early(self, state: State) -> None:
        """Start the handshake to the last known start's endpoint now; `session` takes it if the pod is still there."""
        known = state.host_key
        endpoint = parse_endpoint(state.ssh_endpoint) if known else None
        if endpoint is None or self._session or self._early:
            return
        key = self.project.ssh_key()
        self._early = EarlySession(known.start, endpoint, lambda: self._connect(
            endpoint, key, pinned_key=known.key, timeout=EARLY_TIMEOUT))

    def session(self, pod: PodFacts, deadline: float | None = None, arm: bool = True) -> PodShell:
        if self._session and self._start == pod.start_identity and self._session.is_alive():
            return self._session
        early, self._early = self._early, None
        self.close()
        if pod.ssh is None:
            if early:
                early.abandon()
            raise TemporaryError(f"pod {pod.id} has no SSH port yet")
        if early:
            session = self._take(early, pod, arm)
            if session:
                return session
        state = self.project.state_file.read()
        pinned = state.host_key.key if state.host_key and state.host_key.start == pod.start_identity else None
        key = self.project.ssh_key()
        booting = deadline is None  # the full wait of a pod that may still boot, not a quick look
        deadline = boot_deadline() if booting else deadline
        try:
            session = retry.call(lambda: self._connect(pod.ssh, key, pinned_key=pinned), deadline=deadline,
                                 first_wait=0.25, max_wait=4.0)
        except TemporaryError as error:
            if not booting:
                raise
            raise PermanentError(
                f"Pod {pod.id} published its SSH port, but sshd did not answer within {deadline:.0f} s ({error}). "
                f"Its image {pod.image} may not start sshd: RunPod's images start it from the PUBLIC_KEY variable, "
                f"and a custom image must do the same; for a slower boot set {SSH_TIMEOUT_ENV} (seconds).") from None
        if self.persist and (pinned is None or state.ssh_endpoint != str(pod.ssh)):
            self.project.state_file.write(self.project.state_file.read().with_(
                host_key=HostKey(pod.start_identity, session.host_key), ssh_endpoint=str(pod.ssh)))
        return self._adopt(session, pod, arm)

    def _take(self, early: EarlySession, pod: PodFacts, arm: bool) -> PodShell | None:
        if early.start != pod.start_identity or early.endpoint != pod.ssh:
            early.abandon()  # another start: another port and host key
            return None
        session = early.take(EARLY_TIMEOUT)
        if session is None or not session.is_alive():
            if session:
                session.close()
            return None
        return self._adopt(session, pod, arm)

    def _adopt(self, session: PodShell, pod: PodFacts, arm: bool = True) -> PodShell:
        """Keep this connection, early or regular, and arm the pod's idle guard on it (unless the caller
        arms it only if the probe finds it unarmed: engine.pod_work's look)."""
        self._session, self._start = session, pod.start_identity
        if arm:
            self._arm_guard(session)
        return session

    def _arm_guard(self, session: PodShell) -> None:
        """The net under every command: a pod nobody uses stops itself (remote/runner/idle_guard.py)."""
        self.guard_problem = idle_guard.arm(session, self.project.spec.pod.idle_timeout, self.project.mount,
                                            self.api_base_url)

    def close(self) -> None:
        if self._session:
            self._session.close()
        if self._early:
            self._early.abandon()
        self._session = self._start = self._early = None


def wait_for_ssh_port(provider: Provider, pod_id: str, on_wait: Callable[[str], None] = lambda _: None,
                      deadline: float | None = None, sleep=time.sleep) -> PodFacts:
    """Poll the pod, backing off from 0.25 s, until RunPod reports its SSH port."""
    deadline = boot_deadline() if deadline is None else deadline
    started, wait = time.monotonic(), 0.25
    while True:
        pod = retry.call(lambda: provider.get_pod(pod_id), deadline=60)
        if pod is None or pod.status in (PodStatus.EXITED, PodStatus.ERROR, PodStatus.TERMINATED):
            how = "vanished" if pod is None else "stopped" if pod.status is PodStatus.EXITED else f"went {pod.status.value}"
            raise PermanentError(f"Pod {pod_id} {how} while booting.")
        if pod.ssh is not None:
            return pod
        elapsed = time.monotonic() - started
        if elapsed > deadline:
            raise PermanentError(f"Pod {pod_id} had no SSH port after {deadline:.0f} s; check its logs in the RunPod "
                                 f"console (for a slower boot set {SSH_TIMEOUT_ENV}, seconds).")
        on_wait(f"waiting for pod {pod_id} to boot and open SSH (up to {deadline:.0f} s)")
        sleep(wait)
        wait = min(wait * 1.6, 5.0)


def paths(project: Project) -> pod_steps.RunPaths:
    return pod_steps.RunPaths(project.mount, project.run_name, project.spec.code.path, project.output_dir)


def observe(project: Project, provider: Provider, state: State, work, *,
            legacy_pod_id: str | None = None, adopt_pod_id: str | None = None,
            ssh_deadline: float | None = 30.0) -> Observation:
    """Gather the world: every pod of the account (one call), then the run over SSH if reachable, or
    from the network volume through S3 when the pod is stopped or not made yet.

    `work` is the pod-side seam (engine.pod_work.PodWork): over SSH in a command, a fake in a unit test.
    """
    work.connect_early(state)  # the SSH handshake to the last known endpoint overlaps the API call
    pods, volumes = _account(project, provider)
    pod = identify_pod(project.spec.pod_name, state, pods, legacy_pod_id, adopt_pod_id).pod
    code, data = work.local()
    local = Observation(pods=pods, volumes=volumes, code=code, data=data)
    up = pod is not None and pod.status.is_up
    store = None
    if work.volume is not None:
        local = replace(local, notes=(volume_observe.access_note(work.volume.route(volumes), up),))
        store = work.volume.store(volumes)
    if not up:
        exited = pod is None or pod.status is PodStatus.EXITED
        return volume_observe.observe_volume(project, store, local) if store and exited else local
    # With S3, data is always compared there (size and ETag): a file uploaded through S3 has the
    # upload's mtime, which the SSH listing's (size, mtime) check would take for a change.
    s3_data = volume_observe.observe_data(project, store, local) if store else None
    if s3_data is not None:
        local = s3_data
    if pod.ssh is None:
        return local
    try:
        run, code, data = work.look(pod, ssh_deadline)
    except TemporaryError as error:
        return replace(local, notes=local.notes + (f"SSH did not answer: {error}",))
    notes = local.notes + ((work.guard_problem,) if work.guard_problem else ())
    return replace(local, run=run, code=code, data=local.data if s3_data is not None else data, notes=notes)


def _account(project: Project, provider: Provider) -> tuple[tuple[PodFacts, ...], tuple[VolumeFacts, ...] | None]:
    """Every pod of the account, and its network volumes only when the spec names one: one API call
    where one suffices."""
    if not project.spec.pod.network_volume:
        return tuple(retry.call(provider.list_pods, deadline=60)), None
    pods, volumes = retry.call(provider.account, deadline=60)
    return tuple(pods), tuple(volumes)


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
    remote = codesync.remote_manifest(session, project.spec.code.path, local)  # local: a compact reply
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
