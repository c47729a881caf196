"""The real planner and the real `Applier` against an in-memory model of RunPod and the pod-side runner.

The model holds pods (id, name, RUNNING/EXITED, the fields they were made with), the run on each
volume (status.json's state and attempt, checkpoints, whether a runner holds the lock), and a flag for
"the host has no free GPU". Apply reaches it only through the engine's seams: a fake `Provider`
(core/ports.py) for RunPod, and a fake `PodWork` (engine/pod_work.py) for the pod-side work (look at
the run, sync the code, launch), so no SSH is needed. The state file is the real one, in a temporary
project folder (on tmpfs when there is one).

Hypothesis walks the world through "time passes" events (a launched runner takes its lock, training
progresses, finishes or is preempted, possibly mid-save, the host's GPUs get busy, the state file is
lost, code or the spec's image is edited, the pod is terminated in the console) interleaved with
interrupted applies (the reviewed plan cut after its first action), then applies to the end as a
user would: plan, apply the reviewed plan, again until nothing is left, with training allowed to end
(and the user to apply again) after a launch.

Properties:
(a) from any reachable world, applying converges to an empty plan within a bounded number of applies,
    and apply never trips its own guards (a step that did not take effect, reality moving off the plan);
(b) never more than one live pod with the spec's name;
(c) no launch while the run is alive (planned or executed);
(d) a resume names the latest complete checkpoint, and the runner gets exactly it; a non-forced fresh
    launch never drops one;
(e) apply never executes an action absent from the reviewed plan, except the contingency the
    reviewed action showed.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podreconcile.core.errors import UserError
from podreconcile.core.observation import (
    CodeFacts,
    Endpoint,
    Observation,
    PodFacts,
    PodStatus,
    VolumeFacts,
)
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import Action, Contingency, Kind, LaunchMode, Plan, Reason
from podreconcile.core.planner import Options, plan
from podreconcile.core.ports import (
    CreateRequest,
    GpuOffer,
    HostGpusBusyError,
    StockLevel,
)
from podreconcile.core.run_observation import Checkpoint, RunFacts, RunState, RunStatus
from podreconcile.core.state import State
from podreconcile.engine.apply import Applier
from podreconcile.engine.project import Project, load_project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny"
GPUS = ("NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000")
NV = "nv-1"
MAX_APPLIES = 30  # a whole convergence, outcomes of up to three attempts included


# ---------------------------------------------------------------------------------- the model

@dataclass
class ModelRun:
    """One run's files on one volume, and its runner: starting (tmux up, lock not yet taken) or alive."""

    state: str | None = None  # status.json's state; None: no status.json yet
    attempt: int = 0
    exit_code: int | None = None
    status_launch: str | None = None  # status.json's launch_id: the launch of the last runner that started
    launch_id: str | None = None  # launch.json's launch_id: the latest launch apply made
    checkpoints: list[tuple[int, bool]] = field(default_factory=list)  # (step, complete)
    starting_on: str | None = None  # a runner's tmux session is up on this pod; the lock is still free
    alive_on: str | None = None  # a runner holds the run's lock on this pod
    code_rev: int | None = None  # the code revision synced to the volume

    def take_lock(self) -> None:
        """The starting runner takes the lock and writes its status: a new attempt."""
        self.attempt += 1
        self.state, self.exit_code, self.status_launch = "running", None, self.launch_id
        self.alive_on, self.starting_on = self.starting_on, None

    def latest_complete(self) -> int | None:
        steps = [s for s, complete in self.checkpoints if complete]
        return max(steps) if steps else None

    def next_step(self) -> int:
        """3, 15, 63, 255, ...: steps of every width, so text order and number order disagree."""
        return max((s for s, _ in self.checkpoints), default=0) * 4 + 3


@dataclass
class ModelPod:
    id: str
    name: str
    status: PodStatus
    booted: bool
    image: str
    gpu_type_id: str
    network_volume: str | None
    volume: str  # key of the volume holding the run's files


