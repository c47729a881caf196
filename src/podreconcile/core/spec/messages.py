"""Pydantic's validation errors, retold as located podspec problems with a fix each.

Pydantic's `loc` is the field path; the SourceMap turns it into a line and column. The wording is
ours: "expected an integer, got 'two'", "unknown key; did you mean 'gpu_types'?".
"""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from podreconcile.core.spec.problems import Path, Problem, format_path
from podreconcile.core.spec.settings import ENV_FILE_NAME
from podreconcile.core.spec.source import SourceMap

_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping of keys and values",
    "model_type": "a mapping of keys and values",
    "model_attributes_type": "a mapping of keys and values",
}


def problems_from(
    error: ValidationError, root: type[BaseModel], source: SourceMap,
    variables: Mapping[Path, list[str]],
) -> list[Problem]:
    """One Problem per pydantic error, minus a 'missing' that a misspelt key already explains."""
    details = error.errors()
    corrected = {_suggested_path(d, root) for d in details if d["type"] == "extra_forbidden"}
    return [
        _problem(d, root, source, variables)
        for d in details
        if not (d["type"] == "missing" and tuple(d["loc"]) in corrected)
    ]


def _problem(
    detail: ErrorDetails, root: type[BaseModel], source: SourceMap,
    variables: Mapping[Path, list[str]],
) -> Problem:
    loc: Path = tuple(detail["loc"])
    kind = detail["type"]
    if loc and loc[-1] == "[key]":  # a dict key failed its check: point at the key itself
        return source.problem(loc[:-1], _error_text(detail), at_key=True)
    if kind == "extra_forbidden":
        return source.problem(loc, _unknown_key(loc, root), at_key=True)
    if kind == "missing":
        problem = source.problem(loc[:-1], _missing(loc, root), at_key=True)
        return Problem(problem.file, problem.line, problem.col, format_path(loc), problem.message)
    return source.problem(loc, _wrong_value(detail, loc, root, variables.get(loc)))


def _unknown_key(loc: Path, root: type[BaseModel]) -> str:
    valid = _valid_keys(loc[:-1], root)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    if not valid:
        return "unknown key; remove it"
    return f"unknown key; remove it or use one of: {', '.join(valid)}"


def _missing(loc: Path, root: type[BaseModel]) -> str:
    parent = format_path(loc[:-1])
    where = f"under {parent}:" if parent else "at the top level"
    example = _example(loc, root)
    sample = f", e.g. {loc[-1]}: {example}" if example else ""
    return f"required field is missing; add it {where}{sample}"


def _wrong_value(
    detail: ErrorDetails, loc: Path, root: type[BaseModel], variables: list[str] | None,
) -> str:
    kind = detail["type"]
    if variables and detail["input"] == "":
        return _empty_variable(variables[0])
    if kind in ("value_error", "assertion_error"):
        return _redacted(_error_text(detail), detail["input"], variables)
    found = _describe(detail["input"], variables)
    if kind == "literal_error":
        return _literal(detail, loc, found)
    fix = _fix(detail, loc, root, variables)
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {found}; {fix}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{_bound(detail)}, got {found}; {fix}"
    if kind == "too_short":
        return f"must not be empty; {fix}"
    return f"{detail['msg'].lower()}, got {found}; {fix}"


def _redacted(text: str, value: Any, variables: list[str] | None) -> str:
    """Checks quote the bad value; one that came from the environment may be a secret."""
    if variables and isinstance(value, str) and value:
        hidden = f"the value of ${{{variables[0]}}}"
        return text.replace(repr(value), hidden).replace(value, hidden)
    return text


def _empty_variable(name: str) -> str:
    return (
        f"${{{name}}} is set but empty; give {name} a value in the environment or in "
        f"{ENV_FILE_NAME}, or remove the key"
    )


def _literal(detail: ErrorDetails, loc: Path, found: str) -> str:
    options = [o.strip().strip("'") for o in detail["ctx"]["expected"].replace(" or ", ",").split(",")]
    options = [o for o in options if o]
    if len(options) == 1:
        return f"expected {options[0]}, got {found}; write {loc[-1]}: {options[0]}"
    close = difflib.get_close_matches(str(detail["input"]).lower(), options, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"use {' or '.join(options)}"
    return f"expected one of {', '.join(options)}, got {found}; {hint}"


def _bound(detail: ErrorDetails) -> str:
    ctx = detail.get("ctx", {})
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    return next(f"must be {words[k]} {ctx[k]}" for k in words if k in ctx)


def _fix(
    detail: ErrorDetails, loc: Path, root: type[BaseModel], variables: list[str] | None,
) -> str:
    if variables:
        # The environment only ever supplies text; other types have to be written in the file.
        return f"${{{variables[0]}}} always gives text, so write this value in the file itself"
    value, key = detail["input"], loc[-1] if loc else ""
    if detail["type"] == "string_type" and isinstance(key, str) and isinstance(value, (int, float)):
        # YAML read `1` or `true` as a number or boolean; quotes keep it text.
        return f'quote it to keep it text: {key}: "{_describe(value, None)}"'
    if detail["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"write its keys on the lines below {key}:, indented" if key else "fix the value"
    example = _example(loc, root)
    name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    return f"for example {name}: {example}" if example and name else "fix the value"


def _error_text(detail: ErrorDetails) -> str:
    error = detail.get("ctx", {}).get("error")
    return str(error) if error is not None else detail["msg"]


def _describe(value: Any, variables: list[str] | None) -> str:
    """How a value reads in YAML terms, never showing a value that came from the environment."""
    if variables:
        return f"the value of ${{{variables[0]}}}"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"a date ({value}); quote it to make it text"
    return type(value).__name__


def _suggested_path(detail: ErrorDetails, root: type[BaseModel]) -> Path:
    loc = tuple(detail["loc"])
    close = difflib.get_close_matches(str(loc[-1]), _valid_keys(loc[:-1], root), n=1)
    return loc[:-1] + (close[0],) if close else ()


def _valid_keys(loc: Path, root: type[BaseModel]) -> list[str]:
    model = _model_at(loc, root)
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _example(loc: Path, root: type[BaseModel]) -> str | None:
    field = _field_at(loc, root)
    examples = field.examples if field else None
    return str(examples[0]) if examples else None


def _field_at(loc: Path, root: type[BaseModel]) -> FieldInfo | None:
    """The model field that `loc` (or the list item / dict entry it ends in) belongs to."""
    while loc:
        model = _model_at(loc[:-1], root) if isinstance(loc[-1], str) else None
        if model is not None:
            return _lookup(model, loc[-1])
        loc = loc[:-1]
    return None


def _model_at(loc: Path, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, or None if it is not a model."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _lookup(current, part)
            current = field.annotation if field else None
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _lookup(model: type[BaseModel], key: str | int) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `X | None` down to X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation
