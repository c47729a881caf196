"""The `podreconcile` command: wiring of the sub-commands and the one place errors are rendered.

A `UserError` ends in its one-sentence message and exit 1. A usage mistake (an unknown command or
option, a bad value) is shown as click means it: the usage line, a hint, the error with the closest
name, exit 2. Anything unexpected ends in one line that points at `--debug`; `--debug` shows the
traceback, never with local variables (they hold keys).

Typer bundles its own click (typer >= 0.29), so its exceptions are matched through typer's public
classes, never through a separately installed `click`.
"""

from __future__ import annotations

import sys
import traceback
from importlib import metadata

import typer

from podreconcile.cli import sandbox as sandbox_cli
from podreconcile.core.errors import PodreconcileError, UserError
from podreconcile.core.terminal_text import printable
from podreconcile.sandbox.daemon import SandboxError

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


def version() -> str:
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


def _load_commands() -> None:
    from podreconcile.cli import commands

    commands.register(app)


def main(argv: list[str] | None = None) -> int:
    from podreconcile.cli import render
    from podreconcile.engine import retry

    _load_commands()
    token = retry.on_retry.set(render.Progress().retrying)
    try:
        return _run(argv)
    finally:
        retry.on_retry.reset(token)


def _run(argv: list[str] | None) -> int:
    from podreconcile.cli import render

    args = sys.argv[1:] if argv is None else argv
    if {"--install-completion", "--show-completion"} & set(args) and not _shell_known():
        print("Error: podreconcile cannot tell which shell runs it; run `podreconcile --install-completion` "
              "from bash, zsh or fish.", file=sys.stderr)
        return 1
    try:
        # Without standalone mode, click returns the code of a `typer.Exit` instead of raising it.
        code = app(args=argv, prog_name="podreconcile", standalone_mode=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        render.finish()
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place every error is rendered
        render.finish()
        return _render(error)
    render.finish()
    return code if isinstance(code, int) else 0


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
    if isinstance(error, (UserError, PodreconcileError, SandboxError)):
        print(f"Error: {printable(str(error))}", file=sys.stderr)  # may quote the pod's stderr
    else:
        print(f"Error: unexpected {type(error).__name__}; run again with --debug for the traceback.", file=sys.stderr)
    return 1


def entry() -> None:
    sys.exit(main())