@dataclass
class World:
    project: Project
    pods: dict[str, ModelPod] = field(default_factory=dict)
    volumes: dict[str, ModelRun] = field(default_factory=dict)
    host_busy: bool = False
    local_rev: int = 1
    next_id: int = 1
    launches: int = 0
    runner_takes_lock_at_once: object = None  # () -> bool: drawn when apply launches

    # ---- the spec and the state file ----

    @property
    def desired(self):
        return self.project.desired()

    @property
    def state(self) -> State:
        return self.project.state_file.read()

    def lose_state(self) -> None:
        self.project.state_file.path.unlink(missing_ok=True)

    def edit_image(self, image: str) -> None:
        spec = self.project.spec
        self.project = replace(self.project, spec=spec.model_copy(update={"pod": spec.pod.model_copy(update={"image": image})}))

    # ---- queries ----

    def ours(self) -> ModelPod | None:
        pod = identify_pod(self.desired.pod_name, self.state, self.pod_facts()).pod
        return self.pods[pod.id] if pod else None

    def run_of(self, pod: ModelPod) -> ModelRun:
        return self.volumes.setdefault(pod.volume, ModelRun())

    def live_named(self) -> list[ModelPod]:
        return [p for p in self.pods.values() if p.name == self.desired.pod_name]

    def pod_facts(self) -> tuple[PodFacts, ...]:
        return tuple(self.facts_of(p) for p in self.pods.values())

    def facts_of(self, p: ModelPod) -> PodFacts:
        return PodFacts(id=p.id, name=p.name, status=p.status, image=p.image, gpu_type_id=p.gpu_type_id,
                        gpu_count=self.desired.pod_config["gpu_count"], interruptible=False,
                        network_volume_id=p.network_volume,
                        ssh=Endpoint("198.51.100.1", 30000 + int(p.id.split("-")[1]))
                        if p.status is PodStatus.RUNNING and p.booted else None)

    # ---- RunPod ----

    def create(self, image: str, gpu: str, network_volume: str | None) -> ModelPod:
        pod_id = f"pod-{self.next_id}"
        self.next_id += 1
        pod = ModelPod(pod_id, self.desired.pod_name, PodStatus.RUNNING, booted=False, image=image, gpu_type_id=gpu,
                       network_volume=network_volume, volume=network_volume or f"disk-{pod_id}")
        self.pods[pod_id] = pod
        self.host_busy = False  # a new pod lands on a host with a free GPU
        return pod

    def stop(self, pod: ModelPod) -> None:
        pod.status, pod.booted = PodStatus.EXITED, False
        run = self.volumes.get(pod.volume)
        if run and run.alive_on == pod.id:
            run.alive_on = None  # the runner dies with the pod; status.json still says running
        if run and run.starting_on == pod.id:
            run.starting_on = None

    def terminate(self, pod: ModelPod) -> None:
        self.stop(pod)
        del self.pods[pod.id]
        if pod.network_volume is None:
            self.volumes.pop(pod.volume, None)  # the pod's volume disk goes with it

    # ---- the runner ----

    def finish(self, run: ModelRun, ok: bool) -> None:
        pod = self.pods[run.alive_on]
        run.state, run.exit_code, run.alive_on = ("succeeded", 0, None) if ok else ("failed", 3, None)
        if self.desired.stop_pod_when_done:
            self.stop(pod)


# ---------------------------------------------------------------------------------- the fakes

