"""A plain OpenSSH sshd on 127.0.0.1 for the SSH adapter's tests (until the sandbox's pods exist).

Each sshd has a free port, a fresh host key, a throwaway client key in its authorized_keys, and
everything under a temp folder; it is stopped in the finalizer. `sshd` is shared by a test module,
`fresh_sshd` is a test's own (for tests that restart the server or change its keys).

Tests reach the helpers through fixtures only (`sshd`, `fresh_sshd`, `session`, `proxy`, `keygen`,
`unused_port`), never by importing this module: other test folders' conftest modules share its name.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from podreconcile.core.observation import Endpoint

SSHD = "/usr/sbin/sshd"

HAVE_SSHD = bool(os.path.exists(SSHD) and shutil.which("ssh-keygen") and os.geteuid() == 0)


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> Path:
    """Make a key pair at `path` (+ .pub)."""
    path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "test", "-f", str(path)],
        check=True,
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, children first, from /proc."""
    found = []
    for child in _children(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


class SshServer:
    """One sshd child process with its own config, host key and authorized key."""

    def __init__(self, root: Path, client_key: Path) -> None:
        self.root = root
        self.client_key = client_key
        self.port = free_port()
        self.host_key = keygen(root / "host_ed25519")
        self.extra_host_keys: list[Path] = []
        (root / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
        self.config = root / "sshd_config"
        self.config.write_text(self._config_text())
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port)

    def _config_text(self) -> str:
        return "\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            *(f"HostKey {key}" for key in [self.host_key, *self.extra_host_keys]),
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes",
            "Subsystem sftp internal-sftp",
            f"PidFile {self.root / 'sshd.pid'}",
            "LogLevel ERROR",
            "",
        ])

    def start(self) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = open(self.root / "sshd.log", "ab")
        # Own process group: the finalizer can end sshd and its per-connection children together.
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not listen within 5 s")

    def stop(self) -> None:
        """Let connection processes end (clients closed), then end the listener, then stragglers.

        In this order each process is reaped by its own parent and no zombie is left to PID 1.
        """
        if self.proc is None or self.proc.poll() is not None:
            return
        _wait_until(lambda: not descendants(self.proc.pid), seconds=3)
        self.proc.terminate()
        self.proc.wait(timeout=5)
        for pid in reversed(descendants(self.proc.pid)):
            _kill(pid)  # only if a test leaked a remote process

    def restart(self, new_host_key: bool = True) -> None:
        self.stop()
        if new_host_key:
            keygen(self.host_key)
        self.config.write_text(self._config_text())
        self.start()

    def add_host_key(self, kind: str) -> Path:
        """Serve a second host key (after a restart), as RunPod's images do (rsa, ecdsa, ed25519)."""
        key = keygen(self.root / f"host_{kind}", kind=kind)
        self.extra_host_keys.append(key)
        self.restart(new_host_key=False)
        return key



class CuttableProxy:
    """A TCP relay in front of sshd whose connections can be cut, as a network failure would."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(self._target)
            self._pairs.append((client, upstream))
            threading.Thread(target=_relay, args=(client, upstream), daemon=True).start()

    def cut(self) -> None:
        for pair in self._pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._thread.join()
        self.cut()
        self._listener.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    peers = {a: b, b: a}
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [])
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def _wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAVE_SSHD:
        pytest.skip("needs root, OpenSSH's sshd and ssh-keygen")
    return keygen(tmp_path_factory.mktemp("client") / "id_ed25519")


def _serve(root: Path, client_key: Path):
    if not HAVE_SSHD:
        pytest.skip("needs root, OpenSSH's sshd and ssh-keygen")
    root.mkdir()
    server = SshServer(root, client_key)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, client_key: Path):
    """One sshd per test module, for tests that leave the server as they found it."""
    yield from _serve(tmp_path_factory.mktemp("sshd") / "server", client_key)


@pytest.fixture
def fresh_sshd(tmp_path: Path, client_key: Path):
    """An sshd of the test's own, for tests that restart it or change its keys."""
    yield from _serve(tmp_path / "sshd", client_key)


@pytest.fixture
def proxy(sshd: SshServer):
    relay = CuttableProxy(sshd.port)
    yield relay
    relay.close()


@pytest.fixture(name="keygen")
def keygen_fixture():
    """Make key pairs in tests: keygen(path, kind="ed25519", passphrase="") -> path."""
    return keygen


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def session(sshd: SshServer):
    from podreconcile.adapters.ssh import connect

    with connect(sshd.endpoint, sshd.client_key) as s:
        yield s
