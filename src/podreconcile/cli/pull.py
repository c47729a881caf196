"""`podreconcile pull [PATHS...]`: the run's outputs to a local folder, without a pod when S3 reaches the volume."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from podreconcile.cli.options import LockTimeoutOption, SpecOption, lock_seconds

if TYPE_CHECKING:
    from podreconcile.cli.render import Progress
    from podreconcile.engine import pull


def register(app: typer.Typer) -> None:
    app.command("pull")(pull_command)


def pull_command(
    paths: list[str] = typer.Argument(None, help="Paths on the pod: absolute, or relative to the run's output dir "
                                                 "[default: the latest complete checkpoint, the final files, the log]."),
    spec: Path = SpecOption,
    to: Path = typer.Option(None, "--to", help="The local folder [default: ./pulled/<run_name>/]."),
    start: bool = typer.Option(False, "--start", help="Without S3: start a stopped pod to download, then stop it again."),
    lock_timeout: str = LockTimeoutOption,
) -> None:
    """Download the run's outputs; an interrupted pull continues where it stopped.

    Example: podreconcile pull checkpoint-1500 --to ./models/
    """
    from podreconcile.cli.render import Progress
    from podreconcile.engine.project import load_project

    project = load_project(spec)
    progress = Progress()
    if start:  # starting and stopping the pod is a change: it takes the lock
        project.state_file.lock("pull --start", lock_seconds(lock_timeout), on_wait=progress.step)
    try:
        result = pull_into(project, progress, paths or [], to, start)
    finally:
        if start:
            project.state_file.unlock()
    typer.echo(describe(result))


def pull_into(project, progress: Progress, paths: list[str], to: Path | None, start: bool) -> pull.PullResult:
    from podreconcile.cli import wiring
    from podreconcile.engine import pull

    conn = wiring.connection(project, start)
    try:
        return pull.pull(project, wiring.provider(project), conn, progress, paths, to, start)
    finally:
        conn.close()


def describe(result: pull.PullResult) -> str:
    latest = f" (latest complete checkpoint: {result.checkpoint})" if result.checkpoint else ""
    kept = f"; {result.skipped} already there" if result.skipped else ""
    return f"Pulled {result.files} file(s), {result.bytes} bytes to {result.dest}{latest}{kept}."
