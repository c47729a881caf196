"""The everyday commands around apply: status, logs, stop, destroy, sync-data, tensorboard."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import typer

from podreconcile.cli import user_stop, wiring
from podreconcile.cli.commands import SpecOption, _options, _print_line
from podreconcile.cli.render import Progress, finish, use_colour
from podreconcile.cli.status import status_dict, status_text
from podreconcile.core.errors import UserError
from podreconcile.core.observation import PodFacts, PodStatus
from podreconcile.core.ownership import identify_pod
from podreconcile.core.planner import plan as make_plan
from podreconcile.engine import datasync, pod_steps, retry
from podreconcile.engine.follow import follow
from podreconcile.engine.observe import (
    Connection,
    data_diff,
    observe,
    paths,
    wait_for_ssh_port,
)
from podreconcile.engine.project import Project, load_project


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)
    app.command("logs")(logs_command)
    app.command("stop")(stop_command)
    app.command("destroy")(destroy_command)
    app.command("sync-data")(sync_data_command)
    app.command("tensorboard")(tensorboard_command)


def our_pod(project: Project, required: bool = True) -> PodFacts | None:
    """The project's pod as RunPod reports it (state file, then name, then legacy POD_ID)."""
    state = project.state_file.read()
    pods = retry.call(wiring.provider(project).list_pods)
    pod, _, _ = identify_pod(project.spec.pod_name, state, pods, project.settings.pod_id)
    if pod is None and required:
        raise UserError(f"No pod exists for {project.spec.pod_name}; `podreconcile apply` creates it.")
    return pod


@contextmanager
def _session(project: Project, pod: PodFacts, conn: Connection):
    try:
        live = wait_for_ssh_port(wiring.provider(project), pod.id, on_wait=Progress().waiting)
        finish()  # the wait is over: its spinner goes before the command prints anything
        yield conn.session(live)
    finally:
        conn.close()


def status_command(spec: Path = SpecOption,
                   as_json: bool = typer.Option(False, "--json", help="Print it as JSON, for scripts.")) -> None:
    """The pod, the run, and what `plan` would do.

    Example: podreconcile status --json
    """
    project = load_project(spec)
    conn = wiring.connection(project, False)
    try:
        options = _options(project, False)
        state = project.state_file.read()
        obs = observe(project, wiring.provider(project), state, conn, legacy_pod_id=options.legacy_pod_id)
        result = make_plan(project.desired(), state, obs, options)
    finally:
        conn.close()
    info = status_dict(project, state, obs, result)
    width = shutil.get_terminal_size((100, 24)).columns
    typer.echo(json.dumps(info, indent=2) if as_json else status_text(info, colour=use_colour(), width=width))


def logs_command(
    spec: Path = SpecOption,
    follow_: bool = typer.Option(False, "--follow", "-F", help="Keep printing new lines until the attempt ends."),
    tail: int = typer.Option(None, "--tail", "-n", metavar="N", help="Only the last N lines."),
    all_attempts: bool = typer.Option(False, "--all", help="Every attempt (train.log), not just the latest."),
    start: bool = typer.Option(False, "--start", help="Start a stopped pod to read the log, then stop it again."),
) -> None:
    """The run's log from the volume.

    Example: podreconcile logs --follow
    """
    project = load_project(spec)
    pod = our_pod(project)
    started = False
    if pod.status is not PodStatus.RUNNING:
        if not start:
            raise UserError(f"Pod {pod.id} is stopped, so its volume cannot be read; `podreconcile logs --start` "
                            "starts it, prints the log and stops it again (or `podreconcile apply` resumes training).")
        retry.call(lambda: wiring.provider(project).resume_pod(pod.id, project.spec.pod.gpu_count, _bid(project)))
        started = True
    conn = wiring.connection(project, False)
    try:
        with _session(project, pod, conn) as session:
            run_paths = paths(project)
            if follow_ and not started:
                conn_follow(project, conn, pod, tail)
                return
            path = run_paths.train_log if all_attempts else run_paths.current_log
            sys.stdout.write(pod_steps.read_log(session, path, tail))
    finally:
        if started:
            retry.call(lambda: wiring.provider(project).stop_pod(pod.id))
            Progress().step(f"stopped pod {pod.id} again")


def conn_follow(project: Project, conn: Connection, pod: PodFacts, tail: int | None) -> None:
    try:
        ending = follow(project, wiring.provider(project), conn, pod.id, on_line=_print_line,
                        on_notice=Progress().info, lines=tail or 20)
    except KeyboardInterrupt:
        return
    if ending.exit_code not in (None, 0):
        raise typer.Exit(3)


def stop_command(spec: Path = SpecOption) -> None:
    """Stop the pod; training state stays on the volume and `apply` resumes it.

    Example: podreconcile stop
    """
    project = load_project(spec)
    project.state_file.lock("stop")
    try:
        pod = our_pod(project)
        if pod.status is PodStatus.EXITED:
            typer.echo(f"Pod {pod.id} is already stopped.")
            return
        run = user_stop.run_before_stop(project, pod)
        retry.call(lambda: wiring.provider(project).stop_pod(pod.id))
        user_stop.record_user_stop(project, run)
        typer.echo(f"Stopped pod {pod.id}; the volume keeps code, data, checkpoints and logs. "
                   "`podreconcile apply` starts it and resumes training.")
    finally:
        project.state_file.unlock()


