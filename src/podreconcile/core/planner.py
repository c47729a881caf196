"""The planner: a pure function from (desired, state, observation, options) to a Plan.

No I/O, no clock, no logging. The decision ladder, rung by rung:

1. Which pod is ours: `core.ownership.identify_pod`, the rule every command shares. A pod whose name
   is not ours (a legacy `POD_ID`, or the state's pod renamed) is shown and blocks until
   `apply --adopt POD_ID`. Several pods with the name and no state: stop them and stop planning.
2. Can the pod serve the spec: a field that cannot change in place forces a replacement; a host
   that refused to start the pod (no free GPU) forces one too when a network volume holds the data.
3. Is the pod running: a stopped pod is started, unless its run is known to have succeeded.
4. What the run needs: alive (a runner holds the run's lock, or the runner of the launch in
   launch.json is still starting) -> nothing; succeeded -> stop the idle pod; otherwise sync the code,
   upload the data that is missing or changed, and launch, resuming from the latest complete
   checkpoint unless `--force-restart`.
"""

from __future__ import annotations

from dataclasses import dataclass

from podreconcile.core.desired import Desired
from podreconcile.core.observation import Observation, PodFacts, PodStatus
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import Action, FieldChange, Kind, LaunchMode, Plan
from podreconcile.core.run_observation import RunFacts, RunState
from podreconcile.core.state import State


@dataclass(frozen=True)
class Options:
    force_restart: bool = False
    legacy_pod_id: str | None = None
    adopt_pod_id: str | None = None  # `apply --adopt POD_ID`: the user names the pod to adopt


def plan(desired: Desired, state: State, obs: Observation, options: Options = Options()) -> Plan:
    owner = identify_pod(desired.pod_name, state, obs.pods, options.legacy_pod_id, options.adopt_pod_id)
    pod, adopt, strays = owner.pod, owner.adopt, owner.strays
    stop_strays = tuple(
        Action(Kind.STOP_POD, f"another pod named {desired.pod_name} that the state file does not name", pod_id=p.id)
        for p in strays if p.status is PodStatus.RUNNING
    )
    if pod is None and len(strays) > 1:
        ids = ", ".join(p.id for p in strays)
        blocker = (f"Several pods are named {desired.pod_name} ({ids}); podreconcile will not pick one. "
                   f"Terminate the extra ones in the RunPod console, then apply again.")
        return Plan(stop_strays, summary="Ambiguous pods.", blocker=blocker)
    if owner.blocker:
        seen = owner.foreign
        summary = (f"Pod {seen.id} ({seen.status.value}) is proposed for adoption." if seen
                   else "The pod to adopt does not exist.")
        return Plan(stop_strays, summary=summary, blocker=owner.blocker)
    steps = _pod_steps(desired, state, obs, options, pod, adopt)
    notes = (owner.note,) if owner.note else ()
    return Plan(stop_strays + steps.actions, summary=steps.summary, blocker=steps.blocker, notes=notes + steps.notes)


# ---- rungs 2 to 4 ----

def _pod_steps(desired, state, obs, options, pod: PodFacts | None, adopt: bool) -> Plan:
    data_center, volume_problem = _network_volume(desired, obs)
    if pod is None:
        if volume_problem:
            return Plan(summary="No pod exists for this spec.", blocker=volume_problem)
        reason = "the pod in the state file no longer exists" if state.pod_id else "no pod exists for this spec"
        create = Action(Kind.CREATE_POD, reason, gpu_types=desired.gpu_types, data_center=data_center)
        if obs.run is not None and obs.run.source == "s3":
            return _new_pod_seen_on_volume(desired, obs, options, create)
        return _after_new_pod(desired, options, create)

    prefix = (Action(Kind.ADOPT_POD, _adopt_reason(pod, desired, options), pod_id=pod.id),) if adopt else ()
    changes, prefix_notes = _changes_for_this_run(desired, state, obs, options, pod)
    if (changes or obs.start_refused) and volume_problem:
        return Plan(prefix, summary=f"Pod {pod.id} would need replacing.", blocker=volume_problem)
    if changes:
        fields = ", ".join(c.field for c in changes)
        reason = f"{fields} cannot change in place" + ("" if desired.has_network_volume else
                                                        "; the pod's volume disk and its data go with it")
        replace = Action(Kind.REPLACE_POD, reason, pod_id=pod.id, gpu_types=desired.gpu_types, changes=changes,
                         data_center=data_center)
        return _prefixed(prefix, _after_new_pod(desired, options, replace))
    if obs.start_refused:
        return _prefixed(prefix, _host_refused(desired, options, pod, data_center))
    if pod.status is PodStatus.EXITED and obs.run is not None and obs.run.source == "s3":
        return _prefixed(prefix, _stopped_pod_seen_on_volume(desired, obs, options, pod), prefix_notes)
    if pod.status is PodStatus.EXITED:
        return _prefixed(prefix, _stopped_pod(desired, state, options, pod), prefix_notes)
    if pod.status is PodStatus.RUNNING:
        return _prefixed(prefix, _running_pod(desired, obs, options, pod), prefix_notes)
    return Plan(prefix, summary=f"Pod {pod.id} is {pod.status.value}.",
                blocker=f"Pod {pod.id} reports status {pod.status.value}; check it in the RunPod console, then apply again.")


