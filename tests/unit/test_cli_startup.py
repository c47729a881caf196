"""CLI start-up: `--help`, `--version`, the help of each command and the commands that make no API call
(`schema`, `init`, `show`, completion, the sandbox's) import neither the engine's connections, nor the
adapters, nor pydantic or the SDKs; each command imports what it needs when it runs. What is checked is
the modules imported, never a time (docs/benchmarks.md has the times)."""

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


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    result = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env,
                            timeout=120)
    output, _, modules = result.stdout.partition("\n--modules--\n")
    result.stdout = output
    return result, json.loads(modules)


def heavy(modules: list[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in names)]


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


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory) -> Path:
    """A plan file as `plan --out` writes it: tests/golden's blocked plan (actions, cost, a blocker)."""
    plan = json.loads((SRC.parent / "tests" / "golden" / "plan_blocked.json").read_text())
    path = tmp_path_factory.mktemp("show") / "plan.json"
    path.write_text(json.dumps({"format_version": 1, "spec": "podspec.yaml", "basis": {}, "options": {}, "plan": plan}))
    return path


# Each command that makes no API call (its arguments; what its output says): it must not import pydantic,
# an SDK or the adapters. `show` renders with rich; the sandbox's commands talk to its daemon through
# http.client (here none runs).
OFFLINE = [
    (("schema",), '"title"'),
    (("init", "{tmp}"), "wrote"),
    (("show", "{plan}"), "Blocked:"),
    (("show", "{plan}", "--format", "json"), '"format_version"'),
    (("sandbox", "status", "--home", "{tmp}/sandbox"), "not running"),
    (("sandbox", "status", "--home", "{tmp}/sandbox", "--json"), '"running": false'),
    (("sandbox", "down", "--home", "{tmp}/sandbox"), "not running"),
]
SDK = ("pydantic", "paramiko", "httpx", "boto3", "botocore", "runpod")


@pytest.mark.parametrize(("args", "says"), OFFLINE, ids=[" ".join(args) for args, _ in OFFLINE])
def test_a_command_without_api_calls_imports_no_pydantic_or_sdk(args, says, tmp_path, saved_plan):
    result, modules = run_cli(*(a.format(tmp=tmp_path, plan=saved_plan) for a in args))
    assert result.returncode == 0, result.stderr
    assert says in result.stdout + result.stderr
    assert heavy(modules, SDK + ("podreconcile.adapters", "podreconcile.engine.project", "podreconcile.engine.retry",
                                "tenacity", "podreconcile.core.spec.models")) == []
    if args[0] != "show":
        assert heavy(modules, ("podreconcile.engine", "rich")) == []  # nothing to render, nothing to retry
    if args[0] == "sandbox":  # the client side: not the sandbox's servers
        assert heavy(modules, ("podreconcile.sandbox.server", "podreconcile.sandbox.s3.service", "http.server")) == []


def test_shell_completion_imports_no_pydantic_or_sdk():
    env = {"_PODRECONCILE_COMPLETE": "complete_bash", "COMP_WORDS": "podreconcile sandbox st", "COMP_CWORD": "2"}
    result, modules = run_cli(env=env)
    assert result.stdout.split() == ["status", "stock"]
    assert heavy(modules) == []


def test_schema_and_init_write_the_schema_the_models_generate(tmp_path):
    # Generated here, with pydantic.
    from podreconcile.core.spec.reference import schema_text

    result, _ = run_cli("schema", "--out", str(tmp_path / "schema.json"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "schema.json").read_text() == schema_text()
    result, _ = run_cli("init", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "podspec.schema.json").read_text() == schema_text()


def test_the_sandbox_help_names_the_daemons_home_variable():
    assert sandbox_cli.HOME_ENV == daemon.HOME_ENV
