"""The pieces of `plan`'s fast path that need no pod: which commands begin a handshake before their
arguments are parsed, from which state file, and when the probe's view of the idle guard spares arming it."""

from __future__ import annotations

import json
import sys

import pytest

from podreconcile.cli import wiring
from podreconcile.core.observation import Endpoint
from podreconcile.core.run_observation import GuardSettings, parse_probe
from podreconcile.core.state import HostKey, State
from podreconcile.engine import early_ssh, idle_guard
from podreconcile.engine.state_file import StateFile


class FakeShell:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def is_alive(self) -> bool:
        return not self.closed


class Opened:
    """Records every dial and handshake begun, instead of making them."""

    def __init__(self) -> None:
        self.dialled: list[Endpoint] = []
        self.calls: list[tuple[Endpoint, str, str, FakeShell]] = []
        self.sockets: list[FakeShell] = []

    def dial(self, endpoint):
        self.dialled.append(endpoint)
        self.sockets.append(FakeShell())
        return self.sockets[-1]

    def connect(self, endpoint, key, pinned, sock):
        self.calls.append((endpoint, str(key), pinned, sock))
        return FakeShell()


@pytest.fixture
def opened(monkeypatch):
    monkeypatch.setattr(early_ssh, "_pending", {})
    return Opened()


def _begin(opened, spec=None):
    early_ssh.begin(spec, opened.dial, lambda: opened.connect)


def _project(tmp_path, names=("demo",), endpoint="127.0.0.1:2222"):
    (tmp_path / "podspec.yaml").write_text("name: demo\n")
    key = tmp_path / "id_ed25519"
    key.write_text("not read here")
    (tmp_path / ".runpod.env").write_text(f"SSH_KEY_PATH={key}\n")
    for name in names:
        StateFile(tmp_path, name).write(State(pod_id="pod1", host_key=HostKey("pod1:2222:t0", "ssh-ed25519 AAAA"),
                                              ssh_endpoint=endpoint))
    return key


def test_one_state_file_begins_the_handshake_to_its_endpoint_with_its_host_key(tmp_path, monkeypatch, opened):
    key = _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    _begin(opened)
    claimed = early_ssh.claim(StateFile(tmp_path, "demo").path)
    assert claimed is not None and claimed.start == "pod1:2222:t0"
    assert claimed.take(10) is not None
    assert opened.calls == [(Endpoint("127.0.0.1", 2222), str(key), "ssh-ed25519 AAAA", opened.sockets[0])]
    assert early_ssh.claim(StateFile(tmp_path, "demo").path) is None  # claimed once


def test_without_a_usable_key_nothing_is_dialled(tmp_path, monkeypatch, opened):
    key = _project(tmp_path)
    key.unlink()
    monkeypatch.chdir(tmp_path)
    _begin(opened)
    assert opened.dialled == [] and early_ssh._pending == {}


def test_a_failed_handshake_closes_the_dialled_socket_and_gives_nothing(tmp_path, monkeypatch, opened):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)

    def refused(*args):
        raise OSError("handshake failed")

    early_ssh.begin(None, opened.dial, lambda: refused)
    assert early_ssh.claim(StateFile(tmp_path, "demo").path).take(10) is None
    assert opened.sockets[0].closed


def test_several_specs_begin_nothing(tmp_path, monkeypatch, opened):
    _project(tmp_path, names=("demo", "other"))
    monkeypatch.chdir(tmp_path)
    _begin(opened)
    assert opened.dialled == [] and early_ssh._pending == {}


@pytest.mark.parametrize("endpoint", [None, "no-port", "host:"])
def test_no_usable_endpoint_begins_nothing(tmp_path, monkeypatch, opened, endpoint):
    _project(tmp_path, endpoint=endpoint)
    monkeypatch.chdir(tmp_path)
    _begin(opened)
    assert opened.dialled == [] and early_ssh._pending == {}


def test_no_spec_or_an_unreadable_state_begins_nothing(tmp_path, monkeypatch, opened):
    monkeypatch.chdir(tmp_path)
    _begin(opened)  # no podspec.yaml anywhere up
    _project(tmp_path)
    StateFile(tmp_path, "demo").path.write_text("{not json")
    _begin(opened)
    assert opened.dialled == []


def test_a_handshake_begun_for_another_state_file_is_dropped(tmp_path, monkeypatch, opened):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    _begin(opened)
    assert early_ssh.claim(tmp_path / ".podreconcile" / "other" / "state.json") is None
    assert early_ssh._pending == {}


