"""Reading YAML with ruamel's round-trip loader, remembering where every key and value sits.

The parsed tree is turned into plain Python values (dict, list, str, int, float, bool, None) at
once, so nothing downstream ever sees a ruamel type; the positions live on in a `SourceMap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from podreconcile.core.spec.problems import InvalidSpec, Path, Problem, format_path


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    col: int


_START = Mark(1, 1)


@dataclass(frozen=True)
class SourceMap:
    """Where each key and value of one YAML file is, by field path."""

    file: str
    keys: Mapping[Path, Mark] = field(default_factory=dict)
    values: Mapping[Path, Mark] = field(default_factory=dict)

    def key(self, path: Path) -> Mark:
        """The key at `path`; for a path not in the file, the nearest enclosing key that is."""
        return self.keys.get(path) or self.keys.get(self.known_prefix(path), _START)

    def value(self, path: Path) -> Mark:
        """The value at `path`; for a path not in the file (a default), its nearest enclosing key."""
        if path in self.values:
            return self.values[path]
        return self.keys.get(self.known_prefix(path), _START)

    def known_prefix(self, path: Path) -> Path:
        """The longest prefix of `path` that the file spells out."""
        while path and path not in self.keys:
            path = path[:-1]
        return path

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        """A Problem located at the key (`at_key`) or the value of `path`."""
        mark = self.key(path) if at_key else self.value(path)
        return Problem(self.file, mark.line, mark.col, format_path(path), message)

    def where(self, path: Path) -> str:
        """`file:line:col` of the value at `path`, for messages built elsewhere."""
        mark = self.value(path)
        return f"{self.file}:{mark.line}:{mark.col}"


#: Caps on what one YAML file may hold: a spec or a training config is small, while aliases that
#: refer to aliases (a "billion laughs") expand to gigabytes once the tree is copied.
MAX_YAML_CHARS = 4_000_000
MAX_YAML_NODES = 200_000


def parse_yaml(text: str, file: str) -> Any:
    """Parse with line/column info kept; a syntax error becomes a located InvalidSpec, and so does a
    file that is too large or expands (through aliases) past MAX_YAML_NODES values."""
    if len(text) > MAX_YAML_CHARS:
        raise InvalidSpec([Problem(file, None, None, "", (
            f"is larger than {MAX_YAML_CHARS} characters; a podspec or training config is far smaller"))])
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        raise InvalidSpec([_syntax_problem(err, file)]) from None
    except RecursionError:
        raise InvalidSpec([Problem(file, None, None, "", "nests too deeply to read; flatten it")]) from None
    except ReaderError as err:  # a control character: YAML refuses it before any syntax
        before = text[:err.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise InvalidSpec([Problem(file, line, col, "", f"the character U+{err.character:04X} is not allowed in YAML; "
                                   "remove it (or write it as an escape in a double-quoted string)")]) from None
    except YAMLError as err:  # anything else ruamel refuses, said in one line
        raise InvalidSpec([Problem(file, None, None, "", f"not readable as YAML ({str(err).splitlines()[0]}); "
                                   "fix the YAML syntax")]) from None
    if _expanded_size(tree, {}, set()) > MAX_YAML_NODES:
        raise InvalidSpec([Problem(file, None, None, "", (
            f"expands to more than {MAX_YAML_NODES} values through its aliases (*name); write the "
            "values out, or use fewer aliases"))])
    return tree


def _expanded_size(node: Any, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values the tree holds once every alias is copied out (shared nodes counted once
    per reference, computed once each); a node that contains itself counts as too many."""
    if not isinstance(node, (Mapping, list)):
        return 1
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        return MAX_YAML_NODES + 1
    open_.add(key)
    children = list(node.keys()) + list(node.values()) if isinstance(node, Mapping) else node
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_)
        if total > MAX_YAML_NODES:
            break
    open_.discard(key)
    sizes[key] = total
    return total


def build_source_map(tree: Any, file: str) -> SourceMap:
    """Record the position of every key, value and list item in a round-trip tree."""
    keys: dict[Path, Mark] = {(): _START}
    values: dict[Path, Mark] = {(): _START}
    _walk(tree, (), keys, values)
    return SourceMap(file, keys, values)


def to_plain(node: Any) -> Any:
    """A copy of the round-trip tree made of builtin types only (ruamel's scalar subclasses go)."""
    if isinstance(node, Mapping):
        return {_plain_scalar(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    return _plain_scalar(node)


def _plain_scalar(value: Any) -> Any:
    # Order matters: ruamel's booleans are ints, and bool is an int too.
    if isinstance(value, (bool, ScalarBoolean)):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _walk(node: Any, path: Path, keys: dict[Path, Mark], values: dict[Path, Mark]) -> None:
    if isinstance(node, CommentedMap):
        for name, child in node.items():
            _record_map_entry(node, name, child, path + (name,), keys, values)
            _walk(child, path + (name,), keys, values)
    elif isinstance(node, CommentedSeq):
        for index, child in enumerate(node):
            mark = _mark(node.lc.item(index))
            keys[path + (index,)] = values[path + (index,)] = mark
            _walk(child, path + (index,), keys, values)


def _record_map_entry(
    node: CommentedMap, name: Any, child: Any, path: Path,
    keys: dict[Path, Mark], values: dict[Path, Mark],
) -> None:
    try:
        key_mark = _mark(node.lc.key(name))
        value_mark = _mark(node.lc.value(name))
    except KeyError:
        # Keys merged in with `<<: *anchor` have no position of their own in this mapping.
        key_mark = value_mark = keys.get(path[:-1], _START)
    keys[path] = key_mark
    # An empty value (`image:`) has no token; ruamel then reports the next line, so use the key.
    values[path] = key_mark if child is None else value_mark


def _mark(position: tuple[int, int]) -> Mark:
    return Mark(position[0] + 1, position[1] + 1)


def _syntax_problem(err: MarkedYAMLError, file: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    what = (err.problem or err.context or "invalid YAML").strip()
    if what.startswith("found duplicate key"):
        # ruamel's wording repeats both values; a key is enough and keeps the message short.
        name = what.split('"')[1] if '"' in what else "?"
        return Problem(file, line, col, "", f"duplicate key {name!r}; keep only one of them")
    fix = "fix the YAML syntax here (indentation uses spaces, a ':' after each key, quotes closed)"
    return Problem(file, line, col, "", f"YAML syntax error: {what}; {fix}")
