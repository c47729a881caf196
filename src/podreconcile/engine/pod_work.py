"""The pod-side work of observe and apply, behind one small seam.

`PodWork` is what observe and apply need from a pod and the local project: look at the run, the
code and the data; sync the code; upload the data; launch. `SshPodWork` does it over the command
run's one SSH connection; a unit test hands apply a fake, so it needs no SSH.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Protocol

from podreconcile.core.errors import UserError
from podreconcile.core.observation import CodeFacts, DataFacts, PodFacts
from podreconcile.core.run_observation import RunFacts
from podreconcile.engine import codesync, datasync, gitsync, pod_steps, volume_upload
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


class SshPodWork(Connection):
    """PodWork over SSH (the Connection it extends holds the session, pinned per pod start)."""

    def local(self) -> tuple[CodeFacts, DataFacts | None]:
        return local_code(self.project), local_data(self.project)

    def look(self, pod: PodFacts, deadline: float | None) -> tuple[RunFacts, CodeFacts, DataFacts | None]:
        session = self.session(pod, deadline=deadline)
        # Three commands on three channels of the one connection at once: one round trip, not three.
        with ThreadPoolExecutor(3, thread_name_prefix="look") as pool:
            run = pool.submit(pod_steps.probe, session, paths(self.project), self.project.spec.run.venv)
            code = pool.submit(compared_code, self.project, session)
            data = pool.submit(compared_data, self.project, session)
            return run.result(), code.result(), data.result()

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
        result = datasync.upload(session, diff, key_path=self.project.ssh_key(), progress=progress)
        volume_upload.record_rate(self.project, result.bytes_sent, result.seconds)  # the plan's GPU-time estimate
        rate = result.bytes_sent / result.seconds / 1e6 if result.seconds else 0
        say(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes "
            f"in {result.seconds:.1f} s ({rate:.1f} MB/s, {result.method})")

    def launch(self, pod: PodFacts, document: dict) -> None:
        pod_steps.launch(self.session(pod), paths(self.project), document)

    def revision(self) -> str:
        return str(codesync.revision(self.project.dir))
