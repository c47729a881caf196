"""Apply: carry out the reviewed plan's actions, in order, with their parameters.

The plan is the contract. Before each step apply observes again (after the first) and checks the
step against the fresh facts (core/preconditions.py): a step already done is skipped, with a line
saying so; a step whose assumptions no longer hold stops apply, naming the difference. A failed
step that can be repeated safely is tried once more. The only branches apply takes on its own are
the contingencies the plan showed. After the last reviewed action, a fresh plan that still has
actions is reported, not executed: the user reviews it and applies again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from podreconcile.core import gpu_choice, preconditions
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Observation, PodFacts
from podreconcile.core.plan import (
    CONTINGENCY_TEXT,
    Action,
    Contingency,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)
from podreconcile.core.planner import Options
from podreconcile.core.planner import plan as make_plan
from podreconcile.core.ports import (
    CreateRequest,
    HostGpusBusyError,
    NoCapacityError,
    PodPatch,
    Provider,
)
from podreconcile.core.state import STOPPED, LastRun
from podreconcile.engine import datasync, gpu_offers, retry, volume_sync
from podreconcile.engine.observe import observe, wait_for_ssh_port
from podreconcile.engine.pod_stop import stop_until_stopped
from podreconcile.engine.pod_work import PodWork
from podreconcile.engine.project import Project
from podreconcile.engine.state_file import StateFile, now

REPEATABLE = (Kind.START_POD, Kind.STOP_POD, Kind.SYNC_CODE, Kind.UPLOAD_DATA)  # safe to try twice
ON_THE_POD = (Kind.SYNC_CODE, Kind.UPLOAD_DATA, Kind.LAUNCH_RUN)


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
    conn: PodWork
    report: Reporter
    options: Options
    last: Observation | None = None
    saved_plan: str | None = None  # the file a reviewed plan came from, for messages
    executed: list[Action] = field(default_factory=list)  # what this apply did, in order
    started: set[str] = field(default_factory=set)  # pods this apply created or started
    began: list[Kind] = field(default_factory=list)  # every action begun, for billing_guard
    launch_id: str | None = None  # of the launch this apply made: the one follow waits to end
    follows: bool = False  # this apply follows the log after a launch: the runner waits for it to read the end

    @property
    def states(self) -> StateFile:
        return self.project.state_file

    # ---- the loop ----

    def run(self, reviewed: Plan) -> Plan:
        """Execute `reviewed`; returns the fresh plan after its last action (reported, never executed)."""
        obs = self.last or self.observe()
        for index, action in enumerate(reviewed.actions):
            if action.kind in ON_THE_POD and obs.run is None:
                obs = self._reachable(obs)
            if self._succeeded_after_all(reviewed, index, obs):
                obs = self._skip_the_launch(reviewed, obs)
                break
            obs = self._step(action, obs)
        fresh = self.plan(obs)
        if fresh.actions:
            pending = "; ".join(f"{a.kind.value.replace('_', ' ')} ({a.reason})" for a in fresh.actions)
            self.report.warn(f"the world now needs more than the reviewed plan: {pending}. Nothing of it was "
                             "done; review it with `podreconcile plan`, then apply again.")
            return fresh
        if fresh.blocker:
            raise UserError(fresh.blocker)
        return fresh

    def plan(self, obs: Observation) -> Plan:
        return make_plan(self.project.desired(), self.states.read(), obs, self.options)

    def _step(self, action: Action, obs: Observation) -> Observation:
        """One reviewed action: skipped when done, refused when the world moved, else done (twice at most)."""
        for attempt in (1, 2):
            if action.kind in ON_THE_POD and obs.run is None:
                obs = self._reachable(obs)
            state = self.states.read()
            done = preconditions.already_done(action, obs, state, self.plan(obs))
            if done:
                self.report.step(f"skipped {title(action)}: {done}")
                return obs
            moved = preconditions.difference(action, obs, state, self.project.spec.pod_name,
                                             self.project.run_name, self.options.legacy_pod_id)
            if moved:
                raise UserError(f"Stopped before {title(action)}: {moved}. Nothing else was changed; review the "
                                "new plan with `podreconcile plan`, then apply again.")
            if attempt == 2:
                self.report.warn(f"{title(action)} did not take effect; trying it once more")
            if self.execute(action):
                self._contingency(action)
                return self.observe()
            obs = self.observe()
            if action.kind not in REPEATABLE or obs.run is None and action.kind in ON_THE_POD:
                return obs
            if preconditions.already_done(action, obs, self.states.read(), self.plan(obs)):
                return obs
        raise PermanentError(f"{title(action)} did not take effect after two tries; see `podreconcile status`.")

    def _reachable(self, obs: Observation) -> Observation:
        """Wait for the pod's SSH (a pod that just started boots), then observe with the session open."""
        self._running_pod()
        return self.observe(ssh_deadline=None)  # a booting pod's full wait, ending in a clear error

    # ---- the branches the plan showed ----

    def _contingency(self, action: Action) -> None:
        """A start refused for want of a free GPU: replace the pod, only if the plan showed that branch."""
        if action.contingency is not Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU:
            where = f"the saved plan {self.saved_plan}" if self.saved_plan else "the reviewed plan"
            raise UserError(f"Pod {action.pod_id} cannot start: its host has no free GPU, so it would now need a "
                            f"replacement (replace pod {action.pod_id}), which {where} does not include; review it "
                            "with `podreconcile plan`, then apply again.")
        obs = self.observe()
        fresh = make_plan(self.project.desired(), self.states.read(), replace(obs, start_refused=True), self.options)
        fresh = gpu_choice.with_candidates(fresh, gpu_offers.read(self.provider, self.project.spec, fresh))
        branch = fresh.actions[0] if fresh.actions else None
        if branch is None or branch.kind is not Kind.REPLACE_POD or branch.code is not Reason.HOST_NO_FREE_GPU:
            raise UserError(fresh.blocker or f"Pod {action.pod_id} cannot start: its host has no free GPU; "
                                             "apply again later.")
        self.report.step(f"as the plan foresaw, {CONTINGENCY_TEXT[action.contingency]}")
        self.execute(branch)

    def _succeeded_after_all(self, reviewed: Plan, index: int, obs: Observation) -> bool:
        """A conditional launch ahead, and the volume, now readable, says the run succeeded."""
        rest = reviewed.actions[index:]
        conditional = any(a.contingency is Contingency.SKIP_IF_RUN_SUCCEEDED for a in rest)
        return conditional and rest[0].kind in ON_THE_POD and preconditions.run_succeeded(obs, self.project.run_name)

    def _skip_the_launch(self, reviewed: Plan, obs: Observation) -> Observation:
        status = obs.run.status
        self.report.step(f"skipped launch run: run {self.project.run_name} already succeeded (attempt "
                         f"{status.attempt}), as the plan allowed")
        pod_id = self.states.read().pod_id
        if pod_id in self.started:
            self.report.step(f"stopping pod {pod_id}, which this apply started only for the launch")
            self.execute(Action(Kind.STOP_POD, "the run had already succeeded", code=Reason.RUN_SUCCEEDED_POD_IDLE,
                                pod_id=pod_id))
            return self.observe()
        return obs

    def observe(self, ssh_deadline: float | None = 30.0) -> Observation:
        """Observe, and remember the run's outcome so a later plan knows it while the pod is stopped."""
        return self.start_from(observe(self.project, self.provider, self.states.read(), self.conn,
                                       legacy_pod_id=self.options.legacy_pod_id,
                                       adopt_pod_id=self.options.adopt_pod_id, ssh_deadline=ssh_deadline))

    def start_from(self, obs: Observation) -> Observation:
        """Take `obs` as the latest look (the one this command's plan was just made from, or a new one),
        remembering the run's outcome as every look does."""
        status = obs.run.status if obs.run else None
        if status is not None and status.run == self.project.run_name:
            state = STOPPED if status.stopped_by_signal else status.state.value
            self._save(last_run=LastRun(self.project.run_name, state, status.attempt,
                                        status.exit_code, now(), status.revision))
        self.last = obs
        return obs

    # ---- executors: each does what its action says, with the action's parameters ----

    def execute(self, action: Action) -> bool:
        """Carry out one action; True when a start was refused for want of a free GPU on the host."""
        self.began.append(action.kind)
        self.report.step(f"{title(action)}: {action.reason}")
        handler: Callable[[Action], bool | None] = getattr(self, f"_do_{action.kind.value}")
        refused = bool(handler(action))
        self.executed.append(action)
        return refused

    def _do_adopt_pod(self, action: Action) -> None:
        # The name it has now is the one ownership accepts from here on (`--adopt` of a pod named otherwise).
        pod = retry.call(lambda: self.provider.get_pod(action.pod_id))
        if pod is None:
            raise PermanentError(f"Pod {action.pod_id} vanished before it could be adopted; run `podreconcile plan`.")
        self._save(pod_id=action.pod_id, pod_name=pod.name, pod_config=None, host_key=None)

    def _do_create_pod(self, action: Action) -> None:
        self._create(action)

    def _do_replace_pod(self, action: Action) -> None:
        retry.call(lambda: self.provider.terminate_pod(action.pod_id))
        self._save(pod_id=None, pod_config=None, host_key=None)
        self.report.info(f"terminated pod {action.pod_id}")
        self._create(action)

    def _do_start_pod(self, action: Action) -> bool:
        pod = self.project.spec.pod
        bid = pod.bid_per_gpu if pod.interruptible else None
        try:
            retry.call(lambda: self.provider.resume_pod(action.pod_id, pod.gpu_count, bid))
        except HostGpusBusyError:
            self.report.warn(f"pod {action.pod_id} cannot start: its host has no free GPU")
            return True
        self.started.add(action.pod_id)
        recorded = self.states.read().pod_config
        if action.changes and recorded is not None:  # the fields applied at this start now hold
            self._save(pod_config={**recorded, **{c.field: c.new for c in action.changes}})
        return False

    def _do_update_pod(self, action: Action) -> None:
        """PATCH the fields the action names with the spec's values; restart if the plan said so."""
        fields = {c.field for c in action.changes}
        patch = self._patch(fields)
        retry.call(lambda: self.provider.patch_pod(action.pod_id, patch))
        recorded = self.states.read().pod_config
        if recorded is not None:  # what the pod is made with now
            desired = self.project.desired().pod_config
            self._save(pod_config={**recorded, **{f: desired[f] for f in fields if f in desired}})
        if action.restart:
            retry.call(lambda: self.provider.restart_pod(action.pod_id))
            self.report.info(f"restarted pod {action.pod_id} to take the changes (its volume disk stays)")
        else:
            self.report.info(f"pod {action.pod_id} takes the changes at its next start")

    def _patch(self, fields: set[str]) -> PodPatch:
        pod = self.project.spec.pod
        return PodPatch(
            image=pod.image if "image" in fields else None,
            # The env replaces the pod's whole env: PUBLIC_KEY must stay, or SSH is locked out after the restart.
            env={**pod.env, "PUBLIC_KEY": self.project.public_key()} if "env" in fields else None,
            ports=tuple(pod.ports) if "ports" in fields else None,
            container_disk_gb=pod.container_disk_gb if "container_disk_gb" in fields else None,
        )

    def _do_stop_pod(self, action: Action) -> None:
        stop_until_stopped(self.provider, action.pod_id, on_wait=self.report.warn)

    def _do_terminate_pod(self, action: Action) -> None:
        retry.call(lambda: self.provider.terminate_pod(action.pod_id))
        self.states.remove()

    def _do_sync_code(self, action: Action) -> None:
        self.conn.sync_code(self._running_pod(), self.report.info, self.report.warn)

    def _do_upload_data(self, action: Action) -> None:
        if action.via == "s3":
            _, volume = volume_sync.store(self.project, self.conn, self.provider, self.last.volumes if self.last else None)
            if volume is None:
                raise PermanentError("The plan uploads data through RunPod's S3 API, which no longer reaches the "
                                     "volume; run `podreconcile plan` again.")
            volume_sync.upload_data(self.project, volume, self.report)
            return
        self.conn.upload_data(self._running_pod(), self.report.info, self.report.transfer)

    def _do_launch_run(self, action: Action) -> None:
        launch = self._launch_document(action)
        self.conn.launch(self._running_pod(), launch)
        self.launch_id = launch["launch_id"]
        self.report.info(f"training started in tmux session `train` (launch {launch['launch_id']})")
        # The flag asked for this launch; planning again with it would ask for another one.
        self.options = replace(self.options, force_restart=False, replace_now=False)

    # ---- helpers ----

    def _create(self, action: Action) -> None:
        """One create per GPU candidate, in the plan's order; those the plan showed without stock are skipped."""
        spec = self.project.spec
        for skipped in (c for c in action.candidates if c.skipped):
            self.report.info(f"skipping {skipped.gpu}: no stock in RunPod's catalog when the plan was made")
        self._save(create_pending=spec.pod_name)
        for gpu in action.gpus_to_try:
            try:
                pod_id = self._create_once(self._request(gpu, action.data_center))
            except NoCapacityError:
                self.report.warn(f"no capacity for {gpu}; trying the next GPU type")
                continue
            config = {k: v for k, v in self.project.desired().pod_config.items()}
            self._save(pod_id=pod_id, pod_name=spec.pod_name, pod_config={**config, "gpu_type_id": gpu},
                       create_pending=None, host_key=None, last_run=None)
            self.started.add(pod_id)
            self.report.info(f"created pod {pod_id} ({gpu})")
            return
        self._save(create_pending=None)
        raise UserError(f"No capacity for any of pod.gpu_types ({', '.join(action.gpu_types)}) in {spec.pod.cloud} cloud "
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

    def _launch_document(self, action: Action) -> dict:
        """launch.json: the reviewed launch's mode and checkpoint are what the runner gets."""
        spec, run = self.project.spec, self.project.spec.run
        mode = {LaunchMode.FORCE_RESTART: "force_restart", LaunchMode.RESUME: "resume"}.get(action.mode, "auto")
        return {
            "run_name": self.project.run_name,
            "mount": self.project.mount,
            "code_path": spec.code.path,
            "output_dir": self.project.output_dir,
            "command": self.project.command,
            "resume_args": run.resume_args,
            "mode": mode,
            "checkpoint": action.checkpoint if action.mode is LaunchMode.RESUME else None,
            "setup": run.setup,
            "venv": run.venv,
            "stop_pod_when_done": run.stop_pod_when_done,
            "max_runtime_s": run.max_runtime,
            "revision": self.conn.revision(),
            "launch_id": secrets.token_hex(6),
            # Where the runner reads and stops its pod (v2 at <base>/v2, GraphQL at <base>/graphql); never a key.
            "api_base_url": self.provider.api_base_url,
            # Before its pod stop the runner waits for the attached followers to read the end (this
            # apply's own when it follows), at most this long: a hung follower cannot keep the GPU billing.
            "expect_follower": self.follows,
            "follower_wait_cap_s": 3,
            # The env names whose values the runner masks in the logs (names only, never values).
            "secret_env": list(spec.secret_env),
        }

    def _save(self, **changes) -> None:
        self.states.write(self.states.read().with_(**changes))


def title(action: Action) -> str:
    return action.kind.value.replace("_", " ")