class FakeRunPod:
    """core.ports.Provider over the model."""

    api_base_url = "http://runpod.fake"

    def __init__(self, world: World) -> None:
        self.world = world

    def account(self):
        return list(self.world.pod_facts()), [VolumeFacts(NV, "data", 50, "EU-RO-1")]

    def list_pods(self):
        return list(self.world.pod_facts())

    def get_pod(self, pod_id: str):
        pod = self.world.pods.get(pod_id)
        if pod is None:
            return None
        if pod.status is PodStatus.RUNNING:
            pod.booted = True  # apply waits for the port: the pod boots meanwhile
        return self.world.facts_of(pod)

    def create_pod(self, req: CreateRequest) -> str:
        assert not self.world.live_named(), "(b) create while a pod with the name exists"
        return self.world.create(req.image, req.gpu_type_id, req.network_volume_id).id

    def resume_pod(self, pod_id: str, gpu_count: int, bid_per_gpu=None) -> None:
        pod = self.world.pods[pod_id]
        if pod.status is PodStatus.RUNNING:
            return
        if self.world.host_busy:
            raise HostGpusBusyError("There are not enough free GPUs on the host machine to start this pod.")
        pod.status, pod.booted = PodStatus.RUNNING, False

    def stop_pod(self, pod_id: str) -> None:
        pod = self.world.pods.get(pod_id)
        if pod is None:
            return
        run = self.world.volumes.get(pod.volume)
        assert not (run and run.alive_on == pod.id and pod.id == self.world.state.pod_id), "stopped a live training"
        self.world.stop(pod)

    def terminate_pod(self, pod_id: str) -> None:
        if pod_id in self.world.pods:
            self.world.terminate(self.world.pods[pod_id])

    def gpu_prices(self, cloud: str, interruptible: bool):
        return {gpu: 0.5 for gpu in GPUS}

    def gpu_catalog(self, data_center, cloud: str, gpu_count: int = 1):
        return [GpuOffer(gpu, gpu, 48, 0.5, StockLevel.HIGH) for gpu in GPUS]

    def patch_pod(self, pod_id: str, patch):
        pod = self.world.pods[pod_id]
        assert patch.changed(), "an empty update"
        if patch.image is not None:
            pod.image = patch.image  # RunPod reports it at once; the container takes it at its next start
        return self.world.facts_of(pod)

    def restart_pod(self, pod_id: str) -> None:
        pod = self.world.pods[pod_id]
        assert pod.status is PodStatus.RUNNING, "restarted a pod that is not running"
        self.world.stop(pod)  # a live training dies with the container, as in a stop
        pod.status, pod.booted = PodStatus.RUNNING, False


class FakePodWork:
    """engine.pod_work.PodWork over the model: what the probe, code sync and launch would do."""

    guard_problem = None
    volume = None  # no S3 in the model

    def connect_early(self, state) -> None:
        pass  # no handshakes in the model

    def __init__(self, world: World) -> None:
        self.world = world
        self.launched: list[dict] = []

    def local(self):
        return CodeFacts(revision=self.revision(), dirty=False), None

    def revision(self) -> str:
        return f"rev{self.world.local_rev}"

    def look(self, facts: PodFacts, deadline: float):
        world = self.world
        run = world.run_of(world.pods[facts.id])
        status = None if run.state is None else RunStatus(
            run=world.project.run_name, state=RunState(run.state), attempt=run.attempt, exit_code=run.exit_code,
            started_at=None, ended_at=None, resumed_from=None, revision=None, launch_id=run.status_launch)
        alive = run.alive_on == facts.id
        run_facts = RunFacts(
            status=status, tmux_alive=alive or run.starting_on == facts.id, runner_alive=alive,
            checkpoints=tuple(Checkpoint(f"checkpoint-{s}", s, c) for s, c in sorted(run.checkpoints)),
            revision=None, log_tail=None, has_rsync=True, launch_id=run.launch_id)
        synced = run.code_rev == world.local_rev
        code = CodeFacts(revision=self.revision(), dirty=False, files_to_send=0 if synced else 3,
                         bytes_to_send=0 if synced else 999, files_to_delete=0,
                         remote_revision=f"rev{run.code_rev}" if run.code_rev else None)
        return run_facts, code, None

    def _on(self, facts: PodFacts) -> tuple[ModelPod, ModelRun]:
        pod = self.world.pods.get(facts.id)
        assert pod is not None and pod.status is PodStatus.RUNNING and pod.booted, "pod-side work on a pod not up"
        assert pod.id == self.world.state.pod_id, "pod-side work on a pod that is not ours"
        return pod, self.world.run_of(pod)

    def sync_code(self, facts: PodFacts, say, warn) -> None:
        self._on(facts)[1].code_rev = self.world.local_rev

    def upload_data(self, facts: PodFacts, say, progress) -> None:  # pragma: no cover - the model has no data
        raise AssertionError("the model's spec has no data")

    def launch(self, facts: PodFacts, document: dict) -> None:
        pod, run = self._on(facts)
        assert run.alive_on is None, "(c) launched while the run is alive"
        assert run.starting_on is None, "(c) launched while the last launch's runner is starting"
        assert run.code_rev == self.world.local_rev, "launched code that is not the current revision"
        assert run.state != "succeeded" or document["mode"] == "force_restart", "launched a run that already succeeded"
        latest = run.latest_complete()
        if document["mode"] == "resume":
            assert document["checkpoint"] == f"checkpoint-{latest}", "(d) the runner got another checkpoint"
        self.launched.append(document)
        self.world.launches += 1
        run.launch_id, run.starting_on = document["launch_id"], pod.id
        if self.world.runner_takes_lock_at_once and self.world.runner_takes_lock_at_once():
            run.take_lock()

    def close(self) -> None:
        pass


