"""The planner: a pure function from (desired, state, observation, options) to a Plan.

No I/O, no clock, no logging. The decision ladder, rung by rung:

1. Which pod is ours: `core.ownership.identify_pod`, the rule every command shares. A pod whose name
   is not ours (a legacy `POD_ID`, or the state's pod renamed) is shown and blocks until
   `apply --adopt POD_ID`. Several pods with the name and no state: stop them and stop planning.
2. Can the pod serve the spec: each changed pod field does what its policy (core/field_policy.py)
   says. A field that forces a replacement replaces the pod, unless the run is alive (the change
   waits for the run's end; `--replace-now` kills it and resumes on the new pod) or done (the change
   waits for the next run). A field applied at the next start rides on the next START. A host that
   refused to start the pod (no free GPU) forces a replacement when a network volume holds the data.
3. Is the pod running: a stopped pod is started, unless its run is known to have succeeded. When
   the run's outcome is unknown (it ended while nobody watched), the launch is conditional.
4. What the run needs: alive (a runner holds the run's lock, or the runner of the launch in
   launch.json is still starting) -> nothing; succeeded -> stop the idle pod; otherwise sync the code,
   upload the data that is missing or changed, and launch, resuming from the latest complete
   checkpoint unless `--force-restart`.

Every action carries a stable reason code and what it assumes about the world (`expects`), which
apply checks before carrying it out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from podreconcile.core.desired import Desired
from podreconcile.core.field_policy import Policy, policy_of
from podreconcile.core.observation import DataFacts, Observation, PodFacts, PodStatus
from podreconcile.core.ownership import identify_pod
from podreconcile.core.plan import (
    Action,
    Contingency,
    Expect,
    Fact,
    FieldChange,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)
from podreconcile.core.run_observation import RunFacts, RunState
from podreconcile.core.secret import digest, is_digest
from podreconcile.core.state import STOPPED, State

RESERVED_ENV = ("PUBLIC_KEY", "RUNPOD_")  # set by RunPod or by podreconcile itself, not by the spec


@dataclass(frozen=True)
class Options:
    force_restart: bool = False
    legacy_pod_id: str | None = None
    adopt_pod_id: str | None = None  # `apply --adopt POD_ID`: the user names the pod to adopt
    replace_now: bool = False  # replace a pod under a live run (killing the training) instead of waiting


def plan(desired: Desired, state: State, obs: Observation, options: Options = Options()) -> Plan:
    owner = identify_pod(desired.pod_name, state, obs.pods, options.legacy_pod_id, options.adopt_pod_id)
    pod, adopt, strays = owner.pod, owner.adopt, owner.strays
    stop_strays = tuple(
        Action(Kind.STOP_POD, f"another pod named {desired.pod_name} that the state file does not name",
               code=Reason.STRAY_POD, pod_id=p.id, expects=(Expect(Fact.POD_STATUS, PodStatus.RUNNING.value),))
        for p in strays if p.status.is_up
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
    # The plan shows the training command exactly as the runner will run it.
    actions = tuple(dataclasses.replace(a, command=desired.command) if a.kind is Kind.LAUNCH_RUN else a
                    for a in steps.actions)
    return Plan(stop_strays + actions, summary=steps.summary, blocker=steps.blocker, notes=notes + steps.notes,
                deferred=steps.deferred, deferred_code=steps.deferred_code)


# ---- rungs 2 to 4 ----

def _pod_steps(desired, state, obs, options, pod: PodFacts | None, adopt: bool) -> Plan:
    data_center, volume_problem = _network_volume(desired, obs)
    if pod is None:
        if volume_problem:
            return Plan(summary="No pod exists for this spec.", blocker=volume_problem)
        reason = "the pod in the state file no longer exists" if state.pod_id else "no pod exists for this spec"
        create = Action(Kind.CREATE_POD, reason, code=Reason.POD_MISSING, gpu_types=desired.gpu_types,
                        data_center=data_center, expects=(Expect(Fact.NO_POD),))
        if obs.run is not None and obs.run.source == "s3":
            return _new_pod_seen_on_volume(desired, obs, options, create)
        return _after_new_pod(desired, options, create, local=obs.data)

    prefix = (Action(Kind.ADOPT_POD, _adopt_reason(pod, desired, options), code=Reason.POD_NOT_IN_STATE, pod_id=pod.id),) \
        if adopt else ()
    recorded = state.pod_config if pod.id == state.pod_id else None
    every = pod_changes(desired, pod, recorded)
    changes = tuple(c for c in every if c.policy == Policy.REPLACE.value)
    at_start = tuple(c for c in every if c.policy == Policy.NEXT_START.value)
    in_place = tuple(c for c in every if c.policy == Policy.IN_PLACE.value)
    if in_place and not changes and not obs.start_refused:
        return _prefixed(prefix, _updated_pod(desired, state, obs, options, pod, data_center, in_place, at_start))
    if changes and (pod.status is PodStatus.RUNNING) and _maybe_alive(desired, state, obs) and not options.replace_now:
        return _prefixed(prefix, _deferred_to_run_end(desired, obs, changes + in_place + at_start))
    if changes and not options.force_restart and not options.replace_now and _succeeded(desired, state, obs, pod):
        fields = ", ".join(f"pod.{c.field}" for c in changes)
        note = (f"{fields} changed, but the run is done; the pod is replaced only for a new run "
                "(--force-restart or a new output_dir)",)
        tail = _unchanged_pod(desired, state, obs, options, pod, data_center, at_start)
        return _prefixed(prefix, tail, note, deferred=changes + in_place + tail.deferred, deferred_code=Reason.RUN_DONE)
    if (changes or obs.start_refused) and volume_problem:
        return Plan(prefix, summary=f"Pod {pod.id} would need replacing.", blocker=volume_problem)
    if changes:  # the new pod is made with the in-place changes too
        return _prefixed(prefix, _replacement(desired, state, obs, options, pod, changes + in_place + at_start,
                                              data_center))
    return _prefixed(prefix, _unchanged_pod(desired, state, obs, options, pod, data_center, at_start))


def _unchanged_pod(desired, state, obs, options, pod: PodFacts, data_center, at_start) -> Plan:
    """The pod stays: start it (carrying the fields applied at the next start), or serve the run on it."""
    if obs.start_refused:
        return _host_refused(desired, options, pod, data_center, obs.data)
    if pod.status is PodStatus.EXITED and obs.run is not None and obs.run.source == "s3":
        return _stopped_pod_seen_on_volume(desired, obs, options, pod, at_start)
    if pod.status is PodStatus.EXITED:
        return _stopped_pod(desired, state, obs, options, pod, at_start)
    if pod.status.is_up:  # v2: PROVISIONING and STARTING are on their way to RUNNING
        tail = _running_pod(desired, obs, options, pod)
        if not at_start:
            return tail
        fields = ", ".join(f"pod.{c.field}" for c in at_start)
        return Plan(tail.actions, summary=tail.summary, blocker=tail.blocker,
                    notes=tail.notes + (f"{fields} changed; applied the next time the pod starts",),
                    deferred=at_start, deferred_code=Reason.POD_STOPPED)
    return Plan(summary=f"Pod {pod.id} is {pod.status.value}.",
                blocker=f"Pod {pod.id} reports status {pod.status.value}; check it in the RunPod console, then apply again.")


def _updated_pod(desired, state, obs, options, pod: PodFacts, data_center, in_place, at_start) -> Plan:
    """Fields RunPod changes in place: `~ update pod`, then what the pod needs as it stands.

    A stopped pod takes them at its next start, so the update goes first and nothing restarts. A
    running pod restarts to take them, which kills a live run: that waits for the run's end unless
    `--replace-now` (the run then resumes after the restart), and a succeeded run's idle pod keeps
    them for the next run (stopping it needs no restart).
    """
    fields = ", ".join(f"pod.{c.field}" for c in in_place)
    it = "it" if len(in_place) == 1 else "them"
    # v2's PROVISIONING and STARTING are on their way to RUNNING, which the precondition accepts for them.
    expects = (Expect(Fact.POD_STATUS, PodStatus.RUNNING.value if pod.status.is_up else pod.status.value),)
    if pod.status is PodStatus.EXITED:
        update = Action(Kind.UPDATE_POD, f"{fields} changed; RunPod changes {it} on the stopped pod, which takes "
                        f"{it} at its next start", code=Reason.FIELD_CHANGED_IN_PLACE, pod_id=pod.id,
                        changes=in_place, restart=False, expects=expects)
        tail = _unchanged_pod(desired, state, obs, options, pod, data_center, at_start)
        summary = tail.summary if tail.actions else tail.summary.replace(
            " Nothing to do.", " The pod is only updated, for the next run.")
        return Plan((update,) + tail.actions, summary=summary, blocker=tail.blocker, notes=tail.notes,
                    deferred=tail.deferred, deferred_code=tail.deferred_code)
    if not pod.status.is_up:
        return _unchanged_pod(desired, state, obs, options, pod, data_center, at_start)
    alive = _maybe_alive(desired, state, obs)
    if alive and not options.replace_now:
        return _deferred_to_run_end(desired, obs, in_place + at_start, restart=True)
    if not alive and not options.force_restart and _succeeded(desired, state, obs, pod):
        tail = _unchanged_pod(desired, state, obs, options, pod, data_center, at_start)
        if tail.kinds() == [Kind.STOP_POD]:  # the idle pod stops: then it takes them without a restart
            update = Action(Kind.UPDATE_POD, f"{fields} changed; RunPod changes {it} on the pod once it is stopped, "
                            f"which takes {it} at its next start", code=Reason.FIELD_CHANGED_IN_PLACE, pod_id=pod.id,
                            changes=in_place, restart=False, expects=(Expect(Fact.POD_STATUS, PodStatus.EXITED.value),))
            return Plan(tail.actions + (update,), summary=tail.summary, blocker=tail.blocker, notes=tail.notes,
                        deferred=tail.deferred, deferred_code=tail.deferred_code)
        note = f"{fields} changed, but the run is done; the pod is updated once it is stopped, for the next run"
        return Plan(tail.actions, summary=tail.summary, blocker=tail.blocker, notes=(note,) + tail.notes,
                    deferred=in_place + tail.deferred, deferred_code=Reason.RUN_DONE)
    if alive:  # --replace-now
        reason = (f"--replace-now: {fields} changed; the pod restarts to take {it}, which kills the running "
                  f"training ({_run_position(obs.run)}); it then {_resumes_after_restart(obs.run)}")
        update = Action(Kind.UPDATE_POD, reason, code=Reason.REPLACE_NOW, pod_id=pod.id, changes=in_place,
                        restart=True, expects=expects)
        return _after_restart(desired, obs, options, update, at_start)
    update = Action(Kind.UPDATE_POD, f"{fields} changed; RunPod changes {it} on the pod, which restarts to take "
                    f"{it} (no run is alive)", code=Reason.FIELD_CHANGED_IN_PLACE, pod_id=pod.id, changes=in_place,
                    restart=True, expects=expects + (Expect(Fact.RUN_NOT_ALIVE),))
    return _after_restart(desired, obs, options, update, at_start)


def _after_restart(desired, obs, options, update: Action, at_start) -> Plan:
    """The pod restarts: its volume disk stays, so the run goes on from its latest complete checkpoint."""
    run = obs.run
    sync = Action(Kind.SYNC_CODE, "code changes are known once the restarted pod answers", code=Reason.UNKNOWN_UNTIL_START)
    data = _upload_unknown(desired, "data changes are known once the restarted pod answers")
    latest = run.latest_complete_checkpoint if run else None
    if options.force_restart:
        launch = Action(Kind.LAUNCH_RUN, "--force-restart: checkpoints are ignored", code=Reason.FORCE_RESTART,
                        mode=LaunchMode.FORCE_RESTART, expects=(Expect(Fact.RUN_NOT_ALIVE),))
    elif update.code is Reason.REPLACE_NOW and latest is not None:
        launch = _resume_action(latest, "the training killed by the restart resumes", Reason.REPLACE_NOW)
    else:
        launch = Action(Kind.LAUNCH_RUN, _launch_reason(run, options) if update.code is not Reason.REPLACE_NOW
                        else "the training killed by the restart starts again", code=_launch_code(run, options)
                        if update.code is not Reason.REPLACE_NOW else Reason.REPLACE_NOW, mode=LaunchMode.AUTO,
                        expects=(Expect(Fact.RUN_NOT_ALIVE),))
    notes = ()
    if at_start:
        notes = (", ".join(f"pod.{c.field}" for c in at_start) + " changed; applied the next time the pod starts",)
    summary = (f"Run {desired.run_name} is killed by the pod's restart and goes on after it (--replace-now)."
               if update.code is Reason.REPLACE_NOW else f"The pod restarts to take the changes; run "
               f"{desired.run_name} {'is launched after it' if run is None or run.status is None else 'goes on after it'}.")
    return Plan((update, sync) + data + (launch,), summary=summary, notes=notes,
                deferred=tuple(at_start), deferred_code=Reason.POD_STOPPED if at_start else None)


def _resumes_after_restart(run: RunFacts | None) -> str:
    latest = run.latest_complete_checkpoint if run else None
    if latest is None:
        return "starts afresh after the restart (no complete checkpoint yet)" if run else \
            "resumes after the restart from the latest complete checkpoint (known after start)"
    return f"resumes after the restart from {latest.name} (step {latest.step}); the volume disk stays"


def _maybe_alive(desired: Desired, state: State, obs: Observation) -> bool:
    """The run is alive on the running pod, or may be: SSH did not answer and it was last seen active."""
    if obs.run is not None:
        return run_alive(obs.run)
    last = state.last_run
    return bool(last and last.run_name == desired.run_name and last.state in (RunState.SETUP.value, RunState.RUNNING.value))


def _deferred_to_run_end(desired: Desired, obs: Observation, changes: tuple[FieldChange, ...],
                         restart: bool = False) -> Plan:
    fields = ", ".join(f"pod.{c.field}" for c in changes)
    where = _run_position(obs.run)
    if restart:
        summary = f"Run {desired.run_name} is alive ({where}); the pod is not restarted under it."
        note = (f"{fields} changed; updating the pod restarts it, so the update waits for the end of run "
                f"{desired.run_name} and the live training is not killed. `apply --replace-now` updates and "
                f"restarts the pod now: it kills the training, which then {_resumes_after_restart(obs.run)}")
        return Plan(summary=summary, notes=(note,), deferred=changes, deferred_code=Reason.RUN_ALIVE)
    summary = f"Run {desired.run_name} is alive ({where}); the pod is not replaced under it."
    note = (f"{fields} changed; the replacement waits for the end of run {desired.run_name}, so the live "
            f"training is not killed. `apply --replace-now` replaces the pod now: it kills the training, "
            f"which then {_resumes_how(desired, obs.run)}")
    return Plan(summary=summary, notes=(note,), deferred=changes, deferred_code=Reason.RUN_ALIVE)


def _run_position(run: RunFacts | None) -> str:
    """Where the run is, as far as is cheaply known: attempt, step and the latest complete checkpoint."""
    if run is None:
        return "SSH did not answer; it was last seen running"
    attempt = run.status.attempt if run.status else None
    latest = run.latest_complete_checkpoint
    parts = [f"attempt {attempt}" if attempt else "starting"]
    if run.current_step is not None:
        parts.append(f"step {run.current_step}")
    parts.append(f"latest checkpoint {latest.name}" if latest else "no complete checkpoint yet")
    return ", ".join(parts)


def _resumes_how(desired: Desired, run: RunFacts | None) -> str:
    if not desired.has_network_volume:
        return "starts afresh on the new pod (without a network volume its checkpoints go with the old pod)"
    latest = run.latest_complete_checkpoint if run else None
    if latest is None:
        return "starts afresh on the new pod (no complete checkpoint yet)" if run else \
            "resumes on the new pod from the latest complete checkpoint (known after start)"
    return f"resumes on the new pod from {latest.name} (step {latest.step})"


def _adopt_reason(pod: PodFacts, desired: Desired, options: Options) -> str:
    if options.adopt_pod_id == pod.id:
        return f"adopted with --adopt (the pod is named {pod.name!r})"
    return f"found by its name {desired.pod_name}, not in the state file"


def _prefixed(prefix: tuple[Action, ...], tail: Plan, notes: tuple[str, ...] = (), **extra) -> Plan:
    values = {"deferred": tail.deferred, "deferred_code": tail.deferred_code} | extra
    return Plan(prefix + tail.actions, summary=tail.summary, blocker=tail.blocker, notes=notes + tail.notes,
                **values)


def _succeeded(desired: Desired, state: State, obs: Observation, pod: PodFacts) -> bool:
    """The run is known to have succeeded: seen on the pod (or its volume) now, or last seen so."""
    if obs.run is not None and (pod.status is PodStatus.RUNNING or obs.run.source == "s3"):
        return bool(obs.run.status and obs.run.status.state is RunState.SUCCEEDED)
    last = state.last_run
    return bool(last and last.run_name == desired.run_name and last.state == RunState.SUCCEEDED.value)


# ---- comparing the pod with the spec ----

def pod_changes(desired: Desired, pod: PodFacts, recorded: dict | None) -> tuple[FieldChange, ...]:
    """Every pod field that differs from the spec, each with its policy. `recorded` is what apply
    made the pod with; an adopted pod (None) is compared on every field RunPod reports."""
    adopted = recorded is None
    if adopted:
        recorded = reported_config(pod)
    changes = []
    chosen = recorded.get("gpu_type_id")
    if chosen and chosen not in desired.gpu_types:
        changes.append(FieldChange("gpu_type", chosen, list(desired.gpu_types), Policy.REPLACE.value))
    for name, new in desired.pod_config.items():
        if name not in recorded or new is None and name in ("volume_gb", "bid_per_gpu"):
            continue  # not reported (or not recorded by an older podreconcile); not asked for
        old = recorded[name]
        if name == "env":
            names = _env_differences(old or {}, new or {})
            if names:
                changes.append(FieldChange("env", None, None, policy_of("env").value, names))
        elif name == "ports" and sorted(old or []) != sorted(new or []) or name != "ports" and old != new:
            changes.append(FieldChange(name, old, new, policy_of(name).value))
    return tuple(changes)


def reported_config(pod: PodFacts) -> dict:
    """An adopted pod's fields as RunPod reports them, in the spec's terms (absent: not reported)."""
    config = {"image": pod.image, "gpu_count": pod.gpu_count, "interruptible": pod.interruptible,
              "network_volume": pod.network_volume_id, "gpu_type_id": pod.gpu_type_id}
    optional = {"container_disk_gb": pod.container_disk_gb, "volume_mount_path": pod.volume_mount_path,
                "ports": list(pod.ports) if pod.ports is not None else None, "env": pod.env_digests,
                "volume_gb": pod.volume_gb if not pod.network_volume_id else None}
    return config | {k: v for k, v in optional.items() if v is not None}


def _env_differences(old: dict, new: dict) -> tuple[str, ...]:
    """Names of the variables added, removed or changed. Both sides are digests of the values (env values
    may be secrets); a state file of an older release may hold plain values, hashed here first."""
    old = {k: v if is_digest(v) else digest(str(v)) for k, v in old.items() if not k.startswith(RESERVED_ENV)}
    return tuple(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))


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


# ---- a new pod ----

def _replacement(desired, state, obs, options, pod: PodFacts, changes, data_center) -> Plan:
    fields = ", ".join(f"pod.{c.field}" for c in changes if c.policy == Policy.REPLACE.value)
    if options.replace_now and pod.status is PodStatus.RUNNING and _maybe_alive(desired, state, obs):
        how = _resumes_how(desired, obs.run)
        reason = (f"--replace-now: {fields} changed; the running training ({_run_position(obs.run)}) is killed "
                  f"and {how}")
        replace = Action(Kind.REPLACE_POD, reason, code=Reason.REPLACE_NOW, pod_id=pod.id,
                         gpu_types=desired.gpu_types, changes=changes, data_center=data_center,
                         expects=(Expect(Fact.POD_STATUS, pod.status.value),))
        latest = obs.run.latest_complete_checkpoint if obs.run and desired.has_network_volume else None
        return _after_new_pod(desired, options, replace, resume=latest, local=obs.data)
    reason = f"{fields} cannot change in place" + ("" if desired.has_network_volume else
                                                   "; the pod's volume disk and its data go with it")
    replace = Action(Kind.REPLACE_POD, reason, code=Reason.FIELD_CHANGED, pod_id=pod.id, gpu_types=desired.gpu_types,
                     changes=changes, data_center=data_center, expects=(Expect(Fact.POD_STATUS, pod.status.value),))
    return _after_new_pod(desired, options, replace, local=obs.data)


def _host_refused(desired: Desired, options: Options, pod: PodFacts, data_center: str | None = None,
                  local: DataFacts | None = None) -> Plan:
    if not desired.has_network_volume:
        return Plan(summary=f"Pod {pod.id} cannot start: its host has no free GPU.",
                    blocker="The pod's host has no free GPU and the pod has no network volume, so a new pod "
                            "would start without its data; wait and apply again, or `podreconcile destroy` to start over.")
    reason = "its host has no free GPU; a new pod takes over the same network volume"
    replace = Action(Kind.REPLACE_POD, reason, code=Reason.HOST_NO_FREE_GPU, pod_id=pod.id,
                     gpu_types=desired.gpu_types, data_center=data_center,
                     expects=(Expect(Fact.POD_STATUS, PodStatus.EXITED.value),))
    return _after_new_pod(desired, options, replace, local=local)


def _after_new_pod(desired: Desired, options: Options, first: Action, resume=None,
                   local: DataFacts | None = None) -> Plan:
    """A new pod: sync everything, then launch (resuming only if a network volume may hold checkpoints)."""
    sync = Action(Kind.SYNC_CODE, "a new pod has no code", code=Reason.NEW_POD)
    data = _upload_unknown(desired, "what a new pod's volume holds is known after it starts", local=local)
    if resume is not None and not options.force_restart:
        launch = _resume_action(resume, "the training killed by --replace-now resumes", Reason.REPLACE_NOW)
    else:
        mode = LaunchMode.FORCE_RESTART if options.force_restart else (
            LaunchMode.AUTO if desired.has_network_volume else LaunchMode.FRESH)
        code = Reason.FORCE_RESTART if options.force_restart else (
            Reason.REPLACE_NOW if first.code is Reason.REPLACE_NOW else Reason.RUN_NOT_STARTED)
        reason = _launch_reason(None, options) if code is not Reason.REPLACE_NOW else \
            "the training killed by --replace-now starts again"
        launch = Action(Kind.LAUNCH_RUN, reason, code=code, mode=mode, expects=(Expect(Fact.RUN_NOT_ALIVE),))
    summary = (f"Run {desired.run_name} is killed and moves to a new pod (--replace-now)."
               if first.code is Reason.REPLACE_NOW else f"Run {desired.run_name} has not started on this pod.")
    if first.code in (Reason.FIELD_CHANGED, Reason.HOST_NO_FREE_GPU):
        summary = f"Run {desired.run_name} moves to a new pod ({first.reason})."
    return Plan((first, sync) + data + (launch,), summary=summary)


# ---- a stopped pod ----

def _stopped_pod(desired: Desired, state: State, obs: Observation, options: Options, pod: PodFacts,
                 at_start=()) -> Plan:
    last = state.last_run if state.last_run and state.last_run.run_name == desired.run_name else None
    if last and last.state == RunState.SUCCEEDED.value and not options.force_restart:
        notes = _changed_since_done(desired, last.revision, obs)
        if at_start:
            notes += (", ".join(f"pod.{c.field}" for c in at_start) + " changed; applied the next time the pod starts",)
        return Plan(summary=f"Run {desired.run_name} succeeded ({_nth(last.attempt)}); the pod is stopped. Nothing to do.",
                    notes=notes, deferred=tuple(at_start), deferred_code=Reason.RUN_DONE if at_start else None)
    contingency = Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU if desired.has_network_volume else None
    start = Action(Kind.START_POD, f"the pod is stopped ({pod.last_status_change or 'EXITED'})", code=Reason.POD_STOPPED,
                   pod_id=pod.id, changes=tuple(at_start), contingency=contingency,
                   gpu_types=desired.gpu_types if contingency else (),
                   expects=(Expect(Fact.POD_STATUS, PodStatus.EXITED.value),))
    sync = Action(Kind.SYNC_CODE, "code changes since the last sync are known after start", code=Reason.UNKNOWN_UNTIL_START)
    data = _upload_unknown(desired, "data changes since the last upload are known after start", local=obs.data)
    mode = LaunchMode.FORCE_RESTART if options.force_restart else LaunchMode.AUTO
    known_end = last is not None and last.state in (RunState.FAILED.value, STOPPED)
    if options.force_restart or known_end:
        code = Reason.FORCE_RESTART if options.force_restart else (
            Reason.RUN_INTERRUPTED if last.state == STOPPED else Reason.RUN_FAILED)
        launch = Action(Kind.LAUNCH_RUN, _stopped_launch_reason(last, options), code=code, mode=mode,
                        expects=(Expect(Fact.RUN_NOT_ALIVE),))
        return Plan((start, sync) + data + (launch,), summary=f"Run {desired.run_name} is not running (the pod is stopped).")
    # Last seen alive (or never seen): it may have ended while nobody watched, the pod stopping itself.
    seen = f"last seen {last.state} (attempt {last.attempt})" if last else "never observed by podreconcile"
    launch = Action(Kind.LAUNCH_RUN, f"the run was {seen}; it is not alive on a stopped pod", mode=mode,
                    code=Reason.RUN_OUTCOME_UNKNOWN, contingency=Contingency.SKIP_IF_RUN_SUCCEEDED,
                    expects=(Expect(Fact.RUN_NOT_ALIVE),))
    summary = (f"Run {desired.run_name} was {seen}; its outcome is unknown until the pod's volume can be read "
               "(the pod is stopped).")
    return Plan((start, sync) + data + (launch,), summary=summary)


def _stopped_launch_reason(last, options: Options) -> str:
    if options.force_restart:
        return "--force-restart: checkpoints are ignored"
    if last.state == STOPPED:
        return _stopped_wording(last.attempt)
    if last.exit_code is not None:
        return f"{_nth(last.attempt)} failed with exit code {last.exit_code}"
    return f"{_nth(last.attempt)} failed"


# ---- a running pod ----

def _running_pod(desired: Desired, obs: Observation, options: Options, pod: PodFacts) -> Plan:
    run = obs.run
    if run is None:
        why = "the pod is booting" if pod.ssh is None else "the pod did not answer over SSH"
        sync = Action(Kind.SYNC_CODE, f"{why}; what changed is known once SSH answers", code=Reason.POD_UNREACHABLE)
        data = _upload(obs) if obs.data and obs.data.source == "s3" else _upload_unknown(desired, f"{why}; what changed is known once SSH answers", Reason.POD_UNREACHABLE,
                              local=obs.data)
        mode = LaunchMode.FORCE_RESTART if options.force_restart else LaunchMode.AUTO
        launch = Action(Kind.LAUNCH_RUN, f"{why}; the run is checked before launching", code=Reason.POD_UNREACHABLE,
                        mode=mode, expects=(Expect(Fact.RUN_NOT_ALIVE),))
        return Plan((sync,) + data + (launch,), summary=f"Run {desired.run_name} is unknown: {why}.")
    notes = _checkpoint_notes(run)
    if _stopping(run):
        status = run.status
        summary = (f"Run {desired.run_name} ended ({_nth(status.attempt)}, {_exit(status.exit_code)}); "
                   "the pod is stopping itself.")
        if status.state is RunState.FAILED:
            notes += ("apply again once the pod has stopped to launch the run again",)
        blocker = "The pod is stopping itself after the run ended; apply again once it has stopped." \
            if options.force_restart else None
        return Plan(summary=summary, notes=notes, blocker=blocker)
    if run_alive(run):
        summary = (f"Run {desired.run_name} is running ({_run_position(run)}); nothing to do." if run.runner_alive
                   else f"Run {desired.run_name} is starting (launch {run.launch_id}); nothing to do.")
        if options.force_restart:
            return Plan(summary=summary, notes=notes,
                        blocker="Training is alive, and --force-restart never starts a second one; "
                                "`podreconcile stop` first, then `apply --force-restart`.")
        return Plan(summary=summary, notes=notes)
    if run.status and run.status.state is RunState.SUCCEEDED and not options.force_restart:
        summary = f"Run {desired.run_name} succeeded ({_attempt(run)})."
        notes += _changed_since_done(desired, run.status.revision, obs)
        if desired.stop_pod_when_done:
            stop = Action(Kind.STOP_POD, "the run succeeded and the pod is idle", code=Reason.RUN_SUCCEEDED_POD_IDLE,
                          pod_id=pod.id, expects=(Expect(Fact.POD_STATUS, PodStatus.RUNNING.value),
                                                  Expect(Fact.RUN_NOT_ALIVE)))
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


def _attempt(run: RunFacts) -> str:
    return _nth(run.status.attempt if run.status else None)


def _nth(attempt: int | None) -> str:
    """An attempt in words; a status.json without its number (hand-edited, older) still reads well."""
    return f"attempt {attempt}" if attempt is not None else "the last attempt"


def _exit(code: int | None) -> str:
    return f"exit code {code}" if code is not None else "an unknown exit code"


def _sync(obs: Observation) -> tuple[Action, ...]:
    code = obs.code
    if code is None or code.files_to_send is None:
        return (Action(Kind.SYNC_CODE, "the code on the pod could not be compared", code=Reason.POD_UNREACHABLE),)
    if not code.files_to_send and not code.files_to_delete and code.remote_revision == code.revision:
        return ()
    if not code.files_to_send and not code.files_to_delete:
        reason = f"the pod's code is at {code.remote_revision or 'nothing yet'}, the local code at {code.revision}"
    else:
        reason = f"{code.files_to_send} changed file(s), {code.files_to_delete or 0} to delete"
    return (Action(Kind.SYNC_CODE, reason, code=Reason.CODE_CHANGED, files=code.files_to_send,
                   bytes=code.bytes_to_send),)


def _upload_unknown(desired: Desired, reason: str, code: Reason = Reason.UNKNOWN_UNTIL_START,
                    local: DataFacts | None = None) -> tuple[Action, ...]:
    """An upload whose size is known after apply; the local side (files, bytes) is known now."""
    if not desired.has_data:
        return ()
    return (Action(Kind.UPLOAD_DATA, reason, code=code, local_files=local.files_total if local else None,
                   local_bytes=local.bytes_total if local else None),)


def _changed_since_done(desired: Desired, ran: str | None, obs: Observation) -> tuple[str, ...]:
    """A note when the code or training config changed after the run finished: a finished run is
    not launched again, so the change takes effect only on the next run."""
    local = obs.code.revision if obs.code else None
    if not ran or not local or ran == local:
        return ()
    return (f"the code or training config changed since run {desired.run_name} ran ({ran} -> {local}); a finished "
            "run is not launched again, so the change takes effect on the next run. "
            "`podreconcile apply --force-restart` runs it now, from scratch (or set a new output_dir)",)


def _upload(obs: Observation) -> tuple[Action, ...]:
    data = obs.data
    if data is None:
        return ()
    if data.files_to_send is None:
        return (Action(Kind.UPLOAD_DATA, "the data on the pod could not be compared", code=Reason.POD_UNREACHABLE),)
    if not data.files_to_send:
        return ()
    reason = f"{data.files_to_send} of {data.files_total} data file(s) missing or changed on the volume"
    via = "s3" if data.source == "s3" else None
    return (Action(Kind.UPLOAD_DATA, reason, code=Reason.DATA_CHANGED, files=data.files_to_send,
                   bytes=data.bytes_to_send, via=via),)


# ---- a pod that is not running, its network volume read through S3 (issue 11) ----

def _stopped_pod_seen_on_volume(desired: Desired, obs: Observation, options: Options, pod: PodFacts,
                                at_start=()) -> Plan:
    """The volume told the run's outcome and checkpoints with the pod stopped: no pod boots to find out.
    Data goes up through S3 first, so the pod starts only once it is there."""
    run = obs.run
    latest = run.latest_complete_checkpoint
    notes = _checkpoint_notes(run) + ((f"latest complete checkpoint on the volume: {latest.name}",) if latest else ())
    status = run.status
    if status and status.state is RunState.SUCCEEDED and not options.force_restart:
        return Plan(summary=f"Run {desired.run_name} succeeded ({_nth(status.attempt)}, read from the volume); "
                            "the pod is stopped. Nothing to do.", notes=notes,
                    deferred=tuple(at_start), deferred_code=Reason.RUN_DONE if at_start else None)
    start = Action(Kind.START_POD, f"the pod is stopped ({pod.last_status_change or 'EXITED'})", code=Reason.POD_STOPPED,
                   pod_id=pod.id, changes=tuple(at_start), contingency=Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU,
                   gpu_types=desired.gpu_types, expects=(Expect(Fact.POD_STATUS, PodStatus.EXITED.value),))
    actions = _upload_before_pod(obs) + (start,) + _sync_after_start(obs) + (_launch(run, options),)
    return Plan(actions, summary=_run_summary(desired, run) + " The pod is stopped.", notes=notes)


def _new_pod_seen_on_volume(desired: Desired, obs: Observation, options: Options, create: Action) -> Plan:
    """A new pod on a network volume read through S3: data first, then the pod, resuming where the volume says."""
    run = obs.run
    sync = Action(Kind.SYNC_CODE, "a new pod has no code", code=Reason.NEW_POD)
    actions = _upload_before_pod(obs) + (create, sync, _launch(run, options))
    status = run.status
    summary = (f"Run {desired.run_name} has not started; no pod exists for this spec." if status is None else
               f"Run {desired.run_name} is not running ({_nth(status.attempt)}: {status.state.value}); "
               "no pod exists for this spec.")
    return Plan(actions, summary=summary, notes=_checkpoint_notes(run))


def _upload_before_pod(obs: Observation) -> tuple[Action, ...]:
    """Data uploaded through S3 while no pod runs, with the GPU time that saves (an estimate)."""
    data = obs.data
    if data is None or data.source != "s3" or not data.files_to_send:
        return _upload(obs)
    reason = (f"{data.files_to_send} of {data.files_total} data file(s) missing or changed on the volume; "
              f"through RunPod's S3 API before the pod starts, saving {_gpu_minutes(data)}")
    return (Action(Kind.UPLOAD_DATA, reason, code=Reason.DATA_CHANGED, files=data.files_to_send,
                   bytes=data.bytes_to_send, via="s3"),)


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
        return (Action(Kind.SYNC_CODE, "code changes since the last sync are known after start",
                       code=Reason.UNKNOWN_UNTIL_START),)
    return _sync(obs)


def _launch(run: RunFacts, options: Options) -> Action:
    reason, code = _launch_reason(run, options), _launch_code(run, options)
    alive = Expect(Fact.RUN_NOT_ALIVE)
    if options.force_restart:
        return Action(Kind.LAUNCH_RUN, reason, code=code, mode=LaunchMode.FORCE_RESTART, expects=(alive,))
    latest = run.latest_complete_checkpoint
    if latest is None:
        return Action(Kind.LAUNCH_RUN, reason, code=code, mode=LaunchMode.FRESH,
                      expects=(alive, Expect(Fact.LATEST_CHECKPOINT, None)))
    return _resume_action(latest, reason, code)


def _resume_action(latest, reason: str, code: Reason) -> Action:
    return Action(Kind.LAUNCH_RUN, reason, code=code, mode=LaunchMode.RESUME, checkpoint=latest.name,
                  step=latest.step, checkpoint_mtime=latest.mtime,
                  expects=(Expect(Fact.RUN_NOT_ALIVE), Expect(Fact.LATEST_CHECKPOINT, latest.name)))


def _launch_code(run: RunFacts | None, options: Options) -> Reason:
    status = run.status if run else None
    if options.force_restart:
        return Reason.FORCE_RESTART
    if status is None:
        return Reason.RUN_NOT_STARTED
    return Reason.RUN_FAILED if status.state is RunState.FAILED else Reason.RUN_INTERRUPTED


def _launch_reason(run: RunFacts | None, options: Options) -> str:
    if options.force_restart:
        return "--force-restart: checkpoints are ignored"
    status = run.status if run else None
    if status is None:
        return "the run has not started yet"
    if status.stopped_by_signal:
        return _stopped_wording(status.attempt, status.signal)
    if status.state is RunState.FAILED:
        return f"{_nth(status.attempt)} failed with {_exit(status.exit_code)}"
    return f"{_nth(status.attempt)} is no longer alive ({status.state.value.lower()} when it stopped: the pod was stopped or preempted)"


def _stopped_wording(attempt, signal: str | None = None) -> str:
    how = f" ({signal})" if signal else ""
    return (f"{_nth(attempt)} was stopped{how} with its pod (`podreconcile stop`, the RunPod console or a spot "
            "interruption), not a failure")


def _run_summary(desired: Desired, run: RunFacts) -> str:
    status = run.status
    if status is None:
        return f"Run {desired.run_name} has not started on this pod."
    state = STOPPED if status.stopped_by_signal else status.state.value.lower()
    return f"Run {desired.run_name} is not running ({_nth(status.attempt)}: {state})."


def _checkpoint_notes(run: RunFacts) -> tuple[str, ...]:
    skipped = run.incomplete_newer_than_latest
    return tuple(f"{c.name} is incomplete (no trainer_state.json) and is skipped" for c in skipped)
