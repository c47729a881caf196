"""podspec.yaml -> Spec: parse, substitute ${VAR}, validate the models, check RunPod's rules.

All problems found are reported together; a YAML syntax error alone stops at once, since nothing
after it can be trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podreconcile.core.spec.hide import hide_secrets
from podreconcile.core.spec.messages import problems_from
from podreconcile.core.spec.models import SourceInfo, Spec
from podreconcile.core.spec.problems import InvalidSpec, Problem
from podreconcile.core.spec.rules import check_rules
from podreconcile.core.spec.settings import Settings
from podreconcile.core.spec.source import (
    SourceMap,
    build_source_map,
    parse_yaml,
    to_plain,
)
from podreconcile.core.spec.substitute import secrets_in_commands, substitute

_TOP_LEVEL = "version, name, pod, code and run"


def load_spec(path: Path, settings: Settings) -> Spec:
    """Read and validate a podspec.yaml.

    `${VAR}` in values are filled from `settings`. Raises SpecError whose message has one line per
    problem, each `file:line:col: field.path: what is wrong; the fix` (with a summary line first
    when there are several); the file is named as given.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_problem(file, "not found; run `podreconcile init` or pass -f PATH") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise _file_problem(file, "is not a UTF-8 text file; pass the podspec.yaml with -f") from None
    return parse_spec(text, file, settings)


def parse_spec(text: str, file: str, settings: Settings) -> Spec:
    """Validate podspec text as `load_spec` does; `file` is only used in messages."""
    tree = parse_yaml(text, file)
    source = build_source_map(tree, file)
    plain = to_plain(tree)
    if not isinstance(plain, dict):
        raise InvalidSpec([_not_a_mapping(plain, source)])
    filled = substitute(plain, settings, source)
    spec, problems = _validate(filled.tree, source, filled.variables)
    # A field whose ${VAR} is unset only gets the "not set" message, not a knock-on type error.
    unset = {p.path for p in filled.problems}
    problems = filled.problems + [p for p in problems if p.path not in unset]
    problems += secrets_in_commands(filled.variables, source)
    if spec is not None:
        problems += check_rules(spec, source)
    if problems:
        raise InvalidSpec(hide_secrets(problems, filled.secrets))
    assert spec is not None
    spec._source = SourceInfo(file, source)
    spec._substituted_env = frozenset(
        str(path[2]) for path in filled.variables if len(path) == 3 and path[:2] == ("pod", "env"))
    return spec


def _validate(
    tree: dict[str, Any], source: SourceMap, variables: dict
) -> tuple[Spec | None, list[Problem]]:
    try:
        return Spec.model_validate(tree, context={"from_file": True}), []
    except ValidationError as error:
        return None, problems_from(error, Spec, source, variables)


def _not_a_mapping(plain: Any, source: SourceMap) -> Problem:
    found = "an empty file" if plain is None else f"a {type(plain).__name__}"
    return source.problem((), f"expected a mapping with {_TOP_LEVEL}, got {found}; "
                              "run `podreconcile init` for a commented example")


def _file_problem(file: str, message: str) -> InvalidSpec:
    return InvalidSpec([Problem(file, None, None, "", message)])