class Quiet:
    """The Reporter apply talks to; what it says is kept for the checks."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(message)

    info = warn = waiting = step

    def transfer(self, progress) -> None:
        pass


# ---------------------------------------------------------------------------------- the projects

@lru_cache(maxsize=None)
def template(network_volume: bool, stop_pod_when_done: bool) -> Project:
    """examples/tiny as a loaded project (without data, on a network volume or not), read once."""
    root = Path(tempfile.mkdtemp(prefix="model-template-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".podreconcile", ".runpod.env"))
    key = root / "key"
    key.write_text("not a real key\n")
    key.with_name("key.pub").write_text("ssh-ed25519 AAAA model\n")
    (root / ".runpod.env").write_text(f"SSH_KEY_PATH={key}\nRUNPOD_API_KEY=model\n")
    project = load_project(root / "podspec.yaml", environ={})
    spec = project.spec
    pod = spec.pod.model_copy(update={"network_volume": NV if network_volume else None,
                                      "volume_gb": None if network_volume else 5, "image": "image:0"})
    run = spec.run.model_copy(update={"stop_pod_when_done": stop_pod_when_done})
    return replace(project, spec=spec.model_copy(update={"pod": pod, "run": run, "data": []}))


def new_world(network_volume: bool, stop_pod_when_done: bool) -> World:
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="model-", dir=shm if shm.is_dir() else None))
    return World(replace(template(network_volume, stop_pod_when_done), dir=folder))


# ---------------------------------------------------------------------------------- checks

def check_world(world: World) -> None:
    assert len(world.live_named()) <= 1, "(b) two live pods with the spec's name"


def observe(world: World) -> Observation:
    """What a `plan` sees (observe.py through the fakes)."""
    from podreconcile.engine.observe import observe as real_observe

    return real_observe(world.project, FakeRunPod(world), world.state, FakePodWork(world))


def check_plan(world: World, result: Plan) -> None:
    for action in result.actions:
        assert action.reason.strip() and action.code is not None
    launches = [a for a in result.actions if a.kind is Kind.LAUNCH_RUN]
    assert len(launches) <= 1
    assert Kind.CREATE_POD not in result.kinds() or not world.live_named(), "(b) create beside a named pod"
    ours = world.ours()
    if ours and launches and Kind.REPLACE_POD not in result.kinds():
        run = world.run_of(ours)
        assert run.alive_on is None and run.starting_on is None, "(c) a launch planned while the run is alive"
        latest = run.latest_complete()
        if launches[0].mode is LaunchMode.RESUME:
            assert (launches[0].checkpoint, launches[0].step) == (f"checkpoint-{latest}", latest), "(d) resume"
        if launches[0].mode is LaunchMode.FRESH:
            assert latest is None, "(d) a fresh launch would drop a complete checkpoint"


def check_only_reviewed(reviewed: Plan, executed: list[Action]) -> None:
    """(e) every executed action is a reviewed one, or the branch a reviewed action showed."""
    shown = {a.contingency for a in reviewed.actions if a.contingency}
    for action in executed:
        if action in reviewed.actions:
            continue
        if action.kind is Kind.REPLACE_POD and action.code is Reason.HOST_NO_FREE_GPU:
            assert Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU in shown, f"(e) unreviewed {action}"
        elif action.kind is Kind.STOP_POD and action.code is Reason.RUN_SUCCEEDED_POD_IDLE:
            assert Contingency.SKIP_IF_RUN_SUCCEEDED in shown, f"(e) unreviewed {action}"
        else:
            raise AssertionError(f"(e) apply executed an action that was not reviewed: {action}")


# ---------------------------------------------------------------------------------- driving

def apply(world: World, first_only: bool = False) -> Plan:
    """One `apply`: plan (reviewed), then the real Applier; `first_only`: interrupted after one action."""
    reviewed = plan(world.desired, world.state, observe(world), Options())
    check_plan(world, reviewed)
    if first_only:
        reviewed = Plan(reviewed.actions[:1])
    applier = Applier(world.project, FakeRunPod(world), FakePodWork(world), Quiet(), Options())
    try:
        final = applier.run(reviewed)
    finally:
        check_only_reviewed(reviewed, applier.executed)
        check_world(world)
    check_plan(world, final)
    return final


def time_passes(world: World, event: str) -> None:
    ours = world.ours()
    run = world.run_of(ours) if ours else None
    alive = run is not None and run.alive_on is not None
    if event == "runner_starts" and run and run.starting_on:
        run.take_lock()
    elif event == "progress" and alive:
        run.checkpoints.append((run.next_step(), True))
    elif event == "preempt_mid_save" and alive:
        run.checkpoints.append((run.next_step(), False))
        world.stop(world.pods[run.alive_on])
    elif event == "preempt" and ours and ours.status is PodStatus.RUNNING:
        world.stop(ours)
    elif event in ("succeed", "fail") and alive:
        world.finish(run, ok=event == "succeed")
    elif event == "boot" and ours:
        ours.booted = True
    elif event == "lose_state":
        world.lose_state()
    elif event == "host_busy":
        world.host_busy = not world.host_busy
    elif event == "edit_code":
        world.local_rev += 1
    elif event == "edit_image":
        world.edit_image(f"image:{world.local_rev + world.next_id}")
    elif event == "terminate" and ours:
        world.terminate(ours)


OUTCOMES = ("keeps running", "succeeds", "fails", "preempted")


def converge(world: World, data) -> None:
    """Apply to the end, as a user would: again after a busy host, again after training ends."""
    world.runner_takes_lock_at_once = lambda: data.draw(st.booleans(), label="runner took the lock before apply looked")
    endings_left = 3
    for _ in range(MAX_APPLIES):
        try:
            final = apply(world)
        except UserError as error:
            # Only a busy host without a network volume (no replacement branch) stops an apply here.
            assert "no free GPU" in str(error) and not world.desired.has_network_volume, error
            world.host_busy = False  # the user waits for the host to free a GPU, then applies again
            continue
        if final.actions:
            continue  # apply reported what the world needs now; the user reviews it and applies again
        assert final.blocker is None, final.blocker
        run = world.run_of(world.ours())
        if run.starting_on is not None:  # apply is done; a moment later the runner takes the lock
            run.take_lock()
            continue
        if run.alive_on is None:
            check_converged(world)
            return
        outcome = data.draw(st.sampled_from(OUTCOMES if endings_left else OUTCOMES[:2]), label="training")
        if outcome == "keeps running":
            check_converged(world)
            return
        endings_left -= outcome != "succeeds"
        for _ in range(data.draw(st.integers(0, 2), label="checkpoints saved")):
            run.checkpoints.append((run.next_step(), True))
        if outcome == "preempted":
            if data.draw(st.booleans(), label="cut mid-save"):
                run.checkpoints.append((run.next_step(), False))
            world.host_busy = data.draw(st.booleans(), label="host busy after")
            world.stop(world.pods[run.alive_on])
        else:
            world.finish(run, ok=outcome == "succeeds")
    raise AssertionError(f"no convergence after {MAX_APPLIES} applies")


def check_converged(world: World) -> None:
    (ours,) = world.live_named()
    assert world.state.pod_id == ours.id
    run = world.run_of(ours)
    final = plan(world.desired, world.state, observe(world), Options())
    assert final.empty, final
    if ours.image != world.desired.pod_config["image"]:
        # The replacement waits: for the end of a live run, or for the next run after a finished one.
        if run.alive_on is not None:
            assert final.deferred_code is Reason.RUN_ALIVE and "waits for the end of run" in final.notes[-1]
        else:
            assert run.state == "succeeded", "an outdated pod serves a run that is not done"
            assert final.deferred_code is Reason.RUN_DONE and any("image changed" in n for n in final.notes)
    if run.alive_on is not None:
        assert run.alive_on == ours.id and ours.status is PodStatus.RUNNING
    else:
        assert run.state == "succeeded", f"converged on a run that is {run.state}"
        assert ours.status is PodStatus.EXITED or not world.desired.stop_pod_when_done


EVENTS = ["apply"] * 10 + ["runner_starts"] * 3 + ["progress"] * 4 + ["preempt_mid_save", "preempt", "preempt", "succeed", "fail",
                          "boot", "lose_state", "host_busy", "host_busy", "edit_code", "edit_image", "terminate"]


def walk(world: World, *events: str) -> None:
    """Interrupted applies and time passing, in the given order."""
    for event in events:
        if event == "apply":
            try:
                apply(world, first_only=True)
            except UserError as error:
                assert "no free GPU" in str(error) and not world.desired.has_network_volume, error
        else:
            time_passes(world, event)
        check_world(world)


@settings(max_examples=150, deadline=None)
@given(network_volume=st.booleans(), stop_pod_when_done=st.booleans(),
       events=st.lists(st.sampled_from(EVENTS), max_size=40), data=st.data())
def test_any_reachable_world_converges_safely(network_volume, stop_pod_when_done, events, data) -> None:
    world = new_world(network_volume, stop_pod_when_done)  # no pods yet: a duplicate-free world
    try:
        walk(world, *events)
        converge(world, data)
    finally:
        shutil.rmtree(world.project.dir, ignore_errors=True)


# ---- a few walks spelled out, so a failure of the property has a readable neighbour ----

class Draws:
    """Stands in for hypothesis' data: training keeps running once launched; the runner is slow."""

    @staticmethod
    def draw(strategy, label=None):
        return False if label and "lock" in label else "keeps running"


