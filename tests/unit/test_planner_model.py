"""The real planner against an in-memory model of RunPod and the pod-side runner.

The model holds pods (id, name, RUNNING/EXITED, the fields they were made with), the run on each
volume (status.json's state and attempt, checkpoints, whether a runner holds the lock), a flag for
"the host has no free GPU", and the state file. A model executor carries out each planner action
the way `apply.py` does; model observation gathers facts the way `observe.py` does (and records the
run's outcome in the state file like `Applier.observe`).

Hypothesis walks the world through "time passes" events (a launched runner takes its lock, training
progresses, finishes or is preempted, possibly mid-save, the host's GPUs get busy, the state file is
lost, code or the spec's image is edited, the pod is terminated in the console) interleaved with
interrupted applies, then applies to the end: the first action of a fresh plan, observe again, and so
on, with training allowed to end (and the user to apply again) after a launch.

Properties:
(a) from any reachable world, applying converges to an empty plan within a bounded number of steps,
    without tripping apply's own guards (an action repeated twice, reality moving off the plan);
(b) never more than one live pod with the spec's name;
(c) no launch while the run is alive (planned or executed);
(d) a resume names the latest complete checkpoint; a non-forced fresh launch never drops one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from podreconcile.core.desired import Desired
from podreconcile.core.observation import (
    CodeFacts,
    Endpoint,
    Observation,
    PodFacts,
    PodStatus,
)
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import Action, Kind, LaunchMode, Plan
from podreconcile.core.planner import Options, plan
from podreconcile.core.run_observation import Checkpoint, RunFacts, RunState, RunStatus
from podreconcile.core.state import LastRun, State

NAME = "podreconcile-model"
RUN = "model-run"
GPUS = ("NVIDIA A40", "NVIDIA RTX A6000")
MAX_STEPS = 60  # a whole convergence, outcomes of up to three attempts included
MAX_SESSION_ACTIONS = 6  # one apply: adopt, start, replace, sync, launch, stop at most


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
    desired: Desired
    pods: dict[str, ModelPod] = field(default_factory=dict)
    volumes: dict[str, ModelRun] = field(default_factory=dict)
    state: State = field(default_factory=State)
    host_busy: bool = False
    local_rev: int = 1
    next_id: int = 1
    launches: int = 0

    # ---- queries ----

    def ours(self) -> ModelPod | None:
        pod = identify_pod(self.desired.pod_name, self.state, self.pod_facts()).pod
        return self.pods[pod.id] if pod else None

    def run_of(self, pod: ModelPod) -> ModelRun:
        return self.volumes.setdefault(pod.volume, ModelRun())

    def live_named(self) -> list[ModelPod]:
        return [p for p in self.pods.values() if p.name == self.desired.pod_name]

    def pod_facts(self) -> tuple[PodFacts, ...]:
        return tuple(
            PodFacts(id=p.id, name=p.name, status=p.status, image=p.image, gpu_type_id=p.gpu_type_id,
                     gpu_count=self.desired.pod_config["gpu_count"], interruptible=False,
                     network_volume_id=p.network_volume,
                     ssh=Endpoint("198.51.100.1", 30000 + int(p.id.split("-")[1]))
                     if p.status is PodStatus.RUNNING and p.booted else None)
            for p in self.pods.values())

    # ---- RunPod ----

    def create(self, gpu_types: tuple[str, ...]) -> ModelPod:
        pod_id = f"pod-{self.next_id}"
        self.next_id += 1
        nv = self.desired.pod_config["network_volume"]
        pod = ModelPod(pod_id, self.desired.pod_name, PodStatus.RUNNING, booted=False,
                       image=self.desired.pod_config["image"], gpu_type_id=gpu_types[0],
                       network_volume=nv, volume=nv or f"disk-{pod_id}")
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


def observe(world: World, start_refused: bool = False) -> Observation:
    """observe.py: one API listing, then the run and the code over SSH when our pod answers."""
    pods = world.pod_facts()
    local = CodeFacts(revision=f"rev{world.local_rev}", dirty=False)
    facts = identify_pod(world.desired.pod_name, world.state, pods).pod
    if facts is None or facts.status is not PodStatus.RUNNING or facts.ssh is None:
        return Observation(pods=pods, code=local, start_refused=start_refused)
    run = world.run_of(world.pods[facts.id])
    status = None if run.state is None else RunStatus(
        run=RUN, state=RunState(run.state), attempt=run.attempt, exit_code=run.exit_code, started_at=None,
        ended_at=None, resumed_from=None, revision=None, launch_id=run.status_launch)
    alive = run.alive_on == facts.id
    run_facts = RunFacts(
        status=status, tmux_alive=alive or run.starting_on == facts.id, runner_alive=alive,
        checkpoints=tuple(Checkpoint(f"checkpoint-{s}", s, c) for s, c in sorted(run.checkpoints)),
        revision=None, log_tail=None, has_rsync=True, launch_id=run.launch_id)
    synced = run.code_rev == world.local_rev
    code = replace(local, files_to_send=0 if synced else 3, bytes_to_send=0 if synced else 999, files_to_delete=0,
                   remote_revision=f"rev{run.code_rev}" if run.code_rev else None)
    if status is not None:  # Applier.observe: remember the outcome for when the pod is stopped
        world.state = world.state.with_(last_run=LastRun(RUN, status.state.value, status.attempt, status.exit_code))
    return Observation(pods=pods, run=run_facts, code=code, start_refused=start_refused)


def execute(world: World, action: Action) -> bool:
    """apply.py's executors; True when a start was refused for want of a free GPU."""
    d = world.desired
    if action.kind is Kind.ADOPT_POD:
        world.state = world.state.with_(pod_id=action.pod_id, pod_name=d.pod_name, pod_config=None, host_key=None)
    elif action.kind is Kind.CREATE_POD:
        _create(world, action.gpu_types)
    elif action.kind is Kind.REPLACE_POD:
        world.terminate(world.pods[action.pod_id])
        world.state = world.state.with_(pod_id=None, pod_config=None, host_key=None)
        _create(world, action.gpu_types)
    elif action.kind is Kind.START_POD:
        pod = world.pods[action.pod_id]
        assert pod.status is PodStatus.EXITED, "only a stopped pod is started"
        if world.host_busy:
            return True
        pod.status, pod.booted = PodStatus.RUNNING, False
    elif action.kind is Kind.STOP_POD:
        pod = world.pods[action.pod_id]
        run = world.volumes.get(pod.volume)
        assert not (run and run.alive_on == pod.id and pod.id == world.state.pod_id), "stopped a live training"
        world.stop(pod)
    elif action.kind is Kind.SYNC_CODE:
        run = world.run_of(_reachable(world))
        run.code_rev = world.local_rev
    elif action.kind is Kind.LAUNCH_RUN:
        pod = _reachable(world)
        run = world.run_of(pod)
        assert run.alive_on is None, "(c) launched while the run is alive"
        assert run.starting_on is None, "(c) launched while the last launch's runner is starting"
        assert run.code_rev == world.local_rev, "launched code that is not the current revision"
        assert run.state != "succeeded", "launched a run that already succeeded"
        _check_launch_mode(action, run)
        world.launches += 1
        run.launch_id, run.starting_on = f"launch-{world.launches}", pod.id
    else:  # pragma: no cover - a kind the model does not know
        raise AssertionError(f"unexpected action {action.kind}")
    return False