def _changes_for_this_run(desired: Desired, state: State, obs: Observation, options: Options,
                          pod: PodFacts) -> tuple[tuple[FieldChange, ...], tuple[str, ...]]:
    """The fields that force a replacement now, and notes. A finished run needs no pod, so its
    changed fields wait (with a note) for the next run instead of replacing the pod."""
    recorded = state.pod_config if pod.id == state.pod_id else None
    changes = replacement_changes(desired, pod, recorded)
    if not changes or options.force_restart or not _succeeded(desired, state, obs, pod):
        return changes, ()
    fields = ", ".join(c.field for c in changes)
    return (), (f"{fields} changed, but the run is done; the pod is replaced only for a new run "
                "(--force-restart or a new output_dir)",)


def _adopt_reason(pod: PodFacts, desired: Desired, options: Options) -> str:
    if options.adopt_pod_id == pod.id:
        return f"adopted with --adopt (the pod is named {pod.name!r})"
    return f"found by its name {desired.pod_name}, not in the state file"


def _prefixed(prefix: tuple[Action, ...], tail: Plan, notes: tuple[str, ...] = ()) -> Plan:
    return Plan(prefix + tail.actions, summary=tail.summary, blocker=tail.blocker, notes=notes + tail.notes)


def _succeeded(desired: Desired, state: State, obs: Observation, pod: PodFacts) -> bool:
    """The run is known to have succeeded: seen on the pod (or its volume) now, or last seen so."""
    if obs.run is not None and (pod.status is PodStatus.RUNNING or obs.run.source == "s3"):
        return bool(obs.run.status and obs.run.status.state is RunState.SUCCEEDED)
    last = state.last_run
    return bool(last and last.run_name == desired.run_name and last.state == RunState.SUCCEEDED.value)


def replacement_changes(desired: Desired, pod: PodFacts, recorded: dict | None) -> tuple[FieldChange, ...]:
    """Fields the pod was made with that differ from the spec and cannot change in place."""
    if recorded is None:  # adopted: compare what RunPod reports
        recorded = {"image": pod.image, "gpu_count": pod.gpu_count, "interruptible": pod.interruptible,
                    "network_volume": pod.network_volume_id, "gpu_type_id": pod.gpu_type_id}
    changes = []
    chosen = recorded.get("gpu_type_id")
    if chosen and chosen not in desired.gpu_types:
        changes.append(FieldChange("gpu_type", chosen, list(desired.gpu_types)))
    for name, new in desired.pod_config.items():
        if name in recorded and recorded[name] != new:
            changes.append(FieldChange(name, recorded[name], new))
    return tuple(changes)


def _network_volume(desired: Desired, obs: Observation) -> tuple[str | None, str | None]:
    """(the data center a new pod must use, or a reason no pod can be made on the spec's volume)."""
    volume_id = desired.pod_config.get("network_volume")
    if not volume_id or obs.volumes is None:
        return None, None
    volume = next((v for v in obs.volumes if v.id == volume_id), None)
    if volume is None:
        known = ", ".join(f"{v.id} ({v.name}, {v.data_center_id})" for v in obs.volumes) or "none"
        return None, (f"Network volume {volume_id} (pod.network_volume) is not one of this account's network "
                      f"volumes ({known}); create it in a Secure Cloud data center, or fix NETWORK_VOLUME_ID.")
    return volume.data_center_id, None