def fresh_world(tmp_path, network_volume: bool, stop_pod_when_done: bool) -> World:
    return World(replace(template(network_volume, stop_pod_when_done), dir=tmp_path))


def test_first_apply_creates_syncs_and_launches_fresh(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=False, stop_pod_when_done=True)
    converge(world, Draws())
    (pod,) = world.live_named()
    assert world.run_of(pod).attempt == 1 and world.launches == 1


def test_preempted_run_is_resumed_on_the_same_pod(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=True, stop_pod_when_done=True)
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "progress", "preempt_mid_save")
    (pod,) = world.live_named()
    assert pod.status is PodStatus.EXITED
    result = plan(world.desired, world.state, observe(world), Options())
    assert result.kinds() == [Kind.START_POD, Kind.SYNC_CODE, Kind.LAUNCH_RUN]
    converge(world, Draws())
    assert world.run_of(pod).attempt == 2 and world.live_named() == [pod]


def test_busy_host_with_network_volume_moves_the_run_to_a_new_pod_as_the_plan_showed(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=True, stop_pod_when_done=True)
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "preempt", "host_busy")
    first = world.state.pod_id
    converge(world, Draws())
    (pod,) = world.live_named()
    assert pod.id != first
    assert world.run_of(pod).attempt == 2 and world.run_of(pod).checkpoints == [(3, True)]


