"""Command-line values of plain types coerced without pydantic, as typer would coerce them.

Typer 0.29 converts every parameter's value through a pydantic TypeAdapter, built when the value is
first processed, even for an option left unset: importing pydantic and building the adapters is about
0.1 s of every command's start, the commands that make no API call included (`schema`, `init`,
`show`, `sandbox ...`; docs/benchmarks.md). For the values that need no judgement (a bool flag that is
already a bool, any text, a path, a plain decimal number) this gives the value typer's adapter gives;
anything else (other spellings of a number, bounds, choices, custom parsers, lists) goes to typer's
own adapter, built then, so its result and error messages stay typer's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_UNSET = object()


def install_on(command: Any) -> None:
    """Coerce the plain parameters of COMMAND and of every command under it quickly: set as each one
    parses its arguments, when its parameters are complete (click makes `--help` for the context)."""
    parse = command.parse_args

    def parse_args(ctx: Any, args: list[str]) -> list[str]:
        install(command.get_params(ctx))
        return parse(ctx, args)

    command.parse_args = parse_args
    for sub in getattr(command, "commands", {}).values():
        install_on(sub)


def install(params: Iterable[object]) -> None:
    """Give each typer parameter of a plain type the quick coercion (typer builds the others' later)."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:  # another typer: it coerces as it likes, only slower
        return
    quick_class = _quick_class(RuntimeParam, build_runtime_param, coerce_cli_path)
    for param in params:
        described = getattr(param, "type_descriptor", None)
        if described is None or described.file_annotation is not None or getattr(param, "_runtime_param", 0) is not None:
            continue  # not typer's, a file to open, or already coerced by something
        if _plain(described.annotation, described.parameter_info):
            param._runtime_param = quick_class(parameter_info=described.parameter_info,
                                               annotation=described.annotation)


def _plain(annotation: Any, info: Any) -> bool:
    """A type whose values the quick coercion converts as typer does (or hands to typer)."""
    if getattr(info, "parser", None) is not None:
        return False
    if annotation in (bool, str, int, float):
        return True
    return isinstance(annotation, type) and issubclass(annotation, Path)


@functools.cache  # one class, however many commands parse
def _quick_class(base: type, build: Callable, coerce_path: Callable) -> type:
    class QuickRuntimeParam(base):
        """Typer's coercion for a plain value; typer's own adapter for anything else."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            quick = _quick(self.annotation, self.parameter_info, value, coerce_path, param, ctx)
            if quick is not _UNSET:
                return quick
            typers = build(param.type_descriptor)  # pydantic: only for a value that needs it
            param._runtime_param = typers
            return typers._coerce_value(value, param=param, ctx=ctx)

    return QuickRuntimeParam


def _quick(annotation: Any, info: Any, value: Any, coerce_path: Callable, param: Any, ctx: Any) -> Any:
    if annotation is bool:
        return value if isinstance(value, bool) else _UNSET
    if annotation is str:
        return value if isinstance(value, str) else _UNSET
    if annotation is int or annotation is float:
        return _number(annotation, info, value)
    path_type = getattr(info, "path_type", None) or annotation
    if isinstance(value, (str, Path)) and isinstance(path_type, type) and issubclass(path_type, Path):
        # Typer's adapter makes the path with pydantic (path_type(text)), then checks it: the same checks.
        return coerce_path(path_type(value), info, path_type=path_type, param=param, ctx=ctx)
    return _UNSET


def _number(annotation: type, info: Any, value: Any) -> Any:
    bounded = any(getattr(info, name, None) is not None for name in ("min", "max"))
    if bounded or isinstance(value, bool):
        return _UNSET
    if type(value) is annotation:
        return value
    if isinstance(value, str):
        pattern = _INTEGER if annotation is int else _DECIMAL
        if pattern.fullmatch(value):
            return annotation(value)
    return _UNSET
