"""Apply: carry out a plan action by action, observing again after each one.

The executors do what their action says and nothing else. After every step the world is observed and
planned again; the next step is the fresh plan's first action, and apply stops with a clear message
when that action is of a kind the reviewed plan did not foresee.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Observation, PodFacts
from podreconcile.core.plan import Action, Kind, LaunchMode, Plan
from podreconcile.core.planner import Options
from podreconcile.core.planner import plan as make_plan
from podreconcile.core.ports import (
    CreateRequest,
    HostGpusBusyError,
    NoCapacityError,
    Provider,
)
from podreconcile.core.state import LastRun
from podreconcile.engine import codesync, datasync, gitsync, pod_steps, retry, volume_sync, volume_upload
from podreconcile.engine.observe import (
    Connection,
    data_diff,
    observe,
    paths,
    wait_for_ssh_port,
)
from podreconcile.engine.project import Project
from podreconcile.engine.state_file import StateFile, now

MAX_STEPS = 16


class Reporter(Protocol):
    def step(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def waiting(self, message: str) -> None: ...
    def transfer(self, progress: datasync.Progress) -> None: ...


@dataclass
class Applier:
    project: Project
    provider: Provider
    conn: Connection
    report: Reporter
    options: Options
    last: Observation | None = None

    @property
    def states(self) -> StateFile:
        return self.project.state_file

    # ---- the loop ----

    def run(self, reviewed: Plan) -> Plan:
        """Execute `reviewed`, re-planning after each step; returns the final (converged) plan."""
        allowed = set(reviewed.kinds()) | {Kind.STOP_POD}
        if Kind.START_POD in allowed:
            allowed.add(Kind.REPLACE_POD)  # a host without a free GPU is foreseeable on any start
        current, refused, done = reviewed, False, []
        for _ in range(MAX_STEPS):
            if not current.actions:
                break
            action = current.actions[0]
            if action.kind not in allowed:
                raise UserError(f"Reality moved since the plan: now it needs to {action.kind.value.replace('_', ' ')} "
                                f"({action.reason}); run `podreconcile plan` to review, then apply again.")
            if done.count(action.kind) >= 2 and action.kind is not Kind.STOP_POD:
                raise PermanentError(f"{action.kind.value} did not take effect after two tries; see `podreconcile status`.")
            refused = self.execute(action)
            done.append(action.kind)
            if action.kind is Kind.LAUNCH_RUN:
                # The flag asked for this launch; planning again with it would ask for another one.
                self.options = replace(self.options, force_restart=False)
            obs = self.observe()
            current = make_plan(self.project.desired(), self.states.read(), replace(obs, start_refused=refused), self.options)
        if current.actions:
            raise PermanentError(f"apply did not converge after {MAX_STEPS} steps (next: {current.actions[0].kind.value}); "
                                 "see `podreconcile plan`.")
        if current.blocker:
            raise UserError(current.blocker)
        return current

    def observe(self) -> Observation:
        """Observe, and remember the run's outcome so a later plan knows it while the pod is stopped."""
        obs = observe(self.project, self.provider, self.states.read(), self.conn,
                      legacy_pod_id=self.options.legacy_pod_id, adopt_pod_id=self.options.adopt_pod_id)
        status = obs.run.status if obs.run else None
        if status is not None and status.run == self.project.run_name:
            self._save(last_run=LastRun(self.project.run_name, status.state.value, status.attempt,
                                        status.exit_code, now()))
        self.last = obs
        return obs

    # ---- executors ----

    def execute(self, action: Action) -> bool:
        """Carry out one action; True when a start was refused for want of a free GPU on the host."""
        self.report.step(f"{action.kind.value.replace('_', ' ')}: {action.reason}")
        handler: Callable[[Action], bool | None] = getattr(self, f"_do_{action.kind.value}")
        return bool(handler(action))

    def _do_adopt_pod(self, action: Action) -> None:
        # The name it has now is the one ownership accepts from here on (`--adopt` of a pod named otherwise).
        pod = retry.call(lambda: self.provider.get_pod(action.pod_id))
        if pod is None:
            raise PermanentError(f"Pod {action.pod_id} vanished before it could be adopted; run `podreconcile plan`.")
        self._save(pod_id=action.pod_id, pod_name=pod.name, pod_config=None, host_key=None)

    def _do_create_pod(self, action: Action) -> None:
        self._create(action.gpu_types, action.data_center)

    def _do_replace_pod(self, action: Action) -> None:
        retry.call(lambda: self.provider.terminate_pod(action.pod_id))
        self._save(pod_id=None, pod_config=None, host_key=None)
        self.report.info(f"terminated pod {action.pod_id}")
        self._create(action.gpu_types, action.data_center)

    def _do_start_pod(self, action: Action) -> bool:
        pod = self.project.spec.pod
        bid = pod.bid_per_gpu if pod.interruptible else None
        try:
            retry.call(lambda: self.provider.resume_pod(action.pod_id, pod.gpu_count, bid))
        except HostGpusBusyError:
            self.report.warn(f"pod {action.pod_id} cannot start: its host has no free GPU")
            return True
        return False

    def _do_stop_pod(self, action: Action) -> None:
        retry.call(lambda: self.provider.stop_pod(action.pod_id))

    def _do_terminate_pod(self, action: Action) -> None:
        retry.call(lambda: self.provider.terminate_pod(action.pod_id))
        self.states.remove()

    def _do_sync_code(self, action: Action) -> None:
        session = self.conn.session(self._running_pod())
        code = self.project.spec.code
        if code.sync == "git":
            self._git_pull(session)
            return
        result = codesync.sync_code(session, self.project.dir, code.path, code.exclude)
        if result.dirty:
            self.report.warn("uncommitted changes were synced; the pod runs code that no commit holds")
        self.report.info(f"synced {result.files_sent} file(s), {result.bytes_sent} bytes; "
                         f"deleted {result.files_deleted}; revision {result.revision}")

    def _git_pull(self, session) -> None:
        code = self.project.spec.code
        revision = gitsync.pull(session, code.path, code.repo)
        local = codesync.revision(self.project.dir)
        if revision != local.commit:
            # The pod must run the commit the user reviewed; a pull cannot reach an unpushed one.
            raise UserError(f"The pod pulled {revision}, but your checkout is at {local.commit}; push (or pull) "
                            "so both are at the same commit, then apply again.")
        self.report.info(f"the pod's checkout is at {revision}")

    def _do_upload_data(self, action: Action) -> None:
        if action.via == "s3":
            _, volume = volume_sync.store(self.project, self.conn, self.provider, self.last.volumes if self.last else None)
            if volume is None:
                raise PermanentError("The plan uploads data through RunPod's S3 API, which no longer reaches the "
                                     "volume; run `podreconcile plan` again.")
            volume_sync.upload_data(self.project, volume, self.report)
            return
        session = self.conn.session(self._running_pod())
        diff = data_diff(self.project, session)
        if not diff.send:
            self.report.info("the volume already holds every data file")
            return
        result = datasync.upload(session, diff, key_path=self.project.ssh_key(), progress=self.report.transfer)
        volume_upload.record_rate(self.project, result.bytes_sent, result.seconds)
        rate = result.bytes_sent / result.seconds / 1e6 if result.seconds else 0
        self.report.info(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes "
                         f"in {result.seconds:.1f} s ({rate:.1f} MB/s, {result.method})")

    def _do_launch_run(self, action: Action) -> None:
        session = self.conn.session(self._running_pod())
        launch = self._launch_document(action.mode or LaunchMode.AUTO)
        pod_steps.launch(session, paths(self.project), launch)
        self.report.info(f"training started in tmux session `{pod_steps.SESSION}` (launch {launch['launch_id']})")

    # ---- helpers ----

    def _create(self, gpu_types: tuple[str, ...], data_center: str | None) -> None:
        spec = self.project.spec
        self._save(create_pending=spec.pod_name)
        for gpu in gpu_types:
            try:
                pod_id = self._create_once(self._request(gpu, data_center))
            except NoCapacityError:
                self.report.warn(f"no capacity for {gpu}; trying the next GPU type")
                continue
            config = {k: v for k, v in self.project.desired().pod_config.items()}
            self._save(pod_id=pod_id, pod_name=spec.pod_name, pod_config={**config, "gpu_type_id": gpu},
                       create_pending=None, host_key=None, last_run=None)
            self.report.info(f"created pod {pod_id} ({gpu})")
            return
        self._save(create_pending=None)
        raise UserError(f"No capacity for any of pod.gpu_types ({', '.join(gpu_types)}) in {spec.pod.cloud} cloud "
                        "right now; add another GPU type to pod.gpu_types, or apply again later.")

    def _create_once(self, request: CreateRequest) -> str:
        """Create, never blindly twice: after a timeout or 5xx the pod may exist, so look by name first."""
        def attempt() -> str:
            found = [p for p in self.provider.list_pods() if p.name == request.name]
            if found:
                return found[0].id
            try:
                return self.provider.create_pod(request)
            except TemporaryError:
                self.report.warn("create did not answer cleanly; looking for the pod by name before trying again")
                raise
        return retry.call(attempt, deadline=300)

    def _request(self, gpu: str, data_center: str | None) -> CreateRequest:
        pod = self.project.spec.pod
        return CreateRequest(
            name=self.project.spec.pod_name, image=pod.image, gpu_type_id=gpu, gpu_count=pod.gpu_count,
            cloud=pod.cloud, interruptible=pod.interruptible, bid_per_gpu=pod.bid_per_gpu,
            container_disk_gb=pod.container_disk_gb, volume_gb=pod.volume_gb or 0,
            volume_mount_path=pod.volume_mount_path, ports=",".join(pod.ports),
            env={**pod.env, "PUBLIC_KEY": self.project.public_key()}, network_volume_id=pod.network_volume,
            data_center_id=data_center,
        )

    def _running_pod(self) -> PodFacts:
        """Our pod with its SSH port: from the last observation, or polled while it boots."""
        pod_id = self.states.read().pod_id
        if pod_id is None:
            raise PermanentError("No pod is recorded in the state file to reach over SSH.")
        seen = next((p for p in self.last.pods if p.id == pod_id), None) if self.last else None
        if seen is not None and seen.ssh is not None:
            return seen
        return wait_for_ssh_port(self.provider, pod_id, on_wait=self.report.waiting)

    def _launch_document(self, mode: LaunchMode) -> dict:
        spec, run = self.project.spec, self.project.spec.run
        return {
            "run_name": self.project.run_name,
            "mount": self.project.mount,
            "code_path": spec.code.path,
            "output_dir": self.project.output_dir,
            "command": run.command.format(config=run.config),
            "resume_args": run.resume_args,
            "mode": "force_restart" if mode is LaunchMode.FORCE_RESTART else "auto",
            "setup": run.setup,
            "venv": run.venv,
            "stop_pod_when_done": run.stop_pod_when_done,
            "max_runtime_s": run.max_runtime,
            "revision": str(codesync.revision(self.project.dir)),
            "launch_id": secrets.token_hex(6),
            "api_url_fallback": None,
            # Seconds between the last log line and the pod stop: an attached follower reads it first.
            "stop_delay_s": 3,
        }

    def _save(self, **changes) -> None:
        self.states.write(self.states.read().with_(**changes))
