"""Fixtures shared by the end-to-end tests: a real sandbox, a throwaway SSH key, SSH helpers.

Every process a fixture starts is stopped in its finalizer (`sandbox down` stops the pods too), and
every port is a free one, so the suite can run twice in a row and side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from podreconcile.sandbox import daemon

# A loaded 2-core CI machine is slow and its timing varies: no deadline, no speed health checks, and
# a fixed seed so that a run is the same every time (HYPOTHESIS_PROFILE=dev explores new examples).
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A shell without job control starts background commands with SIGINT ignored, and an ignored signal
# stays ignored across exec: the commands the tests interrupt with Ctrl+C would never see it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

BOOT_DELAY = 0.4


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory) -> Path:
    """A fresh ed25519 key pair; returns the private key's path (the .pub sits beside it)."""
    folder = tmp_path_factory.mktemp("sshkey")
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture(autouse=True)
def _no_fault_outlives_its_test(request):
    """A test that fails before its armed fault fires must not leave it to the next test."""
    yield
    if "sandbox" in request.fixturenames:
        daemon.admin(request.getfixturevalue("sandbox").running, "clear_faults", {})


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory, ssh_key):
    """A running sandbox for the whole session, with the test key registered on the account."""
    home = tmp_path_factory.mktemp("sandbox-home")
    running = daemon.up(home, boot_delay=BOOT_DELAY)
    query = "mutation Key($k: String) { updateUserSettings(input: {pubKey: $k}) { id } }"
    daemon.graphql(running, query, {"k": ssh_key.with_suffix(".pub").read_text().strip()})
    yield SandboxHandle(home, running)
    daemon.down(home)


@pytest.fixture(scope="session")
def sandbox_gone(tmp_path_factory, ssh_key):
    """A second session sandbox whose GraphQL API is retired (`sandbox up --graphql gone`): REST v2 only."""
    home = tmp_path_factory.mktemp("sandbox-gone-home")
    running = daemon.up(home, boot_delay=BOOT_DELAY, graphql="gone")
    daemon.v2(running, "PUT", "/v2/account/ssh-keys", {"keys": [ssh_key.with_suffix(".pub").read_text().strip()]})
    yield SandboxHandle(home, running, gone=True)
    daemon.down(home)


class SandboxHandle:
    def __init__(self, home: Path, running: daemon.Running, gone: bool = False) -> None:
        self.home = home
        self.running = running
        self.gone = gone  # GraphQL answers 410: look at the world through REST v2

    @property
    def env(self) -> dict[str, str]:
        return {"RUNPOD_API_BASE_URL": self.running.url, "RUNPOD_API_KEY": self.running.api_key}

    def cli(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run `podreconcile sandbox ARGS --home HOME` as a user would."""
        command = ["podreconcile", "sandbox", *args, "--home", str(self.home)]
        return subprocess.run(command, capture_output=True, text=True, check=check, **kwargs)


@pytest.fixture
def sdk(sandbox, monkeypatch):
    """The unmodified runpod SDK pointed at the sandbox (the SDK reads RUNPOD_API_BASE_URL per call)."""
    import runpod

    monkeypatch.setenv("RUNPOD_API_BASE_URL", sandbox.running.url)
    monkeypatch.setattr(runpod, "api_key", sandbox.running.api_key)
    return runpod


os.environ.setdefault("NO_COLOR", "1")
# Every sandbox this test process starts shuts itself down if the process dies without cleaning up.
os.environ[daemon.OWNER_ENV] = str(os.getpid())
# Run the `podreconcile` of the interpreter under test, as a user with the venv activated would.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
