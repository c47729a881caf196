"""`${VAR}` in podspec.yaml values, filled from Settings (the environment over .runpod.env).

Only the braced form is replaced, so `$HOME` or `$(date)` in a command reach the pod's shell as
written; `$${X}` gives a literal `${X}`. Keys are never substituted, and a substituted value is
never scanned again, so a secret holding `${...}` or quotes survives unchanged. The result is
always a string: a spec value's type comes from the file, not from the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from podreconcile.core.secret import Secret
from podreconcile.core.spec.problems import Path, Problem
from podreconcile.core.spec.settings import ENV_FILE_NAME, Settings
from podreconcile.core.spec.source import SourceMap

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Substitution:
    """The tree with variables filled in, which values came from which variables, and the problems."""

    tree: Any
    variables: dict[Path, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    secrets: dict[str, Secret] = field(default_factory=dict)  # every variable used, by name


def substitute(tree: Any, settings: Settings, source: SourceMap) -> Substitution:
    """Replace every `${VAR}` in the string values of `tree` (a plain tree; not modified)."""
    result = Substitution(tree=None)
    result.tree = _fill(tree, (), settings, source, result)
    return result


def _fill(node: Any, path: Path, settings: Settings, source: SourceMap, out: Substitution) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, path + (k,), settings, source, out) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, path + (i,), settings, source, out) for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _fill_string(node, path, settings, source, out)
    return node


def _fill_string(text: str, path: Path, settings: Settings, source: SourceMap, out: Substitution) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group() == "$${":
            return "${"
        name = match.group("body")
        if name is None or not _NAME.fullmatch(name):
            out.problems.append(source.problem(path, _malformed(match.group())))
            return match.group()
        out.variables.setdefault(path, []).append(name)
        value = settings.get(name)
        if value is None:
            out.problems.append(source.problem(path, _unset(name)))
            return match.group()
        out.secrets[name] = value
        return value.reveal()

    return _TOKEN.sub(replace, text)


#: Fields that become a shell command on the pod: a value put there would sit in launch.json, the
#: plan and the process list, so a `${VAR}` there must go through pod.env instead.
COMMAND_FIELDS = (("run", "command"), ("run", "resume_args"), ("run", "setup"))


def secrets_in_commands(variables: dict[Path, list[str]], source: SourceMap) -> list[Problem]:
    """A problem for each `${VAR}` written into a command field."""
    return [
        source.problem(path, (
            f"${{{names[0]}}} here would put its value into launch.json, the plan and the pod's process "
            f"list; add {names[0]}: ${{{names[0]}}} to pod.env and write ${names[0]} here (the pod's shell "
            "expands it)"))
        for path, names in variables.items() if path in COMMAND_FIELDS
    ]


def _unset(name: str) -> str:
    return (
        f"${{{name}}} is not set; set {name} in the environment or in {ENV_FILE_NAME} "
        f"next to podspec.yaml (e.g. {name}=...)"
    )


def _malformed(token: str) -> str:
    return (
        f"{token!r} is not a variable reference; write ${{NAME}} with letters, digits and _ "
        "(or $${...} for a literal ${...})"
    )