def _create(world: World, gpu_types: tuple[str, ...]) -> None:
    assert not world.live_named(), "(b) create while a pod with the name exists"
    pod = world.create(gpu_types)
    config = {**world.desired.pod_config, "gpu_type_id": gpu_types[0]}
    world.state = world.state.with_(pod_id=pod.id, pod_name=pod.name, pod_config=config, host_key=None,
                                    last_run=None)


def _reachable(world: World) -> ModelPod:
    """apply._running_pod: the state's pod, waited for until SSH answers; never a stopped one."""
    pod = world.pods.get(world.state.pod_id)
    assert pod is not None and pod.status is PodStatus.RUNNING, "sync or launch on a pod that is not running"
    pod.booted = True
    return pod


def _check_launch_mode(action: Action, run: ModelRun) -> None:
    """(d) for a launch about to happen on `run`'s volume."""
    latest = run.latest_complete()
    if action.mode is LaunchMode.RESUME:
        assert (action.checkpoint, action.step) == (f"checkpoint-{latest}", latest), "(d) resume not from the latest"
    if action.mode is LaunchMode.FRESH:
        assert latest is None, "(d) a fresh launch would drop a complete checkpoint"


# ---------------------------------------------------------------------------------- checks

def check_world(world: World) -> None:
    assert len(world.live_named()) <= 1, "(b) two live pods with the spec's name"


def check_plan(world: World, obs: Observation, result: Plan) -> None:
    for action in result.actions:
        assert action.reason.strip()
    launches = [a for a in result.actions if a.kind is Kind.LAUNCH_RUN]
    assert len(launches) <= 1
    assert Kind.CREATE_POD not in result.kinds() or not world.live_named(), "(b) create beside a named pod"
    ours = world.ours()
    if ours and launches and Kind.REPLACE_POD not in result.kinds():
        run = world.run_of(ours)
        assert run.alive_on is None and run.starting_on is None, "(c) a launch planned while the run is alive"
        if obs.run is not None and launches[0].mode in (LaunchMode.RESUME, LaunchMode.FRESH):
            _check_launch_mode(launches[0], run)


