"""The CLI's command table: the same commands and help as the modules register; `--help` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from podreconcile.cli import catalog


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def test_the_table_lists_exactly_the_registered_commands_with_their_help():
    app = typer.Typer()
    app.callback()(lambda: None)
    catalog.register(app, ["no-such-command"])  # an unknown name loads every command
    group = typer.main.get_command(app)
    registered = {name: _first_paragraph(cmd.help or "") for name, cmd in group.commands.items()}
    listed = {name: _first_paragraph(text) for name, _, text in catalog.COMMANDS}
    assert listed == registered, "update catalog.COMMANDS to match the commands' docstrings"


@pytest.mark.parametrize(("argv", "name"), [
    ([], None), (["--help"], None), (["--debug", "--help"], None), (["--debug", "plan", "--json"], "plan"),
    (["sandbox", "up"], "sandbox"), (["plna"], "plna"),
])
def test_the_command_name_is_the_first_word_after_the_global_flags(argv, name):
    assert catalog.command_name(argv) == name


def test_help_imports_no_command_module_nor_ssh_http_or_s3():
    code = ("import sys; from podreconcile.cli.main import main; main(['--help']);"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr.split()
    heavy = [m for m in loaded if m.split(".")[0] in ("paramiko", "httpx", "boto3", "botocore", "runpod", "pydantic")
             or m.startswith(("podreconcile.engine", "podreconcile.adapters", "podreconcile.sandbox",
                              "podreconcile.cli.commands"))]
    assert heavy == []


def test_the_ssh_adapter_spares_paramiko_its_invoke_import():
    code = "import sys, podreconcile.adapters.ssh; print(sys.modules.get('invoke') is None)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"
