"""CLI start-up: `--help`, `--version` and the help of each command import neither the engine, nor the
adapters, nor pydantic or the SDKs; each command imports what it needs when it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from podreconcile.cli import main as cli_main
from podreconcile.cli import sandbox as sandbox_cli
from podreconcile.sandbox import daemon

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("podreconcile.engine", "podreconcile.adapters", "pydantic", "paramiko", "httpx", "boto3", "runpod")
COMMANDS = {"plan", "apply", "show", "status", "logs", "stop", "destroy", "sync-data", "tensorboard", "ssh", "pull",
            "init", "schema", "sandbox"}
# Runs the CLI as `podreconcile ARGS` does, then prints the modules it loaded after a marker line.
WRAPPER = """
import json, sys
from podreconcile.cli.main import main
code = main(sys.argv[1:])
print("\\n--modules--\\n" + json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def run_cli(*args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env,
                            timeout=120)
    output, _, modules = result.stdout.partition("\n--modules--\n")
    result.stdout = output
    return result, json.loads(modules)


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["plan", "--help"], ["sandbox", "--help"],
                                  ["ssh", "--help"], ["init", "--help"], ["schema", "--help"]])
def test_help_and_version_import_no_engine_adapter_or_sdk(args):
    result, modules = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "podreconcile.cli.main" in modules  # the wrapper did run the CLI
    assert heavy(modules) == []


def test_help_lists_every_command():
    result, _ = run_cli("--help")
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == COMMANDS
    cli_main._load_commands()
    assert set(typer.main.get_command(cli_main.app).commands) == COMMANDS  # a new command is added above too


def test_a_misspelt_command_still_suggests_the_closest():
    result, _ = run_cli("plna")
    assert result.returncode == 2
    assert "No such command 'plna'. Did you mean 'plan'?" in result.stderr


def test_a_command_that_runs_still_finds_what_it_imports_late(tmp_path):
    result, modules = run_cli("schema", "--out", str(tmp_path / "schema.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "schema.json").read_text())["title"]
    assert "pydantic" in modules  # imported by the command itself, once it runs


def test_the_sandbox_help_names_the_daemons_home_variable():
    assert sandbox_cli.HOME_ENV == daemon.HOME_ENV
