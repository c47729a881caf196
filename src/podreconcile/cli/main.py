"""The `podreconcile` command: wiring of the sub-commands and the one place errors are rendered.

A `UserError` ends in its one-sentence message and exit 1. A usage mistake (an unknown command or
option, a bad value) is shown as click means it: the usage line, a hint, the error with the closest
name, exit 2. Anything unexpected ends in one line that points at `--debug`; `--debug` shows the
traceback, never with local variables (they hold keys).

Typer bundles its own click (typer >= 0.29), so its exceptions are matched through typer's public
classes, never through a separately installed `click`.

Start-up: `--help`, `--version`, each command's `--help` and the commands that make no API call
(`schema`, `init`, `show`, completion, `sandbox ...`) import neither the adapters nor pydantic; each
command imports what it needs when it runs, and typer's pydantic coercion of plain option values is
replaced by cli/param_coercion.py (docs/benchmarks.md, tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable

import typer

from podreconcile.cli import param_coercion
from podreconcile.cli import sandbox as sandbox_cli
from podreconcile.core.errors import PodreconcileError, UserError
from podreconcile.core.terminal_text import printable

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat `[default: ...]` and typer labels flags `<bool>`.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100},
    help="Declarative GPU training on RunPod: podspec.yaml -> plan -> apply.",
)
app.add_typer(sandbox_cli.app, name="sandbox")

_debug = {"on": False}
#: Commands that make no API call and open no connection: nothing to retry, so they start without the
#: retry reporter (engine.retry and tenacity, render and rich).
OFFLINE = frozenset({"init", "schema", "show"})


def version() -> str:
    from importlib import metadata  # 30 ms: only for --version

    try:
        return metadata.version("podreconcile")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"podreconcile {version()}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error."),
    _version: bool = typer.Option(False, "--version", "-V", callback=_show_version, is_eager=True,
                                  help="Print the version and exit."),
) -> None:
    _debug["on"] = debug


def _reporting_retries(command: Callable) -> Callable:
    """Run a command with its retries (API calls, SSH) shown on the progress lines. Set when the command
    runs, not at start-up, so that `--help` and `--version` import neither the engine nor rich."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from podreconcile.cli import render
        from podreconcile.engine import retry

        token = retry.on_retry.set(render.Progress().retrying)
        try:
            return command(*args, **kwargs)
        finally:
            retry.on_retry.reset(token)

    return run


def _load_commands() -> None:
    from podreconcile.cli import commands

    commands.register(app)


def main(argv: list[str] | None = None) -> int:
    from podreconcile.cli import wiring

    wiring.begin_early_ssh(sys.argv[1:] if argv is None else argv)
    _load_commands()
    return _run(argv)


def _run(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if {"--install-completion", "--show-completion"} & set(args) and not _shell_known():
        print("Error: podreconcile cannot tell which shell runs it; run `podreconcile --install-completion` "
              "from bash, zsh or fish.", file=sys.stderr)
        return 1
    try:
        # Without standalone mode, click returns the code of a `typer.Exit` instead of raising it.
        code = _command().main(args=argv, prog_name="podreconcile", standalone_mode=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        _finish()
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place every error is rendered
        _finish()
        return _render(error)
    _finish()
    return code if isinstance(code, int) else 0


def _command() -> typer.core.TyperGroup:
    """The click group of `app`, each of its own commands that calls out (not the sandbox's, not the
    offline ones) reporting retries; every command's plain parameters coerced without pydantic."""
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        if not isinstance(command, typer.core.TyperGroup) and name not in OFFLINE:
            command.callback = _reporting_retries(command.callback)
    param_coercion.install_on(group)
    return group


def _finish() -> None:
    """End the progress display, if a command started one (only then is render imported)."""
    render = sys.modules.get("podreconcile.cli.render")
    if render is not None:
        render.finish()


def _shell_known() -> bool:
    """Typer installs completion for the shell it finds among the parent processes."""
    import shellingham

    try:
        return shellingham.detect_shell()[0] in ("bash", "zsh", "fish", "powershell", "pwsh")
    except shellingham.ShellDetectionFailure:
        return False


def _render(error: BaseException) -> int:
    if isinstance(error, typer.Exit):
        return error.exit_code
    if isinstance(error, typer.TyperException) and hasattr(error, "show"):
        error.show()  # click's own rendering: usage, hint, `Error: ...`, the closest name
        return error.exit_code
    if isinstance(error, typer.Abort):
        print("Aborted.", file=sys.stderr)
        return 1
    if _debug["on"]:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, (UserError, PodreconcileError, *_sandbox_error())):
        print(f"Error: {printable(str(error))}", file=sys.stderr)  # may quote the pod's stderr
    else:
        print(f"Error: unexpected {type(error).__name__}; run again with --debug for the traceback.", file=sys.stderr)
    return 1


def _sandbox_error() -> tuple[type[BaseException], ...]:
    """The sandbox's error class, if a `sandbox` command imported the daemon (else none can occur)."""
    daemon = sys.modules.get("podreconcile.sandbox.daemon")
    return (daemon.SandboxError,) if daemon is not None else ()


def entry() -> None:
    sys.exit(main())