def _host_refused(desired: Desired, options: Options, pod: PodFacts, data_center: str | None = None) -> Plan:
    if not desired.has_network_volume:
        return Plan(summary=f"Pod {pod.id} cannot start: its host has no free GPU.",
                    blocker="The pod's host has no free GPU and the pod has no network volume, so a new pod "
                            "would start without its data; wait and apply again, or `podreconcile destroy` to start over.")
    reason = "its host has no free GPU; a new pod takes over the same network volume"
    replace = Action(Kind.REPLACE_POD, reason, pod_id=pod.id, gpu_types=desired.gpu_types, data_center=data_center)
    return _after_new_pod(desired, options, replace)


def _after_new_pod(desired: Desired, options: Options, first: Action) -> Plan:
    """A new pod: sync everything, then launch (resuming only if a network volume may hold checkpoints)."""
    mode = LaunchMode.FORCE_RESTART if options.force_restart else (
        LaunchMode.AUTO if desired.has_network_volume else LaunchMode.FRESH)
    sync = Action(Kind.SYNC_CODE, "a new pod has no code")
    data = _upload_unknown(desired, "what a new pod's volume holds is known after it starts")
    launch = Action(Kind.LAUNCH_RUN, _launch_reason(None, options), mode=mode)
    return Plan((first, sync) + data + (launch,), summary=f"Run {desired.run_name} has not started on this pod.")


def _stopped_pod(desired: Desired, state: State, options: Options, pod: PodFacts) -> Plan:
    last = state.last_run
    if last and last.run_name == desired.run_name and last.state == RunState.SUCCEEDED.value and not options.force_restart:
        return Plan(summary=f"Run {desired.run_name} succeeded (attempt {last.attempt}); the pod is stopped. Nothing to do.")
    start = Action(Kind.START_POD, f"the pod is stopped ({pod.last_status_change or 'EXITED'})", pod_id=pod.id)
    sync = Action(Kind.SYNC_CODE, "code changes since the last sync are known after start")
    data = _upload_unknown(desired, "data changes since the last upload are known after start")
    mode = LaunchMode.FORCE_RESTART if options.force_restart else LaunchMode.AUTO
    launch = Action(Kind.LAUNCH_RUN, _stopped_launch_reason(last, desired, options), mode=mode)
    return Plan((start, sync) + data + (launch,), summary=f"Run {desired.run_name} is not running (the pod is stopped).")


def _stopped_launch_reason(last, desired: Desired, options: Options) -> str:
    if options.force_restart:
        return "--force-restart: checkpoints are ignored"
    if last and last.run_name == desired.run_name:
        if last.state == RunState.FAILED.value and last.exit_code is not None:
            return f"attempt {last.attempt} failed with exit code {last.exit_code}"
        return f"the run was last seen {last.state} (attempt {last.attempt}); it is not alive on a stopped pod"
    return "the run is not alive on a stopped pod"


def _running_pod(desired: Desired, obs: Observation, options: Options, pod: PodFacts) -> Plan:
    run = obs.run
    if run is None:
        why = "the pod is booting" if pod.ssh is None else "the pod did not answer over SSH"
        sync = Action(Kind.SYNC_CODE, f"{why}; what changed is known once SSH answers")
        data = _upload(obs) if obs.data and obs.data.source == "s3" else \
            _upload_unknown(desired, f"{why}; what changed is known once SSH answers")
        mode = LaunchMode.FORCE_RESTART if options.force_restart else LaunchMode.AUTO
        launch = Action(Kind.LAUNCH_RUN, f"{why}; the run is checked before launching", mode=mode)
        return Plan((sync,) + data + (launch,), summary=f"Run {desired.run_name} is unknown: {why}.")
    notes = _checkpoint_notes(run)
    if _stopping(run):
        status = run.status
        summary = (f"Run {desired.run_name} ended (attempt {status.attempt}, exit code {status.exit_code}); "
                   "the pod is stopping itself.")
        if status.state is RunState.FAILED:
            notes += ("apply again once the pod has stopped to launch the run again",)
        blocker = "The pod is stopping itself after the run ended; apply again once it has stopped." \
            if options.force_restart else None
        return Plan(summary=summary, notes=notes, blocker=blocker)
    if run_alive(run):
        summary = (f"Run {desired.run_name} is running (attempt {_attempt(run)}); nothing to do." if run.runner_alive
                   else f"Run {desired.run_name} is starting (launch {run.launch_id}); nothing to do.")
        if options.force_restart:
            return Plan(summary=summary, notes=notes,
                        blocker="Training is alive, and --force-restart never starts a second one; "
                                "`podreconcile stop` first, then `apply --force-restart`.")
        return Plan(summary=summary, notes=notes)
    if run.status and run.status.state is RunState.SUCCEEDED and not options.force_restart:
        summary = f"Run {desired.run_name} succeeded (attempt {_attempt(run)})."
        if desired.stop_pod_when_done:
            stop = Action(Kind.STOP_POD, "the run succeeded and the pod is idle", pod_id=pod.id)
            return Plan((stop,), summary=summary, notes=notes)
        return Plan(summary=summary + " Nothing to do.", notes=notes)
    return Plan(_sync(obs) + _upload(obs) + (_launch(run, options),), summary=_run_summary(desired, run), notes=notes)


