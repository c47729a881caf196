"""`podreconcile schema`: the JSON Schema of podspec.yaml, generated from the spec models."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `schema` command."""
    app.command("schema")(schema_command)


def schema_command(
    out: Path = typer.Option(None, "--out", "-o", metavar="FILE", help="Write the schema to FILE instead of printing it."),
) -> None:
    """Print the JSON Schema of podspec.yaml, generated from podreconcile's own spec models.

    Editors with the YAML language server use it when podspec.yaml starts with this line:

    # yaml-language-server: $schema=./podspec.schema.json

    `podreconcile init` writes both the line and podspec.schema.json.

    Example: podreconcile schema --out podspec.schema.json
    """
    from podreconcile.core.spec.reference import (
        schema_text,  # pydantic: only once this runs
    )

    text = schema_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)
