"""The `podreconcile` command: wiring of the sub-commands and the one place errors are rendered.

A `UserError` ends in its one-sentence message and exit 1; anything unexpected ends in one line that
points at `--debug`. `--debug` shows the traceback, never with local variables (they hold keys).
"""

from __future__ import annotations

import sys
import traceback

import typer

from podreconcile.cli import catalog
from podreconcile.core.errors import PodreconcileError, UserError

_debug = {"on": False}


def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors.")) -> None:
    _debug["on"] = debug


def _app(argv: list[str]) -> typer.Typer:
    """The command tree for this invocation: only the modules the named command needs are imported."""
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        help="Declarative GPU training on RunPod: podspec.yaml -> plan -> apply.",
    )
    app.callback()(_options)
    catalog.register(app, argv)
    return app


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        app = _app(argv)
        # Without standalone mode, click returns the code of a `typer.Exit` instead of raising it.
        code = app(args=argv, standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place every error is rendered
        return _render(error)
    return code if isinstance(code, int) else 0


def _render(error: BaseException) -> int:
    import click

    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, click.ClickException):
        error.show()
        return 1
    if isinstance(error, click.exceptions.Abort):
        print("Aborted.", file=sys.stderr)
        return 1
    if _debug["on"]:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, (UserError, PodreconcileError, *catalog.loaded_errors())):
        print(f"Error: {error}", file=sys.stderr)
    else:
        print(f"Error: unexpected {type(error).__name__}; run again with --debug for the traceback.", file=sys.stderr)
    return 1


def entry() -> None:
    sys.exit(main())
