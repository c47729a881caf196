"""connect(): keys, host key pinning per pod start, and how failures are classified."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from podreconcile.adapters.ssh import connect, fingerprint
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import HostKeyChanged


def test_connects_and_reports_the_host_key_for_pinning(sshd):
    with connect(sshd.endpoint, sshd.client_key) as session:
        assert session.is_alive()
        assert session.host_key == " ".join(Path(f"{sshd.host_key}.pub").read_text().split()[:2])
    assert not session.is_alive()


def test_the_pinned_key_of_the_same_start_is_accepted(sshd):
    with connect(sshd.endpoint, sshd.client_key) as first:
        pinned = first.host_key
    with connect(sshd.endpoint, sshd.client_key, pinned_key=pinned + " a-comment") as second:
        assert second.host_key == pinned


def test_a_host_key_changed_within_one_start_fails_hard(fresh_sshd):
    with connect(fresh_sshd.endpoint, fresh_sshd.client_key) as first:
        pinned = first.host_key
    fresh_sshd.restart(new_host_key=True)  # same port, new key: what an interceptor would look like

    with pytest.raises(HostKeyChanged) as caught:
        connect(fresh_sshd.endpoint, fresh_sshd.client_key, pinned_key=pinned)

    assert isinstance(caught.value, PermanentError)
    message = str(caught.value)
    assert "changed within one pod start" in message
    assert fingerprint(pinned) in message
    # Trust on first use: without a pin (a new pod start) the new key is accepted.
    with connect(fresh_sshd.endpoint, fresh_sshd.client_key) as fresh:
        assert fresh.host_key != pinned


def test_the_pinned_key_type_is_asked_for_when_the_pod_has_several(fresh_sshd):
    ecdsa = fresh_sshd.add_host_key("ecdsa")
    pinned = " ".join(Path(f"{ecdsa}.pub").read_text().split()[:2])

    with connect(fresh_sshd.endpoint, fresh_sshd.client_key) as unpinned:
        assert unpinned.host_key.startswith("ssh-ed25519 ")  # paramiko's own preference
    with connect(fresh_sshd.endpoint, fresh_sshd.client_key, pinned_key=pinned) as session:
        assert session.host_key == pinned


def test_an_unreadable_pin_is_reported_as_changed_not_as_a_crash(sshd):
    with pytest.raises(HostKeyChanged, match="an unreadable key"):
        connect(sshd.endpoint, sshd.client_key, pinned_key="ssh-ed25519 !!!")


def test_connection_refused_is_temporary(tmp_path, keygen, unused_port):
    key = keygen(tmp_path / "id")
    with pytest.raises(TemporaryError, match="SSH not ready yet"):
        connect(Endpoint("127.0.0.1", unused_port), key, timeout=2)


def test_a_server_that_closes_before_the_banner_is_temporary(tmp_path, keygen):
    key = keygen(tmp_path / "id")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        closer = threading.Thread(target=lambda: listener.accept()[0].close(), daemon=True)
        closer.start()
        with pytest.raises(TemporaryError, match="SSH not ready yet"):
            connect(Endpoint("127.0.0.1", port), key, timeout=2)
        closer.join(timeout=2)


def test_a_silent_server_times_out_as_temporary(tmp_path, keygen):
    key = keygen(tmp_path / "id")
    with socket.socket() as listener:  # accepts (backlog) and never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(TemporaryError, match="SSH not ready yet"):
            connect(Endpoint("127.0.0.1", listener.getsockname()[1]), key, timeout=0.5)


def test_a_key_the_pod_does_not_accept_is_a_user_error(sshd, tmp_path, keygen):
    other = keygen(tmp_path / "other")
    with pytest.raises(UserError) as caught:
        connect(sshd.endpoint, other)
    message = str(caught.value)
    assert "SSH_KEY_PATH" in message and "PUBLIC_KEY" in message and str(other) in message


def test_a_missing_key_file_is_a_user_error_naming_the_setting(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UserError, match="SSH_KEY_PATH.*does not exist.*ssh-keygen"):
        connect(Endpoint("127.0.0.1", 1), missing)


def test_an_encrypted_key_is_a_user_error(tmp_path, keygen):
    key = keygen(tmp_path / "locked", passphrase="secret-passphrase")
    with pytest.raises(UserError, match="passphrase") as caught:
        connect(Endpoint("127.0.0.1", 1), key)
    assert "secret-passphrase" not in str(caught.value)


def test_a_public_key_given_as_the_private_key_is_a_user_error(tmp_path, keygen):
    key = keygen(tmp_path / "id")
    with pytest.raises(UserError, match="not an ed25519, rsa or ecdsa private key"):
        connect(Endpoint("127.0.0.1", 1), Path(f"{key}.pub"))


def test_rsa_keys_work_too(fresh_sshd, tmp_path, keygen):
    rsa = keygen(tmp_path / "id_rsa", kind="rsa")
    (fresh_sshd.root / "authorized_keys").write_text(Path(f"{rsa}.pub").read_text())
    with connect(fresh_sshd.endpoint, rsa) as session:
        assert session.run("echo ok").stdout == "ok\n"
