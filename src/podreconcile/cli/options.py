"""What several commands share: the spec and lock options, and printing the pod's text.

Kept apart from commands.py so the command modules (day2, pull, ssh) need not import the module
that registers them.
"""

from __future__ import annotations

import sys

import typer

from podreconcile.core.errors import UserError
from podreconcile.core.terminal_text import printable

SpecOption = typer.Option(None, "-f", "--file", metavar="SPEC",
                          help="The podspec, or a folder holding podspec.yaml [default: podspec.yaml here or in a parent folder].")
LockTimeoutOption = typer.Option(
    None, "--lock-timeout", metavar="DURATION",
    help="Wait up to this long (e.g. 30s, 5m) for another command to release the lock; default 0: fail at once naming it.")


def lock_seconds(text: str | None) -> float:
    # Here, not at the top: core.spec loads pydantic, which `--help` does without.
    from podreconcile.core.spec.duration import parse_duration

    if not text or text.strip() in ("0", "0s"):
        return 0
    try:
        return parse_duration(text)
    except ValueError as error:
        raise UserError(f"--lock-timeout: {error}.") from None


def print_line(line: str) -> None:
    sys.stdout.write(printable(line) + "\n")  # the pod's text: no escape sequence reaches the terminal
    sys.stdout.flush()
