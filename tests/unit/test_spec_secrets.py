"""Issue 9, finding 6: every spec validation error, with a secret substituted, never shows the secret.

Each leaf value of the product's example podspec is replaced by `${SECRET}`, with SECRET set to
values built to trip every kind of check (names, paths, ports, durations, placeholders, lengths,
cross-field rules). Whatever the message says, the secret appears in it in no form: not as written,
not lowercased, not with its punctuation changed.
"""

from __future__ import annotations

import io
import re

import pytest
from ruamel.yaml import YAML

from podreconcile.core.errors import SpecError
from podreconcile.core.spec import Settings, parse_spec
from tests.unit.test_spec import EXAMPLE

CORE = "S3cr3t_Tok3n_Valu3"
BAD_VALUES = [
    CORE,                                 # an invalid name: the suggestion lowercases it
    f"{CORE}!",
    f"/{CORE}/../x",                      # '..' in an absolute path
    f"{CORE}/../x",                       # relative with '..'
    f"/{CORE}",                           # absolute where relative is needed
    f"~/{CORE}",
    f"{CORE}{{confg}}",                   # a placeholder typo
    f"99999/tcp{CORE}",                   # a port
    f"3h{CORE}",                          # a duration
    CORE * 4,                             # too long
    f"RUNPOD_{CORE.upper()}",
    f"{CORE} {CORE.lower()}",
]


def leaf_paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaf_paths(value, path + (index,))
    else:
        yield path


def with_variable(path) -> str:
    yaml = YAML()
    tree = yaml.load(EXAMPLE)
    target = tree
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "${SECRET}"
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


def loose(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


PATHS = list(leaf_paths(YAML(typ="safe").load(EXAMPLE)))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: ".".join(map(str, p)))
def test_no_spec_error_shows_a_substituted_secret(path) -> None:
    for secret in BAD_VALUES:
        settings = Settings({"SECRET": secret, "NETWORK_VOLUME_ID": "vol-abc123"})
        try:
            parse_spec(with_variable(path), "podspec.yaml", settings)
        except SpecError as error:
            message = str(error)
            assert CORE.lower() not in message.lower(), message
            assert loose(CORE) not in loose(message), message


def test_the_checks_did_run_and_fail() -> None:
    """The test above is not vacuous: these cases are errors, and each still hides the secret."""
    failing = 0
    for path in PATHS:
        for secret in BAD_VALUES:
            try:
                parse_spec(with_variable(path), "podspec.yaml", Settings({"SECRET": secret, "NETWORK_VOLUME_ID": "v"}))
            except SpecError:
                failing += 1
    assert failing > len(PATHS) * 3


def test_a_name_from_the_api_key_is_not_suggested_back_lowercased() -> None:
    settings = Settings({"RUNPOD_API_KEY": "rpa_ABCDEF1234567890XYZ"})
    spec = EXAMPLE.replace("name: whisper-small-baseline", 'name: "x${RUNPOD_API_KEY}"')
    with pytest.raises(SpecError) as caught:
        parse_spec(spec, "podspec.yaml", settings)
    assert "abcdef1234567890xyz" not in str(caught.value).lower()
    assert "${RUNPOD_API_KEY}" in str(caught.value)