def test_busy_host_without_the_branch_in_the_plan_stops_apply_naming_the_replacement(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=False, stop_pod_when_done=True)
    walk(world, "apply", "apply", "apply", "runner_starts", "preempt", "host_busy")
    first = world.state.pod_id
    try:
        apply(world)
    except UserError as error:
        assert f"replace pod {first}" in str(error) and "does not include" in str(error)
    else:
        raise AssertionError("apply took a branch the plan did not show")
    assert [p.id for p in world.live_named()] == [first]


def test_lost_state_adopts_the_pod_by_name(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=False, stop_pod_when_done=False)
    walk(world, "apply", "apply", "apply", "runner_starts", "succeed", "lose_state")
    assert plan(world.desired, world.state, observe(world), Options()).kinds() == [Kind.ADOPT_POD]
    converge(world, Draws())
    assert world.next_id == 2 and world.launches == 1  # one pod ever, one training


def test_a_run_that_succeeded_unwatched_is_not_launched_again_and_its_pod_stops(tmp_path) -> None:
    world = fresh_world(tmp_path, network_volume=True, stop_pod_when_done=True)
    walk(world, "apply", "apply", "apply", "runner_starts")
    apply(world)  # a detached apply: it saw the run alive and returned
    walk(world, "progress", "succeed")  # the run ends while nobody watches; the pod stops itself
    result = plan(world.desired, world.state, observe(world), Options())
    assert result.actions[-1].contingency is Contingency.SKIP_IF_RUN_SUCCEEDED
    final = apply(world)
    (pod,) = world.live_named()
    assert final.empty and pod.status is PodStatus.EXITED and world.launches == 1


