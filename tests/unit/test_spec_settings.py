""".runpod.env parsing, the environment winning over it, and secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from podreconcile.core.errors import SpecError
from podreconcile.core.spec import Settings, load_settings
from podreconcile.core.spec.settings import parse_dotenv

ENV_FILE = """\
# RunPod settings
RUNPOD_API_KEY=rpa_secret_value
export SSH_KEY_PATH=~/.ssh/id_ed25519

NETWORK_VOLUME_ID = "vol 1"   # spaces around '=' and quotes
SINGLE='literal: \\n ${X} "q"'
DOUBLE="line1\\nline2 \\"quoted\\" \\\\ \\$HOME"
INLINE=value # a comment
HASH=abc#def
EMPTY=
EMPTY_WITH_COMMENT= # nothing here
export=not a prefix
MULTI="-----BEGIN KEY-----
abc
-----END KEY-----"
"""


def test_dotenv_forms() -> None:
    values = parse_dotenv(ENV_FILE, ".runpod.env")
    assert values == {
        "RUNPOD_API_KEY": "rpa_secret_value",
        "SSH_KEY_PATH": "~/.ssh/id_ed25519",
        "NETWORK_VOLUME_ID": "vol 1",
        "SINGLE": 'literal: \\n ${X} "q"',
        "DOUBLE": 'line1\nline2 "quoted" \\ \\$HOME',  # python-dotenv keeps \\$ as written
        "INLINE": "value",
        "HASH": "abc#def",
        "EMPTY": "",
        "EMPTY_WITH_COMMENT": "",
        "export": "not a prefix",
        "MULTI": "-----BEGIN KEY-----\nabc\n-----END KEY-----",
    }


def test_windows_line_endings_and_bom() -> None:
    assert parse_dotenv("\ufeffA=1\r\nB='2'\r\n", "f") == {"A": "1", "B": "2"}


def test_later_assignment_wins() -> None:
    assert parse_dotenv("A=1\nA=2\n", "f") == {"A": "2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\n%bad\n", ".runpod.env:2:1: expected KEY=VALUE, where KEY is letters, digits and _"),
        ("A=1\n  B\n", ".runpod.env:2:1: B: expected '=' after the name; write B=VALUE"),
        ('A="rpa_secret\n', ".runpod.env:1:1: cannot be read as KEY=VALUE (is a quote left open?)"),
        ("A='x' y\n", ".runpod.env:1:1: cannot be read as KEY=VALUE"),
    ],
)
def test_malformed_lines_are_located_and_never_show_values(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_dotenv(text, ".runpod.env")
    assert str(caught.value).startswith(expected)
    assert "rpa_secret" not in str(caught.value)


def test_load_settings_reads_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".runpod.env").write_text(ENV_FILE)
    settings = load_settings(tmp_path, {"NETWORK_VOLUME_ID": "from-env", "HOME": "/home/me", "EMPTY": "x"})
    assert settings.network_volume_id == "from-env"
    assert settings.get("EMPTY").reveal() == "x"
    assert settings.api_key.reveal() == "rpa_secret_value"
    assert settings.ssh_key_path == Path("/home/me/.ssh/id_ed25519")
    assert settings.get("HOME").reveal() == "/home/me"
    assert settings.env_file == tmp_path / ".runpod.env"


def test_an_empty_environment_variable_still_wins(tmp_path: Path) -> None:
    (tmp_path / ".runpod.env").write_text("RUNPOD_API_KEY=from-file\n")
    settings = load_settings(tmp_path, {"RUNPOD_API_KEY": ""})
    assert settings.get("RUNPOD_API_KEY").reveal() == ""
    assert settings.api_key is None


def test_without_a_file_only_the_environment_counts(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {"POD_ID": "abc123"})
    assert settings.pod_id == "abc123"
    assert (settings.api_key, settings.ssh_key_path, settings.network_volume_id) == (None, None, None)
    assert settings.env_file is None


def test_absolute_ssh_key_path_is_kept() -> None:
    assert Settings({"SSH_KEY_PATH": "/keys/id"}).ssh_key_path == Path("/keys/id")


def test_repr_and_str_never_show_values(tmp_path: Path) -> None:
    (tmp_path / ".runpod.env").write_text("RUNPOD_API_KEY=rpa_topsecret\n")
    settings = load_settings(tmp_path, {"OTHER": "also-secret"})
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "rpa_topsecret" not in shown
        assert "also-secret" not in shown
    assert repr(settings).startswith("Settings(<2 values hidden>")


def test_settings_are_frozen() -> None:
    settings = Settings({"A": "1"})
    with pytest.raises(AttributeError):
        settings.values = {}  # type: ignore[misc]


def test_a_missing_env_file_is_named_with_the_copy_command(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings.missing("SSH_KEY_PATH") == (
        ".runpod.env is missing next to podspec.yaml, so SSH_KEY_PATH is not set; create it with "
        "`cp .runpod.env.example .runpod.env` and fill in your values (or set SSH_KEY_PATH in the environment).")
    (tmp_path / ".runpod.env").write_text("A=1\n")
    assert load_settings(tmp_path, {}).missing("SSH_KEY_PATH").startswith("SSH_KEY_PATH is not set; put it in ")


def test_the_example_files_placeholder_key_is_recognised(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".runpod.env.example"
    (tmp_path / ".runpod.env").write_text(example.read_text())
    assert load_settings(tmp_path, {}).api_key_is_placeholder
    assert not load_settings(tmp_path, {"RUNPOD_API_KEY": "rpa_real"}).api_key_is_placeholder


def test_the_placeholder_key_is_refused_before_any_api_client_exists(tmp_path: Path, monkeypatch) -> None:
    import sys

    from podreconcile.cli import wiring
    from podreconcile.core.errors import UserError

    monkeypatch.delitem(sys.modules, "podreconcile.adapters.runpod_graphql", raising=False)
    (tmp_path / ".runpod.env").write_text("RUNPOD_API_KEY=rpa_your_key_here\n")
    project = type("P", (), {"settings": load_settings(tmp_path, {})})()
    with pytest.raises(UserError, match="placeholder"):
        wiring.provider(project)
    assert "podreconcile.adapters.runpod_graphql" not in sys.modules
