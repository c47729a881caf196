"""The everyday commands around apply: status, logs, stop, destroy, sync-data, tensorboard.

Options and rendering only; what they do is in `engine.day2`. Reading commands (status, logs,
tensorboard) take no lock; those that start, stop or terminate the pod do (`--lock-timeout`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from podreconcile.cli import pull as pull_cli
from podreconcile.cli.options import (
    LockTimeoutOption,
    SpecOption,
    lock_seconds,
    print_line,
)
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.spec import parse_duration
from podreconcile.core.terminal_text import printable

if TYPE_CHECKING:
    from podreconcile.engine.project import Project

# The engine is imported inside each command, so `--help` needs none of it (docs/benchmarks.md).


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)
    app.command("logs")(logs_command)
    app.command("stop")(stop_command)
    app.command("destroy")(destroy_command)
    app.command("sync-data")(sync_data_command)
    app.command("tensorboard")(tensorboard_command)


@contextmanager
def _locked(project: Project, command: str, lock_timeout: str | None):
    from podreconcile.cli.render import Progress

    project.state_file.lock(command, lock_seconds(lock_timeout), on_wait=Progress().step)
    try:
        yield
    finally:
        project.state_file.unlock()


def status_command(spec: Path = SpecOption, as_json: bool = typer.Option(False, "--json", help="Print it as JSON, for scripts."),
                   stalled_after: str = typer.Option("30m", "--stalled-after",
                                                     help="Report a live run as stalled after this long without a new "
                                                          "log line or checkpoint (e.g. 10m).")) -> None:
    """The pod, the run, and what `plan` would do.

    Example: podreconcile status --json
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import use_colour
    from podreconcile.cli.status import status_dict, status_text
    from podreconcile.engine import day2
    from podreconcile.engine.project import load_project

    try:
        stalled_after_s = parse_duration(stalled_after)
    except ValueError as error:
        raise UserError(f"--stalled-after: {error}.") from None
    project = load_project(spec)
    conn = wiring.connection(project, False, look=True)
    try:
        state, obs, result, owner = day2.status(project, wiring.provider(project), conn)
    finally:
        conn.close()
    info = status_dict(project, state, obs, result, owner, stalled_after_s=stalled_after_s)
    width = shutil.get_terminal_size((100, 24)).columns
    typer.echo(json.dumps(info, indent=2) if as_json else status_text(info, colour=use_colour(), width=width))