def destroy_command(spec: Path = SpecOption,
                    yes: bool = typer.Option(False, "--yes", "-y", help="Terminate without asking.")) -> None:
    """Terminate the pod and clear the state file; a network volume is kept.

    Example: podreconcile destroy --yes
    """
    project = load_project(spec)
    project.state_file.lock("destroy")
    try:
        pod = our_pod(project)
        volume = project.spec.pod.network_volume
        lost = "" if volume else " Its volume disk, with the checkpoints on it, goes too."
        if not yes:
            if not sys.stdin.isatty():
                raise UserError("destroy terminates the pod for good; pass --yes to confirm.")
            if not typer.confirm(f"Terminate pod {pod.id}?{lost}", default=False):
                raise UserError("Nothing was changed (destroy was not confirmed).")
        retry.call(lambda: wiring.provider(project).terminate_pod(pod.id))
        project.state_file.path.unlink(missing_ok=True)
        kept = f" Network volume {volume} is kept, with its data." if volume else lost
        typer.echo(f"Terminated pod {pod.id} and cleared the state file.{kept}")
    finally:
        project.state_file.unlock()


def sync_data_command(spec: Path = SpecOption) -> None:
    """Upload the spec's data (only what is missing or changed); leaves the pod as it found it.

    Example: podreconcile sync-data
    """
    project = load_project(spec)
    if not project.spec.data:
        raise UserError("The spec has no data entries; add them under `data:` in podspec.yaml.")
    project.state_file.lock("sync-data")
    progress = Progress()
    pod = our_pod(project)
    was_stopped = pod.status is not PodStatus.RUNNING
    conn = wiring.connection(project, True)
    try:
        if was_stopped:
            progress.step(f"starting pod {pod.id} for the upload")
            retry.call(lambda: wiring.provider(project).resume_pod(pod.id, project.spec.pod.gpu_count, _bid(project)))
        with _session(project, pod, conn) as session:
            diff = data_diff(project, session)
            if not diff.send:
                progress.step(f"nothing to upload: the volume holds all {diff.files_total} data file(s)")
                return
            progress.step(f"uploading {len(diff.send)} of {diff.files_total} file(s), {diff.bytes_to_send} bytes")
            result = datasync.upload(session, diff, key_path=project.ssh_key(), progress=progress.transfer)
            progress.info(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes in {result.seconds:.1f} s ({result.method})")
    finally:
        if was_stopped:
            retry.call(lambda: wiring.provider(project).stop_pod(pod.id))
            progress.step(f"stopped pod {pod.id} again")
        project.state_file.unlock()


def tensorboard_command(spec: Path = SpecOption, port: int = typer.Option(6006, "--port", metavar="PORT", help="Local port.")) -> None:
    """Tunnel to TensorBoard on the pod (started in tmux session `tb` if absent); Ctrl+C closes the tunnel only.

    Example: podreconcile tensorboard --port 6007
    """
    project = load_project(spec)
    pod = our_pod(project)
    if pod.status is not PodStatus.RUNNING:
        raise UserError(f"Pod {pod.id} is stopped; `podreconcile apply` (or `logs --start`) starts it.")
    conn = wiring.connection(project, False)
    with _session(project, pod, conn) as session:
        remote_port = project.spec.tensorboard.port
        started = session.run(_tensorboard_command(project), what="starting TensorBoard", timeout=30, check=False)
        if started.exit_code == 127:
            raise UserError("TensorBoard is not installed on the pod; add `tensorboard` to the requirements that "
                            "run.setup installs (or install it in run.venv), then try again.")
        forwarder = session.forward_local(port, "127.0.0.1", remote_port)
        typer.echo(f"TensorBoard: http://127.0.0.1:{forwarder.local_port}/  (Ctrl+C closes the tunnel; TensorBoard keeps running)")
        try:
            while session.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        forwarder.close()


def _tensorboard_command(project: Project) -> str:
    spec, q = project.spec, shlex.quote
    logdir = spec.tensorboard.logdir.format(run_name=project.run_name)
    full = logdir if logdir.startswith("/") else f"{spec.code.path.rstrip('/')}/{logdir}"
    binary = f"{spec.run.venv.rstrip('/')}/bin/tensorboard" if spec.run.venv else "tensorboard"
    serve = f"{q(binary)} --logdir {q(full)} --host 127.0.0.1 --port {int(spec.tensorboard.port)}"
    return (f"command -v {q(binary)} >/dev/null || exit 127; mkdir -p {q(full)} && "
            f"{{ tmux has-session -t tb 2>/dev/null || tmux new-session -d -s tb {q(serve)}; }}")


def _bid(project: Project) -> float | None:
    pod = project.spec.pod
    return pod.bid_per_gpu if pod.interruptible else None