def test_launch_observed_before_its_runner_took_the_lock_is_not_launched_again(tmp_path) -> None:
    # apply observes right after a launch: tmux is up, launch.json names the new launch, the lock is
    # still free and status.json is the last attempt's. A second launch would kill the runner.
    world = fresh_world(tmp_path, network_volume=True, stop_pod_when_done=False)
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "fail", "apply")
    run = world.run_of(world.ours())
    assert run.starting_on and run.state == "failed" and run.status_launch != run.launch_id
    result = plan(world.desired, world.state, observe(world), Options())
    assert result.empty and "starting" in result.summary
    walk(world, "runner_starts")
    assert run.attempt == 2 and run.alive_on == world.state.pod_id


@pytest.mark.parametrize("network_volume", [True, False])
def test_an_image_edit_under_a_live_run_waits_and_replace_now_restarts_and_resumes_from_the_reviewed_checkpoint(
        tmp_path, network_volume) -> None:
    world = fresh_world(tmp_path, network_volume=network_volume, stop_pod_when_done=False)
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "progress", "edit_image")
    before = world.ours().id
    waiting = plan(world.desired, world.state, observe(world), Options())
    assert waiting.empty and waiting.deferred_code is Reason.RUN_ALIVE
    reviewed = plan(world.desired, world.state, observe(world), Options(replace_now=True))
    assert reviewed.kinds() == [Kind.UPDATE_POD, Kind.SYNC_CODE, Kind.LAUNCH_RUN]
    work = FakePodWork(world)
    Applier(world.project, FakeRunPod(world), work, Quiet(), Options(replace_now=True)).run(reviewed)
    assert [(d["mode"], d["checkpoint"]) for d in work.launched] == [("resume", "checkpoint-15")]
    (pod,) = world.live_named()
    assert pod.image == world.desired.pod_config["image"] and pod.id == before, "updated in place, volume kept"
