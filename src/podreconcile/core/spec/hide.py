"""The last guard on spec messages: no substituted value leaves the loader inside a Problem.

Messages are built from the text of the file, and the checks at a `${VAR}` field describe the value
as "the value of ${VAR}". This guard catches what a check builds from a value anyway: an exact copy
becomes `${VAR}`, and a transformed copy (a suggested name, lowercased and with `_` turned to `-`)
replaces the whole message with one that names only the variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from podreconcile.core.secret import Secret
from podreconcile.core.spec.problems import Problem

_EXACT_MIN = 4  # shorter values ("1", "yes") are too common to replace without mangling the text
_FUZZY_MIN = 6
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def hide_secrets(problems: Iterable[Problem], secrets: Mapping[str, Secret]) -> list[Problem]:
    """`problems` with every substituted value taken out of their messages."""
    values = sorted(((name, s.reveal()) for name, s in secrets.items()), key=lambda p: -len(p[1]))
    return [_hidden(problem, values) for problem in problems]


def _hidden(problem: Problem, values: list[tuple[str, str]]) -> Problem:
    message = problem.message
    for name, value in values:
        if len(value) >= _EXACT_MIN:
            message = message.replace(repr(value), f"${{{name}}}").replace(value, f"${{{name}}}")
    for name, value in values:
        if len(value) >= _FUZZY_MIN and _loose(value) and _loose(value) in _loose(message):
            message = (f"the value of ${{{name}}} is not valid here; check {name} in the environment or "
                       ".runpod.env, or write this value in the file itself")
            break
    return replace(problem, message=message)


def _loose(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())
