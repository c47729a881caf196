"""Every SSH connection a command opens arms the pod's idle guard: the early one and the regular one.

A command that connects without the early handshake (a new pod, a new start, no endpoint remembered)
must arm it too, or an apply killed after it leaves the pod billing with nothing to stop it.
"""

from __future__ import annotations

from podreconcile.core.observation import Endpoint, PodFacts, PodStatus
from podreconcile.core.ports import Result
from podreconcile.core.state import HostKey
from podreconcile.engine.observe import Connection
from tests.unit.test_idle_timeout_and_preflight import _project
from tests.unit.test_spec import MINIMAL

SPEC = MINIMAL.replace("  image: runpod/base:0.0.0\n", "  image: runpod/base:0.0.0\n  idle_timeout: 5s\n")
ENDPOINT = Endpoint("127.0.0.1", 2222)


class RecordingShell:
    """A PodShell that answers every command with success and remembers what it was asked."""

    endpoint, host_key = ENDPOINT, "ssh-ed25519 AAAAtest"

    def __init__(self) -> None:
        self.commands: list[str] = []

    def is_alive(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def run(self, command, *, what="", stdin=None, timeout=None, check=True) -> Result:
        self.commands.append(command)
        return Result(0, "armed\n", "")


def _connect_with(opened: list):
    def connect(endpoint, key_path, *, pinned_key=None, timeout=10):
        shell = RecordingShell()
        opened.append(shell)
        return shell
    return connect


def _armed(shell: RecordingShell) -> bool:
    return any("idleguard.pyz arm 5 " in command for command in shell.commands)


POD = PodFacts("pod1", "podreconcile-tiny", PodStatus.RUNNING, ssh=ENDPOINT, started_at="t1")


def test_a_regular_connection_arms_the_guard(tmp_path) -> None:
    project = _project(tmp_path, SPEC)
    opened: list = []
    connection = Connection(project, _connect_with(opened), persist_host_key=False, api_base_url="http://api")
    session = connection.session(POD)
    assert opened == [session] and _armed(session)
    assert session.commands[-1].endswith(" http://api"), "the guard is told the API base the laptop uses"
    assert connection.session(POD) is session and len(session.commands) == 1, "one arm per connection"


def test_an_early_connection_arms_the_guard(tmp_path) -> None:
    project = _project(tmp_path, SPEC)
    opened: list = []
    connection = Connection(project, _connect_with(opened), persist_host_key=False)
    state = project.state_file.read().with_(host_key=HostKey(POD.start_identity, "ssh-ed25519 AAAAtest"),
                                            ssh_endpoint=str(ENDPOINT))
    connection.connect_early(state)
    session = connection.session(POD)
    assert opened == [session] and _armed(session)