@dataclass
class Session:
    """One `apply`: the reviewed plan's kinds, and how often each kind ran (apply.py's guards)."""

    allowed: set[Kind] | None = None
    done: list[Kind] = field(default_factory=list)

    def step(self, result: Plan, action: Action) -> None:
        if self.allowed is None:  # the reviewed plan
            self.allowed = set(result.kinds()) | {Kind.STOP_POD}
            if Kind.START_POD in self.allowed:
                self.allowed.add(Kind.REPLACE_POD)
        assert action.kind in self.allowed, f"reality moved off the reviewed plan: {action.kind} ({self.done})"
        assert action.kind is Kind.STOP_POD or self.done.count(action.kind) < 2, f"{action.kind} twice: {self.done}"
        self.done.append(action.kind)
        assert len(self.done) <= MAX_SESSION_ACTIONS, self.done


# ---------------------------------------------------------------------------------- driving

def apply_step(world: World, refused: bool) -> bool:
    """One step of an apply that is then interrupted; True when the start was refused."""
    obs = observe(world, refused)
    result = plan(world.desired, world.state, obs, Options())
    check_plan(world, obs, result)
    if not result.actions:
        return False
    refused = execute(world, result.actions[0])
    check_world(world)
    return refused


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
        world.state = State()
    elif event == "host_busy":
        world.host_busy = not world.host_busy
    elif event == "edit_code":
        world.local_rev += 1
    elif event == "edit_image":
        config = {**world.desired.pod_config, "image": f"image:{world.local_rev + world.next_id}"}
        world.desired = replace(world.desired, pod_config=config)
    elif event == "terminate" and ours:
        world.terminate(ours)


OUTCOMES = ("keeps running", "succeeds", "fails", "preempted")


def converge(world: World, data) -> None:
    """Apply to the end, as a user would: again after a blocker of a busy host, again after training ends."""
    refused, session, endings_left, steps = False, Session(), 3, 0
    while True:
        steps += 1
        assert steps <= MAX_STEPS, f"no convergence; last apply did {session.done}"
        obs = observe(world, refused)
        refused = False
        result = plan(world.desired, world.state, obs, Options())
        check_plan(world, obs, result)
        if result.blocker:
            assert not result.actions and obs.start_refused and not world.desired.has_network_volume, result.blocker
            world.host_busy = False  # the user waits for the host to free a GPU, then applies again
            session = Session()
            continue
        if not result.actions:
            run = world.run_of(world.ours())
            if run.starting_on is not None:  # apply is done; a moment later the runner takes the lock
                run.take_lock()
                session = Session()
                continue
            if run.alive_on is None:
                break
            outcome = data.draw(st.sampled_from(OUTCOMES if endings_left else OUTCOMES[:2]), label="training")
            if outcome == "keeps running":
                break
            endings_left -= outcome != "succeeds"
            saves = data.draw(st.integers(0, 2), label="checkpoints saved")
            for _ in range(saves):
                run.checkpoints.append((run.next_step(), True))
            if outcome == "preempted":
                if data.draw(st.booleans(), label="cut mid-save"):
                    run.checkpoints.append((run.next_step(), False))
                world.host_busy = data.draw(st.booleans(), label="host busy after")
                world.stop(world.pods[run.alive_on])
            else:
                world.finish(run, ok=outcome == "succeeds")
            session = Session()  # time passes; the user applies again
            continue
        session.step(result, result.actions[0])
        refused = execute(world, result.actions[0])
        check_world(world)
        run = world.run_of(world.ours()) if world.ours() else None
        if run and run.starting_on and data.draw(st.booleans(), label="runner took the lock before apply looked"):
            run.take_lock()
    check_converged(world)


def check_converged(world: World) -> None:
    (ours,) = world.live_named()
    assert world.state.pod_id == ours.id
    run = world.run_of(ours)
    if ours.image != world.desired.pod_config["image"]:
        # A finished run needs no pod: its replacement waits for the next run, and plan says so.
        assert run.state == "succeeded" and run.alive_on is None, "an outdated pod serves a run that is not done"
        final = plan(world.desired, world.state, observe(world), Options())
        assert any("image changed" in note for note in final.notes)
    if run.alive_on is not None:
        assert run.alive_on == ours.id and ours.status is PodStatus.RUNNING
    else:
        assert run.state == "succeeded", f"converged on a run that is {run.state}"
        assert ours.status is PodStatus.EXITED or not world.desired.stop_pod_when_done


EVENTS = ["apply"] * 10 + ["runner_starts"] * 3 + ["progress"] * 4 + ["preempt_mid_save", "preempt", "preempt", "succeed", "fail",
                          "boot", "lose_state", "host_busy", "host_busy", "edit_code", "edit_image", "terminate"]


def desired(network_volume: bool, stop_pod_when_done: bool) -> Desired:
    config = {"image": "image:0", "gpu_count": 1, "cloud": "SECURE", "interruptible": False,
              "network_volume": "nv-1" if network_volume else None, "volume_mount_path": "/workspace",
              "container_disk_gb": 30, "ports": ["22/tcp"], "env": {}}
    return Desired(pod_name=NAME, run_name=RUN, gpu_types=GPUS, pod_config=config,
                   has_network_volume=network_volume, stop_pod_when_done=stop_pod_when_done)


def walk(world: World, *events: str) -> None:
    """Interrupted applies and time passing, in the given order."""
    refused = False
    for event in events:
        if event == "apply":
            refused = apply_step(world, refused)
        else:
            refused = False  # a refusal is known only to the apply that saw it
            time_passes(world, event)
        check_world(world)



@settings(max_examples=200, deadline=None)
@given(network_volume=st.booleans(), stop_pod_when_done=st.booleans(),
       events=st.lists(st.sampled_from(EVENTS), max_size=40), data=st.data())
def test_any_reachable_world_converges_safely(network_volume, stop_pod_when_done, events, data) -> None:
    world = World(desired(network_volume, stop_pod_when_done))  # no pods yet: a duplicate-free world
    walk(world, *events)
    converge(world, data)


# ---- a few walks spelled out, so a failure of the property has a readable neighbour ----

class Draws:
    """Stands in for hypothesis' data: training keeps running once launched."""

    @staticmethod
    def draw(strategy, label=None):
        return "keeps running"


def test_first_apply_creates_syncs_and_launches_fresh() -> None:
    world = World(desired(network_volume=False, stop_pod_when_done=True))
    converge(world, Draws())
    (pod,) = world.live_named()
    assert world.run_of(pod).attempt == 1 and world.launches == 1


def test_preempted_run_is_resumed_on_the_same_pod() -> None:
    world = World(desired(network_volume=True, stop_pod_when_done=True))
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "progress", "preempt_mid_save")
    (pod,) = world.live_named()
    assert pod.status is PodStatus.EXITED
    obs = observe(world)
    result = plan(world.desired, world.state, obs, Options())
    assert result.kinds() == [Kind.START_POD, Kind.SYNC_CODE, Kind.LAUNCH_RUN]
    converge(world, Draws())
    assert world.run_of(pod).attempt == 2 and world.live_named() == [pod]


def test_busy_host_with_network_volume_moves_the_run_to_a_new_pod() -> None:
    world = World(desired(network_volume=True, stop_pod_when_done=True))
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "preempt", "host_busy")
    first = world.state.pod_id
    converge(world, Draws())
    (pod,) = world.live_named()
    assert pod.id != first
    assert world.run_of(pod).attempt == 2 and world.run_of(pod).checkpoints == [(3, True)]


def test_lost_state_adopts_the_pod_by_name() -> None:
    world = World(desired(network_volume=False, stop_pod_when_done=False))
    walk(world, "apply", "apply", "apply", "runner_starts", "succeed", "lose_state")
    assert plan(world.desired, world.state, observe(world), Options()).kinds() == [Kind.ADOPT_POD]
    converge(world, Draws())
    assert world.next_id == 2 and world.launches == 1  # one pod ever, one training


def test_launch_observed_before_its_runner_took_the_lock_is_not_launched_again() -> None:
    # apply observes right after podside.launch: tmux is up, launch.json names the new launch, the
    # lock is still free and status.json is the last attempt's. A second launch would kill the runner.
    world = World(desired(network_volume=True, stop_pod_when_done=False))
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "fail", "apply")
    run = world.run_of(world.ours())
    assert run.starting_on and run.state == "failed" and run.status_launch != run.launch_id
    result = plan(world.desired, world.state, observe(world), Options())
    assert result.empty and "starting" in result.summary
    walk(world, "runner_starts")
    assert run.attempt == 2 and run.alive_on == world.state.pod_id


def test_forced_launch_then_replanned_without_the_flag_is_done() -> None:
    # apply re-plans after every step with the same Options: re-planned with --force-restart, a launch it
    # just made reads as "training is alive, --force-restart never starts a second one" (a blocker, so
    # `apply --force-restart` exits with an error after a good launch). Without the flag it is done.
    world = World(desired(network_volume=True, stop_pod_when_done=False))
    walk(world, "apply", "apply", "apply", "runner_starts", "progress", "fail")
    forced = plan(world.desired, world.state, observe(world), Options(force_restart=True))
    assert forced.kinds() == [Kind.LAUNCH_RUN] and forced.actions[0].mode is LaunchMode.FORCE_RESTART
    execute(world, forced.actions[0])
    for took_lock in (False, True):
        if took_lock:
            world.run_of(world.ours()).take_lock()
        assert plan(world.desired, world.state, observe(world), Options()).empty
        assert plan(world.desired, world.state, observe(world), Options(force_restart=True)).blocker
