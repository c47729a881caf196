"""The reconciler's commands (plan, apply, status, ...); filled in as they land."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the reconciler's commands to `app`."""
