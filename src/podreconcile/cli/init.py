"""`podreconcile init`: a commented podspec.yaml, its JSON Schema, .runpod.env.example, .gitignore lines."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import typer

from podreconcile.cli.schema import SCHEMA_FILE, schema_text
from podreconcile.core.errors import UserError

GITIGNORE_LINES = (".runpod.env", ".podreconcile/")
ENV_EXAMPLE = """\
# Copy to .runpod.env and fill in; never commit .runpod.env. Real environment variables win over it.
RUNPOD_API_KEY=rpa_your_key_here
SSH_KEY_PATH=~/.ssh/id_ed25519
NETWORK_VOLUME_ID=your_network_volume_id
"""


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)


def init_command(directory: Path = typer.Argument(Path("."), metavar="DIR", help="The project folder (created if missing).")) -> None:
    """Write a commented podspec.yaml, podspec.schema.json, .runpod.env.example and the .gitignore lines.

    An existing podspec.yaml is left as it is; podspec.schema.json is generated, so it is rewritten.

    Example: podreconcile init
    """
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} is a file; give init the project folder (or a new folder to create).")
    directory.mkdir(parents=True, exist_ok=True)  # like `git init DIR`
    spec = directory / "podspec.yaml"
    if spec.exists():
        typer.echo(f"{spec} exists; left as it is.")
    else:
        spec.write_text(template(directory))
        typer.echo(f"wrote {spec}: edit the pod, code, data and run sections, then `podreconcile plan`")
    schema = directory / SCHEMA_FILE
    schema.write_text(schema_text(), encoding="utf-8")
    typer.echo(f"wrote {schema}: editors check podspec.yaml against it (see its first line)")
    example = directory / ".runpod.env.example"
    if not example.exists():
        example.write_text(ENV_EXAMPLE)
        typer.echo(f"wrote {example}: copy it to .runpod.env and fill in your key")
    added = add_gitignore_lines(directory / ".gitignore")
    if added:
        typer.echo(f"added {', '.join(added)} to {directory / '.gitignore'}")


def template(directory: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-") or "training"
    configs = sorted((directory / "configs").glob("*.yaml"))
    config = configs[0].relative_to(directory).as_posix() if configs else "configs/baseline.yaml"
    text = resources.files("podreconcile.cli").joinpath("podspec.template.yaml").read_text()
    return text.replace("__NAME__", name[:51]).replace("__CONFIG__", config)


def add_gitignore_lines(path: Path) -> list[str]:
    """Append the lines podreconcile needs ignored, once, keeping the user's own lines."""
    text = path.read_text() if path.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in present and line.rstrip("/") not in present]
    if missing:
        prefix = "" if not text or text.endswith("\n") else "\n"
        path.write_text(text + prefix + "\n".join(missing) + "\n")
    return missing
