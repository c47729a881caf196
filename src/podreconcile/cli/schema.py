"""`podreconcile schema`: the JSON Schema of podspec.yaml (placeholder until the docs helper lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `schema` command."""