def logs_command(
    spec: Path = SpecOption,
    follow_: bool = typer.Option(False, "--follow", "-F", help="Keep printing new lines until the attempt ends."),
    tail: int = typer.Option(None, "--tail", "-n", metavar="N", help="Only the last N lines."),
    all_attempts: bool = typer.Option(False, "--all", help="Every attempt (train.log), not just the latest."),
    start: bool = typer.Option(False, "--start", help="Start a stopped pod to read the log, then stop it again."),
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """The run's log from the volume.

    Example: podreconcile logs --follow
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import day2
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    conn = wiring.connection(project, False)
    provider = wiring.provider(project)
    if follow_ and not start:
        try:
            ending = day2.follow_log(project, provider, conn, print_line, Progress().info, tail)
        except KeyboardInterrupt:
            return
        finally:
            conn.close()
        if ending.exit_code not in (None, 0):
            raise typer.Exit(3)
        return
    # Reading takes no lock; starting and stopping the pod for it does.
    with _locked(project, "logs --start", lock_timeout) if start else nullcontext():
        sys.stdout.write(printable(day2.read_log(project, provider, conn, Progress(), tail=tail,
                                                 all_attempts=all_attempts, start=start)))


def stop_command(spec: Path = SpecOption, lock_timeout: str = LockTimeoutOption) -> None:
    """Stop the pod; training state stays on the volume and `apply` resumes it.

    Example: podreconcile stop
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import user_stop
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    with _locked(project, "stop", lock_timeout):
        conn = wiring.connection(project, False)
        try:
            plan = user_stop.stop(project, wiring.provider(project), conn, Progress())
        finally:
            conn.close()
    if not plan.actions:
        typer.echo(plan.summary)
        return
    pod_id = plan.actions[0].pod_id
    typer.echo(f"Stopped pod {pod_id}; the volume keeps code, data, checkpoints and logs. "
               "`podreconcile apply` starts it and resumes training.")


def destroy_command(spec: Path = SpecOption, yes: bool = typer.Option(False, "--yes", "-y", help="Terminate without asking."),
                    lock_timeout: str = LockTimeoutOption) -> None:
    """Terminate the pod and clear the state file; a network volume is kept.

    Example: podreconcile destroy --yes
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import day2
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    provider = wiring.provider(project)
    volume = project.spec.pod.network_volume
    lost = "" if volume else " Its volume disk, with the checkpoints on it, goes too."
    with _locked(project, "destroy", lock_timeout):
        plan, pods = day2.plan_destroy(project, provider)
        (terminate,) = plan.actions
        if not yes and not sys.stdin.isatty():
            raise UserError("destroy terminates the pod for good; pass --yes to confirm.")
        _offer_pull(project, provider, pods, ask=not yes)
        if not yes and not typer.confirm(f"Terminate pod {terminate.pod_id}?{lost}", default=False):
            raise UserError("Nothing was changed (destroy was not confirmed).")
        day2.execute(project, provider, wiring.connection(project, False), Progress(), plan)
    kept = f" Network volume {volume} is kept, with its data." if volume else lost
    typer.echo(f"Terminated pod {terminate.pod_id} and cleared the state file.{kept}")


def _offer_pull(project: Project, provider, pods, ask: bool) -> None:
    """Before a pod's own volume disk goes: offer to pull the run's outputs (over SSH: S3 never reaches
    a volume disk), or say plainly that they go and how to keep them."""
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import pull

    if project.spec.pod.network_volume:
        return
    conn = wiring.connection(project, False)
    try:
        at_risk = pull.outputs_at_risk(project, provider, conn, pods)
    except (TemporaryError, PermanentError) as error:
        at_risk = f"the pod's volume disk could not be checked for checkpoints ({error})"
    finally:
        conn.close()
    if not at_risk:
        return
    stopped = "is stopped" in at_risk
    how = "`podreconcile pull --start`" if stopped else "`podreconcile pull`"
    if not ask:
        Progress().warn(f"{at_risk}; destroy deletes them with the pod. To keep them, run {how} first.")
        return
    if typer.confirm(f"{at_risk}, and destroy deletes them. Pull the run's outputs to ./pulled/{project.run_name}/ "
                     f"first{' (starts the pod for it)' if stopped else ''}?", default=True):
        typer.echo(pull_cli.describe(pull_cli.pull_into(project, Progress(), [], None, start=stopped)))


def sync_data_command(spec: Path = SpecOption, lock_timeout: str = LockTimeoutOption) -> None:
    """Upload the spec's data (only what is missing or changed); leaves the pod as it found it.

    Example: podreconcile sync-data
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import day2
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    progress = Progress()
    with _locked(project, "sync-data", lock_timeout):
        result = day2.sync_data(project, wiring.provider(project), wiring.connection(project, True), progress)
    if result is not None and result.method != "s3":  # the S3 path reports its own summary
        progress.info(f"uploaded {result.files_sent} file(s), {result.bytes_sent} bytes in {result.seconds:.1f} s "
                      f"({result.method})")


def tensorboard_command(spec: Path = SpecOption, port: int = typer.Option(6006, "--port", metavar="PORT", help="Local port.")) -> None:
    """Tunnel to TensorBoard on the pod (started in tmux session `tb` if absent); Ctrl+C closes the tunnel only.

    Example: podreconcile tensorboard --port 6007
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress
    from podreconcile.engine import day2
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    conn = wiring.connection(project, False)
    with day2.tensorboard(project, wiring.provider(project), conn, Progress(), port) as (session, forwarder):
        typer.echo(f"TensorBoard: http://127.0.0.1:{forwarder.local_port}/  (Ctrl+C closes the tunnel; TensorBoard keeps running)")
        try:
            while session.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