@pytest.mark.parametrize("args, spec", [
    (["plan"], None),
    (["--debug", "apply", "--yes"], None),
    (["status", "-f", "sub/podspec.yaml"], "sub/podspec.yaml"),
    (["plan", "--file", "sub"], "sub"),
    (["plan", "--file=sub"], "sub"),
])
def test_commands_that_reach_the_pod_begin_early(monkeypatch, args, spec):
    begun = []
    monkeypatch.setattr(early_ssh, "begin", lambda spec_option, dial, connect: begun.append(spec_option))
    wiring.begin_early_ssh(args)
    assert begun == [spec]


@pytest.mark.parametrize("args", [[], ["--help"], ["plan", "--help"], ["init"], ["schema"], ["sandbox", "up"],
                                  ["--version"], ["destroy", "--yes"], ["ssh", "--", "true"]])
def test_other_invocations_begin_nothing(monkeypatch, args):
    begun = []
    monkeypatch.setattr(early_ssh, "begin", lambda spec_option, dial, connect: begun.append(spec_option))
    wiring.begin_early_ssh(args)
    assert begun == []


def _probe(guard) -> str:
    return json.dumps({"probe_version": 1, "guard": guard})


def test_the_probe_reports_the_guard_as_it_runs():
    run = parse_probe(_probe({"running": True, "settings": {"timeout_s": 900.0, "mount": "/workspace",
                                                             "api_base_url": None}}))
    assert run.guard_running and run.guard_settings == GuardSettings(900.0, "/workspace", None)


@pytest.mark.parametrize("guard", [None, "x", {"running": "yes"}, {"settings": {"timeout_s": "9", "mount": "/w"}},
                                   {"settings": {"timeout_s": 9, "mount": ["/w"]}}])
def test_a_malformed_guard_report_reads_as_unarmed(guard):
    run = parse_probe(_probe(guard))
    assert not run.guard_running and run.guard_settings is None


@pytest.mark.parametrize("running, recorded, wanted, armed", [
    (True, (900.0, "/workspace", None), (900, "/workspace", None), True),
    (False, (900.0, "/workspace", None), (900, "/workspace", None), False),  # recorded, but no guard runs
    (True, (900.0, "/workspace", None), (1200, "/workspace", None), False),  # a changed idle_timeout
    (True, (900.0, "/workspace", None), (900, "/data", None), False),
    (True, (900.0, "/workspace", None), (900, "/workspace", "http://api"), False),
    (False, (0.0, "/workspace", None), (0, "/workspace", None), True),  # switched off, as asked
    (True, None, (900, "/workspace", None), False),
])
def test_the_guard_is_armed_again_only_when_it_differs(running, recorded, wanted, armed):
    run = parse_probe(_probe({"running": running, "settings": None if recorded is None else dict(
        zip(("timeout_s", "mount", "api_base_url"), recorded))}))
    assert idle_guard.armed(run, idle_guard.settings(*wanted)) is armed


@pytest.mark.parametrize("args, prepared", [(["plan"], True), (["destroy", "--yes"], True), (["sync-data"], True),
                                            (["ssh"], True),
                                            (["init"], False), (["plan", "--help"], False), (["--version"], False)])
def test_commands_that_call_the_api_make_their_tls_context_early(monkeypatch, args, prepared):
    from podreconcile.adapters import tls

    made = []
    monkeypatch.setattr(tls, "prepare", lambda: made.append(True))
    monkeypatch.setattr(early_ssh, "begin", lambda *a: None)
    wiring.begin_early_ssh(args)
    assert bool(made) is prepared


def test_paramiko_failing_to_load_closes_the_dialled_socket(tmp_path, monkeypatch, opened):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)

    def unloadable():
        raise ImportError("no paramiko")

    with pytest.raises(ImportError):
        early_ssh.begin(None, opened.dial, unloadable)
    assert early_ssh.claim(StateFile(tmp_path, "demo").path).take(10) is None
    assert opened.sockets[0].closed and opened.calls == []


def test_the_early_threads_import_nothing(monkeypatch):
    """Two threads importing at once can deadlock on import locks: everything is imported first."""
    import builtins
    import threading

    imported, original = [], builtins.__import__

    def watching(name, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread() and name not in sys.modules:
            imported.append(name)
        return original(name, *args, **kwargs)

    from podreconcile.adapters import tls

    monkeypatch.setattr(tls, "_made", [])
    monkeypatch.setattr(tls, "_ready", threading.Event())
    monkeypatch.setattr(tls, "_started", threading.Lock())
    monkeypatch.setattr(builtins, "__import__", watching)
    tls.prepare()
    tls.context()
    assert imported == []


def test_the_early_tls_context_verifies_as_httpx_would():
    import ssl

    from podreconcile.adapters import tls

    tls.prepare()
    context = tls.context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
