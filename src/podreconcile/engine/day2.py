"""The everyday commands around apply: status, logs, destroy, sync-data, tensorboard (stop: `engine.user_stop`).

Each goes observe -> plan -> apply like `apply` itself: the pod is picked by `core.ownership` (the one
rule), the change is a plan from `core.pod_commands`, and its actions run through `Applier.execute`,
the executors apply uses. The cli renders and asks; nothing here prints.

A command lists the account once and hands that listing on (to `visit`, to the S3 route): a second
listing costs a round trip and can disagree with the first (docs/benchmarks.md counts them).
"""

from __future__ import annotations

import shlex
from contextlib import contextmanager
from typing import Callable, Iterator

from podreconcile.core.errors import UserError
from podreconcile.core.observation import Observation, PodFacts
from podreconcile.core.ownership import Ownership, identify_pod
from podreconcile.core.plan import Plan
from podreconcile.core.planner import Options
from podreconcile.core.planner import plan as make_plan
from podreconcile.core.pod_commands import (
    destroy_plan,
    our_pod,
    stop_after_visit,
    visit_plan,
)
from podreconcile.core.ports import PodShell, Provider
from podreconcile.core.spec.command import fill
from podreconcile.core.state import State
from podreconcile.engine import (
    datasync,
    pod_steps,
    retry,
    volume_logs,
    volume_sync,
    volume_upload,
)
from podreconcile.engine.apply import Applier, Reporter
from podreconcile.engine.follow import Ending, follow
from podreconcile.engine.observe import (
    Connection,
    data_diff,
    observe,
    paths,
    wait_for_ssh_port,
)
from podreconcile.engine.project import Project


def options(project: Project, force_restart: bool = False, adopt_pod_id: str | None = None,
            replace_now: bool = False) -> Options:
    """The planner's options for this project: the legacy POD_ID is offered; the rule decides."""
    return Options(force_restart=force_restart, legacy_pod_id=project.settings.pod_id, adopt_pod_id=adopt_pod_id,
                   replace_now=replace_now)


def ownership(project: Project, pods) -> Ownership:
    return identify_pod(project.spec.pod_name, project.state_file.read(), pods, project.settings.pod_id)


def current_pod(project: Project, provider: Provider) -> PodFacts:
    """Our pod as RunPod reports it now, or a UserError in one sentence (none, or not ours to touch)."""
    return our_pod(ownership(project, retry.call(provider.list_pods)), project.spec.pod_name)


def listed(project: Project, provider: Provider) -> tuple[list[PodFacts], list | None]:
    """The account in one listing: (pods, network volumes); the volumes only when the spec names one
    (None: not listed, as `observe` does), since they only decide whether S3 reaches it."""
    if not project.spec.pod.network_volume:
        return retry.call(provider.list_pods, deadline=60), None
    return retry.call(provider.account, deadline=60)


def execute(project: Project, provider: Provider, conn: Connection, report: Reporter, plan: Plan) -> None:
    """Run a reviewed day-2 plan through apply's executors, in order."""
    applier = Applier(project, provider, conn, report, options(project))
    for action in plan.actions:
        if applier.execute(action):
            raise UserError(f"Pod {action.pod_id} cannot start: its host has no free GPU; "
                            "`podreconcile apply` replaces it on its network volume, or try again later.")


# ---- status ----

def status(project: Project, provider: Provider, conn: Connection) -> tuple[State, Observation, Plan, Ownership]:
    """Observe and plan (changing nothing); the ownership says which pod the plan is about."""
    state = project.state_file.read()
    opts = options(project)
    obs = observe(project, provider, state, conn, legacy_pod_id=opts.legacy_pod_id)
    return state, obs, make_plan(project.desired(), state, obs, opts), ownership(project, obs.pods)


# ---- destroy (stop: engine.user_stop) ----

def plan_destroy(project: Project, provider: Provider) -> tuple[Plan, list[PodFacts]]:
    """The destroy plan and the listing it was made from (the pull offered before it reuses it)."""
    pods = retry.call(provider.list_pods)
    return destroy_plan(ownership(project, pods), project.spec.pod_name, project.spec.pod.network_volume), pods


# ---- visiting the pod: logs, sync-data, tensorboard ----

UP_POD_SSH_DEADLINE = 30.0

@contextmanager
def visit(project: Project, provider: Provider, conn: Connection, report: Reporter, start_why: str | None,
          pods: list[PodFacts] | None = None) -> Iterator[PodShell]:
    """A shell on our pod. A stopped pod is started for it when `start_why` says why (and stopped again
    afterwards, leaving it as found); without it, a stopped pod is a UserError. `pods`: the command's
    listing of the account, when it has one already (else the pods are listed here)."""
    owner = ownership(project, retry.call(provider.list_pods) if pods is None else pods)
    pod = our_pod(owner, project.spec.pod_name)
    if not pod.status.is_up and start_why is None:
        raise UserError(f"Pod {pod.id} is stopped, so its volume cannot be read; `podreconcile logs --start` "
                        "starts it, prints the log and stops it again (or `podreconcile apply` resumes training).")
    plan = visit_plan(owner, project.spec.pod_name, start_why or "")
    try:
        execute(project, provider, conn, report, plan)
        # A pod that was up with its port needs no new look; one started (or still booting) is polled.
        found_up = pod.ssh is not None and not plan.actions
        live = pod if found_up else wait_for_ssh_port(provider, pod.id, on_wait=report.waiting)
        # A pod found up answers SSH at once; one that stopped since the listing (its run ended) must
        # not hold the command for a boot's wait: 30 s, as observe allows a running pod.
        yield conn.session(live, deadline=UP_POD_SSH_DEADLINE if found_up else None)
    finally:
        conn.close()
        execute(project, provider, conn, report, stop_after_visit(plan))


