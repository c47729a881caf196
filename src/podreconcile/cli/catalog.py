"""Which module holds each command, so one invocation imports only what its command needs.

`podreconcile --help` lists the commands from the table below without importing any of them (the
engine, pydantic's spec models, the sandbox and its S3 server would cost most of a second);
`podreconcile init` imports only `cli.init`; the reconciler's commands import the engine. A name the
table does not know (a typo, a command added without a row here) loads every command, so click's
own "No such command" and its suggestions still work. tests/unit/test_cli_catalog.py keeps the table
equal to what the modules register.
"""

from __future__ import annotations

import sys

import typer

RECONCILER, INIT, SCHEMA, SANDBOX = "reconciler", "init", "schema", "sandbox"

# (name, loader, the first paragraph of its help) in the order `--help` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("plan", RECONCILER, "Show what apply would do, and why. Changes nothing."),
    ("apply", RECONCILER, "Make the pod and the run match the spec, then follow the training log (Ctrl+C detaches)."),
    ("status", RECONCILER, "The pod, the run, and what `plan` would do."),
    ("logs", RECONCILER, "The run's log from the volume."),
    ("stop", RECONCILER, "Stop the pod; training state stays on the volume and `apply` resumes it."),
    ("destroy", RECONCILER, "Terminate the pod and clear the state file; a network volume is kept."),
    ("sync-data", RECONCILER, "Upload the spec's data (only what is missing or changed); leaves the pod as it found it."),
    ("tensorboard", RECONCILER, "Tunnel to TensorBoard on the pod (started in tmux session `tb` if absent); "
                                "Ctrl+C closes the tunnel only."),
    ("init", INIT, "Write a commented podspec.yaml, podspec.schema.json, .runpod.env.example and the .gitignore lines."),
    ("schema", SCHEMA, "Print the JSON Schema of podspec.yaml, generated from podreconcile's own spec models."),
    ("sandbox", SANDBOX, "A local RunPod: real sshd pods, RunPod's API and errors."),
)
_GLOBAL_FLAGS = ("--debug", "--no-debug")


def command_name(argv: list[str]) -> str | None:
    """The sub-command argv names, or None for `--help`, no arguments or an option before any name."""
    for arg in argv:
        if arg in _GLOBAL_FLAGS:
            continue
        return None if arg.startswith("-") else arg
    return None


def register(app: typer.Typer, argv: list[str]) -> None:
    name = command_name(argv)
    if name is None:
        _register_listing(app)
        return
    loader = next((row[1] for row in COMMANDS if row[0] == name), None)
    for each in (loader,) if loader else (RECONCILER, SANDBOX):
        _load(app, each)


def _register_listing(app: typer.Typer) -> None:
    """Stand-ins carrying each command's help, for the top-level help only: none of them ever runs."""
    for name, _, text in COMMANDS:
        app.command(name, help=text)(_listed_only)


def _listed_only() -> None:
    raise AssertionError("a listing stand-in ran; catalog.command_name should have named the command")


def _load(app: typer.Typer, loader: str) -> None:
    if loader == RECONCILER:
        from podreconcile.cli import commands
        from podreconcile.cli.render import Progress
        from podreconcile.engine import retry

        retry.on_retry.set(Progress().retrying)
        commands.register(app)  # every command but `sandbox`, init and schema included
    elif loader == INIT:
        from podreconcile.cli import init

        init.register(app)
    elif loader == SCHEMA:
        from podreconcile.cli import schema

        schema.register(app)
    elif loader == SANDBOX:
        from podreconcile.cli import sandbox

        app.add_typer(sandbox.app, name="sandbox")


def loaded_errors() -> tuple[type[BaseException], ...]:
    """Error types of modules this run imported that end in their own message, like a UserError."""
    daemon = sys.modules.get("podreconcile.sandbox.daemon")
    return (daemon.SandboxError,) if daemon else ()