def _stopping(run: RunFacts) -> bool:
    """The attempt has ended and its runner only waits to stop the pod (a follower reads the end)."""
    status = run.status
    return bool(run.runner_alive and status and status.state in (RunState.SUCCEEDED, RunState.FAILED)
                and status.launch_id == run.launch_id and status.pod_stop == "requested")


def run_alive(run: RunFacts) -> bool:
    """A runner holds the run's lock, or the launch in launch.json has a runner still starting.

    A `train` tmux session without the lock is a leftover shell once its runner wrote the status of
    that launch. Before then (right after a launch, as apply observes again) the runner has not taken
    the lock yet; launching again would kill it with its tmux session.
    """
    if run.runner_alive:
        return True
    status_launch = run.status.launch_id if run.status else None
    return bool(run.tmux_alive and run.launch_id and run.launch_id != status_launch)


def _attempt(run: RunFacts):
    return run.status.attempt if run.status else "?"


def _sync(obs: Observation) -> tuple[Action, ...]:
    code = obs.code
    if code is None or code.files_to_send is None:
        return (Action(Kind.SYNC_CODE, "the code on the pod could not be compared"),)
    if not code.files_to_send and not code.files_to_delete and code.remote_revision == code.revision:
        return ()
    if not code.files_to_send and not code.files_to_delete:
        reason = f"the pod's code is at {code.remote_revision or 'nothing yet'}, the local code at {code.revision}"
    else:
        reason = f"{code.files_to_send} changed file(s), {code.files_to_delete or 0} to delete"
    return (Action(Kind.SYNC_CODE, reason, files=code.files_to_send, bytes=code.bytes_to_send),)


def _upload_unknown(desired: Desired, reason: str) -> tuple[Action, ...]:
    return (Action(Kind.UPLOAD_DATA, reason),) if desired.has_data else ()


def _upload(obs: Observation) -> tuple[Action, ...]:
    data = obs.data
    if data is None:
        return ()
    if data.files_to_send is None:
        return (Action(Kind.UPLOAD_DATA, "the data on the pod could not be compared"),)
    if not data.files_to_send:
        return ()
    reason = f"{data.files_to_send} of {data.files_total} data file(s) missing or changed on the volume"
    via = "s3" if data.source == "s3" else None
    return (Action(Kind.UPLOAD_DATA, reason, files=data.files_to_send, bytes=data.bytes_to_send, via=via),)


# ---- a pod that is not running, its network volume read through S3 (issue 11) ----

def _stopped_pod_seen_on_volume(desired: Desired, obs: Observation, options: Options, pod: PodFacts) -> Plan:
    """The volume told the run's outcome and checkpoints with the pod stopped: no pod boots to find out.
    Data goes up through S3 first, so the pod starts only once it is there."""
    run = obs.run
    latest = run.latest_complete_checkpoint
    notes = _checkpoint_notes(run) + ((f"latest complete checkpoint on the volume: {latest.name}",) if latest else ())
    status = run.status
    if status and status.state is RunState.SUCCEEDED and not options.force_restart:
        return Plan(summary=f"Run {desired.run_name} succeeded (attempt {status.attempt}, read from the volume); "
                            "the pod is stopped. Nothing to do.", notes=notes)
    start = Action(Kind.START_POD, f"the pod is stopped ({pod.last_status_change or 'EXITED'})", pod_id=pod.id)
    actions = _upload_before_pod(obs) + (start,) + _sync_after_start(obs) + (_launch(run, options),)
    return Plan(actions, summary=_run_summary(desired, run) + " The pod is stopped.", notes=notes)