def read_log(project: Project, provider: Provider, conn: Connection, report: Reporter, *,
             tail: int | None, all_attempts: bool, start: bool) -> str:
    """The log: from the running pod over SSH; from the volume through S3 when the pod is not running
    and S3 reaches it; with `start`, from a stopped pod started for it."""
    pods = None  # with `start`, S3 is not tried: `visit` lists the pods
    if not start:
        pods, volumes = listed(project, provider)
        pod = ownership(project, pods).pod
        if pod is None or not pod.status.is_up:
            route, volume = volume_sync.store(project, conn, provider, volumes)
            if volume is not None:
                run_paths = paths(project)
                path = run_paths.train_log if all_attempts else run_paths.current_log
                return retry.call(lambda: volume_logs.read_log(volume, project.mount, path, tail), deadline=60)
            if pod is not None and project.spec.pod.network_volume:
                raise UserError(f"Pod {pod.id} is stopped and its volume is read {route.explain()}; "
                                "`podreconcile logs --start` starts it, prints the log and stops it again.")
    why = "`logs --start` reads the log from the pod's volume" if start else None
    with visit(project, provider, conn, report, why, pods) as session:
        run_paths = paths(project)
        return pod_steps.read_log(session, run_paths.train_log if all_attempts else run_paths.current_log, tail)


def follow_log(project: Project, provider: Provider, conn: Connection, on_line: Callable[[str], None],
               on_notice: Callable[[str], None], tail: int | None) -> Ending:
    pod = current_pod(project, provider)
    if not pod.status.is_up:
        raise UserError(f"Pod {pod.id} is stopped, so there is no log to follow; `podreconcile logs` prints "
                        "what the volume holds (with --start) and `podreconcile apply` resumes training.")
    return follow(project, provider, conn, pod.id, on_line=on_line, on_notice=on_notice, lines=tail or 20,
                  listed=pod)


def sync_data(project: Project, provider: Provider, conn: Connection, report: Reporter) -> datasync.UploadResult | None:
    """Upload what is missing or changed; None when the volume already holds every file."""
    if not project.spec.data:
        raise UserError("The spec has no data entries; add them under `data:` in podspec.yaml.")
    pods, volumes = listed(project, provider)
    route, volume = volume_sync.store(project, conn, provider, volumes)
    if volume is not None:  # no pod is started: the upload costs no GPU time
        return volume_sync.upload_data(project, volume, report)
    if project.spec.pod.network_volume:
        report.step(f"data goes {route.explain()}")
    with visit(project, provider, conn, report, "`sync-data` uploads to the pod's volume", pods) as session:
        diff = data_diff(project, session)
        if not diff.send:
            report.step(f"nothing to upload: the volume holds all {diff.files_total} data file(s)")
            return None
        report.step(f"uploading {len(diff.send)} of {diff.files_total} file(s), {diff.bytes_to_send} bytes")
        result = datasync.upload(session, diff, key_path=project.ssh_key(), progress=report.transfer,
                                 prefer_rsync=datasync.rsync_pays_off(diff))
        volume_upload.record_rate(project, result.bytes_sent, result.seconds)
        return result


@contextmanager
def tensorboard(project: Project, provider: Provider, conn: Connection, report: Reporter, local_port: int):
    """TensorBoard in tmux session `tb` on the running pod (started if absent), tunnelled to `local_port`;
    yields (session, forwarder). Leaving closes the tunnel only."""
    pods = retry.call(provider.list_pods)
    pod = our_pod(ownership(project, pods), project.spec.pod_name)
    if not pod.status.is_up:
        raise UserError(f"Pod {pod.id} is stopped; `podreconcile apply` (or `logs --start`) starts it.")
    with visit(project, provider, conn, report, None, pods) as session:
        started = session.run(tensorboard_command(project), what="starting TensorBoard", timeout=30, check=False)
        if started.exit_code == 127:
            raise UserError("TensorBoard is not installed on the pod; add `tensorboard` to the requirements that "
                            "run.setup installs (or install it in run.venv), then try again.")
        forwarder = session.forward_local(local_port, "127.0.0.1", project.spec.tensorboard.port)
        try:
            yield session, forwarder
        finally:
            forwarder.close()


def tensorboard_command(project: Project) -> str:
    spec, q = project.spec, shlex.quote
    logdir = fill(spec.tensorboard.logdir, {"run_name": project.run_name})
    full = logdir if logdir.startswith("/") else f"{spec.code.path.rstrip('/')}/{logdir}"
    binary = f"{spec.run.venv.rstrip('/')}/bin/tensorboard" if spec.run.venv else "tensorboard"
    serve = f"{q(binary)} --logdir {q(full)} --host 127.0.0.1 --port {int(spec.tensorboard.port)}"
    return (f"command -v {q(binary)} >/dev/null || exit 127; mkdir -p {q(full)} && "
            f"{{ tmux has-session -t tb 2>/dev/null || tmux new-session -d -s tb {q(serve)}; }}")
