"""The reconciler's commands: observe -> plan -> show -> confirm -> apply -> report."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import UserError
from ..follow import follow
from ..facts import Observation
from ..observe import Connection, observe
from ..plan import Plan
from ..planner import Options, plan as make_plan, run_alive
from ..project import Project, load_project
from ..state import LastRun, now
from .render import Progress, plan_json, plan_text

SpecOption = typer.Option(None, "-f", "--file", help="The podspec [default: ./podspec.yaml].")
EXIT_CHANGES = 2
EXIT_TRAINING_FAILED = 3


def register(app: typer.Typer) -> None:
    from . import day2, init, schema

    app.command("plan")(plan_command)
    app.command("apply")(apply_command)
    day2.register(app)
    init.register(app)
    schema.register(app)


def _options(project: Project, force_restart: bool) -> Options:
    legacy = project.settings.pod_id if project.state_file.read().pod_id is None else None
    return Options(force_restart=force_restart, legacy_pod_id=legacy)


def _heading(project: Project) -> str:
    return f"Plan for {project.spec.name}: pod {project.spec.pod_name}, run {project.run_name}"


def compute_plan(project: Project, conn: Connection, options: Options) -> tuple[Plan, Observation]:
    state = project.state_file.read()
    obs = observe(project, project.provider(), state, conn, legacy_pod_id=options.legacy_pod_id)
    result = make_plan(project.desired(), state, obs, options)
    return Plan(result.actions, result.summary, result.blocker, obs.notes + result.notes), obs


def plan_command(
    spec: Path = SpecOption,
    force_restart: bool = typer.Option(False, "--force-restart", help="Plan a fresh start that ignores checkpoints."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 2 when changes are pending."),
) -> None:
    """Show what apply would do, and why. Changes nothing.

    Example: podreconcile plan --detailed-exitcode
    """
    project = load_project(spec)
    project.ssh_key()
    conn = Connection(project, persist_host_key=False)
    try:
        result, _ = compute_plan(project, conn, _options(project, force_restart))
    finally:
        conn.close()
    typer.echo(plan_json(result) if as_json else plan_text(result, _heading(project)))
    if detailed_exitcode and not result.empty:
        raise typer.Exit(EXIT_CHANGES)


def apply_command(
    spec: Path = SpecOption,
    force_restart: bool = typer.Option(False, "--force-restart", help="Start training afresh, ignoring checkpoints."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    detach: bool = typer.Option(False, "--detach", help="Return once training has started instead of following its log."),
) -> None:
    """Make the pod and the run match the spec, then follow the training log (Ctrl+C detaches).

    Example: podreconcile apply --yes
    """
    from ..apply import Applier

    project = load_project(spec)
    project.ssh_key()
    states = project.state_file
    states.lock("apply")
    conn = Connection(project, persist_host_key=True)
    progress = Progress()
    try:
        options = _options(project, force_restart)
        reviewed, observed = compute_plan(project, conn, options)
        typer.echo(plan_text(reviewed, _heading(project)))
        if reviewed.actions:
            _confirm(yes)
        applier = Applier(project, project.provider(), conn, progress, options)
        final = applier.run(reviewed)
        if final.summary and reviewed.actions:
            progress.step(final.summary)
        run = (applier.last or observed).run
        alive = bool(run and run_alive(run))
        if detach or not alive:
            if alive:
                progress.step("detached; training goes on. Follow it with: podreconcile logs --follow")
            return
        code = _follow(project, applier, progress)
    finally:
        conn.close()
        states.unlock()
    if code not in (None, 0):
        raise typer.Exit(EXIT_TRAINING_FAILED)


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("apply asks before changing anything, and there is no terminal to ask on; pass --yes.")
    if not typer.confirm("Apply these changes?", default=False):
        raise UserError("Nothing was changed (apply was not confirmed).")


def _follow(project: Project, applier, progress: Progress) -> int | None:
    pod_id = project.state_file.read().pod_id
    try:
        progress.step(f"following the training log of run {project.run_name} (Ctrl+C detaches; training goes on)")
        ending = follow(project, applier.provider, applier.conn, pod_id, on_line=_print_line, on_wait=progress.waiting)
    except KeyboardInterrupt:
        progress.step("detached; training goes on. Reattach with: podreconcile logs --follow")
        return None
    if ending.exit_code is None:
        progress.step(f"the pod stopped before the attempt's last line arrived ({ending.pod_status}); "
                      "`podreconcile plan` shows what happened, `apply` resumes")
        return None
    state = "succeeded" if ending.exit_code == 0 else "failed"
    project.state_file.write(project.state_file.read().with_(
        last_run=LastRun(project.run_name, state, ending.attempt, ending.exit_code, now())))
    verdict = "succeeded" if ending.exit_code == 0 else f"failed with exit code {ending.exit_code}"
    stops = " The pod stops itself." if project.spec.run.stop_pod_when_done else ""
    progress.step(f"training {verdict}.{stops}")
    return ending.exit_code


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
