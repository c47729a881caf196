"""Issue 13: the spec loader returns a Spec or a clean SpecError for ANY document, never a traceback.

Three sources of documents: arbitrary text (not even YAML), arbitrary YAML trees, and the example spec
with one value, key or line mutated (the inputs that get deepest into validation). A clean error is a
SpecError whose message names the file (`podspec.yaml` with a line when it has one) and holds no
Python internals.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from podreconcile.core.errors import SpecError
from podreconcile.core.spec import Settings, Spec, parse_spec
from tests.unit.test_spec_properties import SPEC

SETTINGS = Settings({"SECRET": "s3cr3t-value"})
INTERNALS = re.compile(r"Traceback|object at 0x|<class |Error\(|pydantic|ruamel|File \"")


def check(text: str) -> None:
    try:
        spec = parse_spec(text, "podspec.yaml", SETTINGS)
    except SpecError as error:
        message = str(error)
        assert message.strip() and "podspec.yaml" in message, message
        assert not INTERNALS.search(message), message
        assert "s3cr3t-value" not in message
        return
    assert isinstance(spec, Spec)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["${SECRET}", "${MISSING}", "~", "1h", "0s", "-1", "22/tcp"]))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)),
    max_leaves=20)


def dump(tree) -> str:
    from io import StringIO

    out = StringIO()
    YAML(typ="safe", pure=True).dump(tree, out)
    return out.getvalue()


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_any_text_is_a_spec_or_a_clean_error(text: str) -> None:
    check(text)


@settings(max_examples=300)
@given(trees)
def test_any_yaml_tree_is_a_spec_or_a_clean_error(tree) -> None:
    check(dump(tree))


LINES = SPEC.splitlines()


@settings(max_examples=400)
@given(st.integers(0, len(LINES) - 1), st.one_of(scalars.map(lambda v: dump(v).splitlines()[0] if dump(v).strip() else "null"),
                                                 st.text(max_size=40)), st.sampled_from(["value", "key", "line", "indent"]))
def test_the_example_with_one_thing_mutated_is_a_spec_or_a_clean_error(index: int, new: str, what: str) -> None:
    lines = list(LINES)
    line = lines[index]
    head, colon, _ = line.partition(":")
    if what == "value" and colon:
        lines[index] = f"{head}: {new}"
    elif what == "key" and colon:
        lines[index] = f"{head[:len(head) - len(head.lstrip())]}{new}:{line.partition(':')[2]}"
    elif what == "indent":
        lines[index] = " " + line
    else:
        lines[index] = new
    check("\n".join(lines) + "\n")
