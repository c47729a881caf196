"""The reconciler's commands: observe -> plan -> show -> confirm -> apply -> report."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from podreconcile.cli.options import (
    LockTimeoutOption,
    SpecOption,
    lock_seconds,
    print_line,
)
from podreconcile.core.errors import UserError

if TYPE_CHECKING:
    from podreconcile.cli.render import Progress
    from podreconcile.core.observation import Observation
    from podreconcile.core.plan import Plan
    from podreconcile.core.planner import Options
    from podreconcile.core.state import State
    from podreconcile.engine import preflight, saved_plans
    from podreconcile.engine.billing_guard import BillingGuard
    from podreconcile.engine.observe import Connection
    from podreconcile.engine.project import Project

# The engine, the adapters and pydantic are imported inside the commands: `--help` and the commands
# that need no API call start in a fraction of the time (docs/benchmarks.md, CLI start-up).

EXIT_CHANGES = 2
EXIT_TRAINING_FAILED = 3
ENDED_BY_SIGNAL = re.compile(r"^podreconcile: attempt ended: signal (\w+),")


def register(app: typer.Typer) -> None:
    from podreconcile.cli import day2, init, pull, schema, show, ssh_command

    app.command("plan")(plan_command)
    app.command("apply")(apply_command)
    show.register(app)
    day2.register(app)
    ssh_command.register(app)
    pull.register(app)
    init.register(app)
    schema.register(app)


def _options(project: Project, force_restart: bool, adopt_pod_id: str | None = None,
             replace_now: bool = False) -> Options:
    from podreconcile.engine import day2

    return day2.options(project, force_restart, adopt_pod_id, replace_now)


ReplaceNowOption = typer.Option(
    False, "--replace-now",
    help="Replace the pod now even under a live run: the running training is killed and resumes on the new "
         "pod (the plan names the checkpoint). Without it a pod change waits for the run's end.")


def _heading(project: Project) -> str:
    from podreconcile.cli import wiring

    heading = f"Plan for {project.spec.name}: pod {project.spec.pod_name}, run {project.run_name}"
    api = wiring.api_base_url(project)
    if api != wiring.DEFAULT_API_BASE_URL:
        # A leftover `sandbox up` export would send everything to the sandbox: say where calls go.
        heading += f" (RunPod API at {api})"
    return heading


@dataclass(frozen=True)
class Planned:
    plan: Plan
    obs: Observation
    state: State
    problems: tuple[preflight.Problem, ...] = ()  # preflight: apply refuses before any change


def compute_plan(project: Project, conn: Connection, options: Options) -> Planned:
    """Observe, plan, and price what the plan would rent (one more API call, only when it rents).

    Preflight runs on the same facts: its problems become the plan's blocker, and apply refuses.
    """
    from podreconcile.cli import wiring
    from podreconcile.core import cost, gpu_choice
    from podreconcile.core.planner import plan as make_plan
    from podreconcile.engine import gpu_offers, preflight
    from podreconcile.engine.observe import observe

    state = project.state_file.read()
    provider = wiring.provider(project)
    obs = observe(project, provider, state, conn, legacy_pod_id=options.legacy_pod_id,
                  adopt_pod_id=options.adopt_pod_id)
    desired = project.desired()
    bare = make_plan(desired, state, obs, options)
    offers = gpu_offers.read(provider, project.spec, bare)  # one catalog read, only when the plan rents a pod
    result = gpu_choice.with_candidates(bare, offers)
    prices = {gpu: o.price_per_gpu for gpu, o in offers.items() if o.price_per_gpu is not None}
    notes = obs.notes + gpu_offers.spot_note(project.spec) + result.notes
    priced = replace(result, notes=notes, cost=cost.estimate(result, desired, obs.pods, prices))
    problems = _preflight(project, priced, offers)
    if problems:
        blocker = " ".join(filter(None, (preflight.blocker_text(problems), priced.blocker)))
        priced = replace(priced, blocker=blocker)
    return Planned(priced, obs, state, tuple(problems))


def _preflight(project: Project, result: Plan, offers: dict) -> list[preflight.Problem]:
    from podreconcile.engine import preflight

    if not preflight.applies_to(result):
        return []
    problems = preflight.local_problems(project)
    if preflight.needs_gpu_list(result):
        problems += preflight.gpu_problems(project.spec, offers)  # the catalog is RunPod's GPU list
        problems += preflight.stock_problems(project.spec, result)
    return problems


def plan_command(
    spec: Path = SpecOption,
    force_restart: bool = typer.Option(False, "--force-restart", help="Plan a fresh start that ignores checkpoints."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (same as --format json)."),
    output: str = typer.Option("text", "--format", metavar="FORMAT", help="text | markdown | json"),
    out: Path = typer.Option(None, "--out", metavar="FILE", help="Save the plan to FILE for `podreconcile apply FILE`."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 0 no changes, 1 error, 2 changes pending."),
    replace_now: bool = ReplaceNowOption,
) -> None:
    """Show what apply would do, and why. Changes nothing.

    Example: podreconcile plan --out plan.json --detailed-exitcode
    """
    from podreconcile.cli import wiring
    from podreconcile.cli.render import plan_json, plan_markdown, plan_text, use_colour
    from podreconcile.engine import saved_plans
    from podreconcile.engine.project import load_project

    if output not in ("text", "markdown", "json"):
        raise UserError(f"--format {output} is not one of text, markdown, json.")
    project = load_project(spec)
    conn = wiring.connection(project, False, look=True)
    try:
        planned = compute_plan(project, conn, _options(project, force_restart, replace_now=replace_now))
    finally:
        conn.close()
    result = planned.plan
    if out:
        saved_plans.save(out, project, result, saved_plans.basis(project, planned.state, planned.obs), force_restart,
                         replace_now)
    if as_json or output == "json":
        typer.echo(plan_json(result))
    elif output == "markdown":
        typer.echo(plan_markdown(result, _heading(project)), nl=False)
    else:
        typer.echo(plan_text(result, _heading(project), colour=use_colour()))
    if out:
        typer.echo(f"Saved to {out}; `podreconcile apply {out}` applies exactly this plan.", err=True)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(EXIT_CHANGES)


def apply_command(
    plan_file: Path = typer.Argument(None, metavar="FILE", help="A plan saved by `plan --out`: apply exactly it, or refuse if stale."),
    spec: Path = SpecOption,
    force_restart: bool = typer.Option(False, "--force-restart", help="Start training afresh, ignoring checkpoints."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    detach: bool = typer.Option(False, "--detach", help="Return once training has started instead of following its log."),
    adopt: str = typer.Option(None, "--adopt", metavar="POD_ID",
                              help="Adopt this pod as the spec's pod, whatever its name (a legacy POD_ID, a renamed pod)."),
    lock_timeout: str = LockTimeoutOption,
    replace_now: bool = ReplaceNowOption,
) -> None:
    """Make the pod and the run match the spec, then follow the training log (Ctrl+C detaches).

    Example: podreconcile apply --yes
    """
    from podreconcile.engine.billing_guard import sigterm_as_interrupt

    with sigterm_as_interrupt():
        _apply(plan_file, spec, force_restart, yes, detach, adopt, lock_timeout, replace_now)


def _apply(plan_file: Path | None, spec: Path | None, force_restart: bool, yes: bool, detach: bool,
           adopt: str | None, lock_timeout: str | None, replace_now: bool) -> None:
    from podreconcile.cli import wiring
    from podreconcile.cli.render import Progress, plan_text, use_colour
    from podreconcile.core.planner import run_alive
    from podreconcile.engine import preflight, saved_plans
    from podreconcile.engine.apply import Applier
    from podreconcile.engine.project import load_project

    stored = saved_plans.load(plan_file) if plan_file else None
    if stored and adopt:
        raise UserError("--adopt cannot change a saved plan; run `podreconcile apply --adopt POD_ID` without the plan file.")
    project = load_project(spec or (Path(stored.spec_path) if stored else None))
    project.ssh_key()
    states = project.state_file
    states.lock("apply", lock_seconds(lock_timeout), on_wait=Progress().step)
    conn = wiring.connection(project, True, look=True)
    progress = Progress()
    try:
        options = _options(project, force_restart or bool(stored and stored.force_restart), adopt,
                           replace_now or bool(stored and stored.replace_now))
        planned = compute_plan(project, conn, options)
        reviewed = _still_valid(stored, plan_file, project, planned) if stored else planned.plan
        typer.echo(plan_text(reviewed, _heading(project), colour=use_colour()))
        if planned.problems:
            raise UserError(f"{preflight.blocker_text(planned.problems)} Nothing was changed.")
        if reviewed.actions and not stored:
            _confirm(yes)
        applier = Applier(project, wiring.provider(project), conn, progress, options,
                          saved_plan=str(plan_file) if plan_file else None, follows=not detach)
        if not reviewed.actions:
            # Nothing to execute, and the world was observed moments ago in this run, with no prompt
            # since: the applier starts from that look instead of repeating it (a no-op apply looked twice).
            applier.start_from(planned.obs)
        with _billing_guard(applier, planned):
            final = applier.run(reviewed)
        if final.actions:
            return
        if final.summary and reviewed.actions:
            progress.step(final.summary)
        run = (applier.last or planned.obs).run
        alive = bool(run and run_alive(run))
        if detach or not alive:
            if alive:
                progress.step("detached; training goes on. Follow it with: podreconcile logs --follow")
            return
        # From here apply only reads: `stop`, `destroy` or another apply must not wait for the follower.
        states.unlock()
        conn.persist = False
        code = _follow(project, applier, progress)
    finally:
        conn.close()
        states.unlock()
    if code not in (None, 0):
        raise typer.Exit(EXIT_TRAINING_FAILED)


def _billing_guard(applier, planned: Planned) -> BillingGuard:
    """Stops the pod this apply created or started if it ends without launching the run."""
    from podreconcile.engine.billing_guard import BillingGuard

    pod_id = planned.state.pod_id
    before = next((p for p in planned.obs.pods if p.id == pod_id), None) if pod_id else None
    spec_path = applier.project.spec_path
    default = spec_path == (Path.cwd() / "podspec.yaml").absolute()
    stop = "podreconcile stop" + ("" if default else f" -f {shlex.quote(str(spec_path))}")
    return BillingGuard(applier.provider, applier.states, applier.report, lambda: list(applier.began), before, stop)


def _still_valid(stored: saved_plans.SavedPlan, plan_file: Path, project: Project, planned: Planned) -> Plan:
    """The saved plan, if the facts it was made on still hold; else a UserError naming what moved."""
    from podreconcile.engine import saved_plans

    moved = saved_plans.stale_reason(stored.basis, saved_plans.basis(project, planned.state, planned.obs))
    if moved:
        raise UserError(f"The saved plan {plan_file} is stale: {moved}; run `podreconcile plan --out {plan_file}` again.")
    return stored.plan


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("apply asks before changing anything, and there is no terminal to ask on; pass --yes.")
    if not typer.confirm("Apply these changes?", default=False):
        raise UserError("Nothing was changed (apply was not confirmed).")


def _follow(project: Project, applier, progress: Progress) -> int | None:
    from podreconcile.engine.follow import follow

    pod_id = project.state_file.read().pod_id
    signalled: list[str] = []

    def on_line(line: str) -> None:
        # The runner's last words say whether a signal (a pod stop) ended the attempt.
        found = ENDED_BY_SIGNAL.match(line)
        if found:
            signalled.append(found.group(1))
        print_line(line)

    try:
        progress.step(f"following the training log of run {project.run_name} (Ctrl+C detaches; training goes on)")
        ending = follow(project, applier.provider, applier.conn, pod_id, on_line=on_line, on_notice=progress.info,
                        launch_id=applier.launch_id)
    except KeyboardInterrupt:
        progress.step("detached; training goes on. Reattach with: podreconcile logs --follow")
        return None
    if ending.exit_code is None:
        progress.step(f"the pod stopped before the attempt's last line arrived ({ending.pod_status}); "
                      "`podreconcile plan` shows what happened, `apply` resumes")
        return None
    _remember_outcome(project, ending, stopped=bool(signalled))
    verdict = ("succeeded" if ending.exit_code == 0 else
               f"was stopped ({signalled[-1]}) with its pod" if signalled else
               f"failed with exit code {ending.exit_code}")
    stops = " The pod stops itself." if project.spec.run.stop_pod_when_done else ""
    progress.step(f"training {verdict}.{stops}")
    return ending.exit_code


def _remember_outcome(project: Project, ending, stopped: bool = False) -> None:
    """Record how the run ended, if no other command holds the lock now (the next observe records it anyway)."""
    from podreconcile.core.state import STOPPED, LastRun
    from podreconcile.engine.state_file import now

    states = project.state_file
    if not states.try_lock("apply (recording the run's outcome)"):
        return
    try:
        state = "succeeded" if ending.exit_code == 0 else STOPPED if stopped else "failed"
        states.write(states.read().with_(last_run=LastRun(project.run_name, state, ending.attempt, ending.exit_code, now())))
    finally:
        states.unlock()
