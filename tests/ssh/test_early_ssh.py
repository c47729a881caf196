"""The early handshake plan and apply start while the API answers: taken when it reached the same sshd, else dropped."""

from __future__ import annotations

from functools import partial

from podreconcile.adapters.ssh import connect
from podreconcile.core.observation import Endpoint
from podreconcile.engine.early_ssh import EarlySession, parse_endpoint


def test_a_handshake_pinned_to_the_known_key_is_taken_alive(sshd):
    with connect(sshd.endpoint, sshd.client_key) as first:
        pinned = first.host_key
    early = EarlySession("pod:1:t", sshd.endpoint, partial(connect, sshd.endpoint, sshd.client_key, pinned_key=pinned))
    session = early.take(wait=30)
    assert session is not None and session.is_alive()
    assert session.run("echo ok").stdout.strip() == "ok"
    session.close()
    assert early.take(wait=0) is None  # spent: never handed out twice


def test_another_host_key_on_that_endpoint_is_never_taken(sshd):
    early = EarlySession("pod:1:t", sshd.endpoint,
                         partial(connect, sshd.endpoint, sshd.client_key, pinned_key="ssh-ed25519 AAAAnotthekey"))
    assert early.take(wait=30) is None


def test_an_abandoned_handshake_closes_its_session_when_it_ends(sshd):
    opened = []

    def open_():
        session = connect(sshd.endpoint, sshd.client_key)
        opened.append(session)
        return session

    early = EarlySession("pod:1:t", sshd.endpoint, open_)
    early.abandon()
    early._done.wait(30)
    assert len(opened) == 1 and not opened[0].is_alive()


def test_endpoints_parse_from_the_state_file_text():
    assert parse_endpoint("127.0.0.1:2222") == Endpoint("127.0.0.1", 2222)
    assert parse_endpoint(None) is None and parse_endpoint("nohost") is None and parse_endpoint("h:x") is None
