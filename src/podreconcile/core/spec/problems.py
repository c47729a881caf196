"""Located problems in podspec.yaml, .runpod.env or a training config, and the error that carries them.

Every message reads `file:line:col: field.path: what is wrong; the fix`, so an editor can jump to
it and the user knows what to type. Several problems are reported together, the first line being
the summary, so one run shows everything there is to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from podreconcile.core.errors import SpecError

#: A field path as pydantic and the source map spell it: keys and list indexes.
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file. `line`/`col` are 1-based; None when unknown."""

    file: str
    line: int | None
    col: int | None
    path: str
    message: str

    def render(self) -> str:
        """`file:line:col: path: message`, leaving out what is unknown."""
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InvalidSpec(SpecError):
    """A SpecError that keeps its problems, for callers that want them one by one (`--json`)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=_reading_order))
        super().__init__(_summarise(self.problems))


def format_path(path: Sequence[str | int]) -> str:
    """('data', 1, 'to') -> 'data[1].to'; keys that are not plain words are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).replace("_", "a").replace("-", "a").isalnum():
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text


def _reading_order(problem: Problem) -> tuple[str, int, int]:
    return (problem.file, problem.line or 0, problem.col or 0)


def _summarise(problems: Sequence[Problem]) -> str:
    if len(problems) == 1:
        return problems[0].render()
    files = sorted({p.file for p in problems})
    head = f"{', '.join(files)}: {len(problems)} problems; fix them all:"
    return "\n".join([head, *(p.render() for p in problems)])
