"""`podreconcile schema`: the JSON Schema of podspec.yaml, generated from the spec models.

The schema is generated when the models change, not at run time: `scripts/gen-docs` writes it to
podspec.schema.json next to this module (shipped as package data), and tests/unit/test_docs.py fails
when the file differs from what the models generate. So `schema` and `init` print or write it without
importing pydantic or building the models (CLI start-up, docs/benchmarks.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

SCHEMA_FILE = "podspec.schema.json"


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
    text = schema_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)


def schema_text() -> str:
    """The schema as the JSON text of podspec.schema.json: `reference.schema_text()` of these models."""
    return resources.files("podreconcile.cli").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
