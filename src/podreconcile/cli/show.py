"""`podreconcile show FILE`: a plan saved by `plan --out`, rendered as `plan` renders it."""

from __future__ import annotations

from pathlib import Path

import typer

from podreconcile.core.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("show")(show_command)


def show_command(
    plan_file: Path = typer.Argument(..., metavar="FILE", help="A plan saved by `podreconcile plan --out FILE`."),
    output: str = typer.Option("text", "--format", metavar="FORMAT", help="text | markdown | json"),
) -> None:
    """Show a saved plan without observing anything; `apply FILE` applies it.

    Example: podreconcile show plan.json --format markdown
    """
    from podreconcile.cli.render import plan_json, plan_markdown, plan_text, use_colour
    from podreconcile.engine import saved_plans

    if output not in ("text", "markdown", "json"):
        raise UserError(f"--format {output} is not one of text, markdown, json.")
    stored = saved_plans.load(plan_file)
    heading = f"Saved plan {plan_file} for {stored.spec_path}"
    if stored.force_restart:
        heading += " (--force-restart)"
    if output == "json":
        typer.echo(plan_json(stored.plan))
    elif output == "markdown":
        typer.echo(plan_markdown(stored.plan, heading), nl=False)
    else:
        typer.echo(plan_text(stored.plan, heading, colour=use_colour()))