def _new_pod_seen_on_volume(desired: Desired, obs: Observation, options: Options, create: Action) -> Plan:
    """A new pod on a network volume read through S3: data first, then the pod, resuming where the volume says."""
    run = obs.run
    sync = Action(Kind.SYNC_CODE, "a new pod has no code")
    actions = _upload_before_pod(obs) + (create, sync, _launch(run, options))
    status = run.status
    summary = (f"Run {desired.run_name} has not started; no pod exists for this spec." if status is None else
               f"Run {desired.run_name} is not running (attempt {status.attempt}: {status.state.value}); "
               "no pod exists for this spec.")
    return Plan(actions, summary=summary, notes=_checkpoint_notes(run))


def _upload_before_pod(obs: Observation) -> tuple[Action, ...]:
    """Data uploaded through S3 while no pod runs, with the GPU time that saves (an estimate)."""
    data = obs.data
    if data is None or data.source != "s3" or not data.files_to_send:
        return _upload(obs)
    reason = (f"{data.files_to_send} of {data.files_total} data file(s) missing or changed on the volume; "
              f"through RunPod's S3 API before the pod starts, saving {_gpu_minutes(data)}")
    return (Action(Kind.UPLOAD_DATA, reason, files=data.files_to_send, bytes=data.bytes_to_send, via="s3"),)


def _gpu_minutes(data) -> str:
    rate = data.rate_bps or 0
    if rate <= 0:
        return "the GPU time of the upload"
    seconds = (data.bytes_to_send or 0) / rate
    basis = f"estimate at {rate / 1e6:.0f} MB/s, {'measured' if data.rate_measured else 'assumed'}"
    if seconds < 60:
        return f"about {seconds:.0f} GPU second(s) ({basis})"
    return f"about {seconds / 60:.1f} GPU minute(s) ({basis})"


def _sync_after_start(obs: Observation) -> tuple[Action, ...]:
    """Code goes over SSH once the pod runs (S3 cannot set the executable bit); the diff is known now."""
    code = obs.code
    if code is None or code.files_to_send is None:
        return (Action(Kind.SYNC_CODE, "code changes since the last sync are known after start"),)
    # Kept when nothing changed: the started pod is checked over SSH (a no-op when the volume agrees).
    return _sync(obs) or (Action(Kind.SYNC_CODE, f"the volume's code is at {code.remote_revision}, as here; "
                                                 "checked again once the pod runs", files=0, bytes=0),)


def _launch(run: RunFacts, options: Options) -> Action:
    reason = _launch_reason(run, options)
    if options.force_restart:
        return Action(Kind.LAUNCH_RUN, reason, mode=LaunchMode.FORCE_RESTART)
    latest = run.latest_complete_checkpoint
    if latest is None:
        return Action(Kind.LAUNCH_RUN, reason, mode=LaunchMode.FRESH)
    return Action(Kind.LAUNCH_RUN, reason, mode=LaunchMode.RESUME, checkpoint=latest.name, step=latest.step,
                  checkpoint_mtime=latest.mtime)


def _launch_reason(run: RunFacts | None, options: Options) -> str:
    if options.force_restart:
        return "--force-restart: checkpoints are ignored"
    status = run.status if run else None
    if status is None:
        return "the run has not started yet"
    if status.state is RunState.FAILED:
        return f"attempt {status.attempt} failed with exit code {status.exit_code}"
    return f"attempt {status.attempt} is no longer alive ({status.state.value.lower()} when it stopped: the pod was stopped or preempted)"


def _run_summary(desired: Desired, run: RunFacts) -> str:
    status = run.status
    if status is None:
        return f"Run {desired.run_name} has not started on this pod."
    return f"Run {desired.run_name} is not running (attempt {status.attempt}: {status.state.value.lower()})."


def _checkpoint_notes(run: RunFacts) -> tuple[str, ...]:
    skipped = run.incomplete_newer_than_latest
    return tuple(f"{c.name} is incomplete (no trainer_state.json) and is skipped" for c in skipped)
