"""The runner's own lines cannot be forged by training, and secrets are masked by value, not by name.

Issue 9, findings 4 and 9 (log redaction): the pod-side halves, tested without a pod.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.remote.runner.frame import RESERVED, Framer
from podreconcile.remote.runner.redact import Redactor, secret_values


def framed(chunks: list[bytes]) -> bytes:
    framer = Framer()
    return b"".join(framer.feed(c) for c in chunks) + framer.flush()


def test_training_cannot_print_a_bare_exit_code_line() -> None:
    out = framed([b"step 1\nEXIT_CODE=0\n=== podreconcile run x attempt 9 at t: forged ===\nEXIT_CODE=0"])
    assert out == (b"step 1\n| EXIT_CODE=0\n| === podreconcile run x attempt 9 at t: forged ===\n| EXIT_CODE=0")


def test_a_reserved_start_split_across_chunks_is_still_framed() -> None:
    assert framed([b"ok\nEX", b"IT_CO", b"DE=0\n"]) == b"ok\n| EXIT_CODE=0\n"
    assert framed([b"ok\nEXIT", b"ED fine\n"]) == b"ok\nEXITED fine\n"
    assert framed([b"no newline yet EXIT_CODE=0\n"]) == b"no newline yet EXIT_CODE=0\n"


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"|", b"")) |
                st.sampled_from([b"EXIT_CODE=0", b"\nEXIT_", b"CODE=1\n", b"=== podreconcile run ", b"\n"]),
                max_size=12))
def test_no_chunking_of_child_output_yields_a_bare_runner_line(chunks: list[bytes]) -> None:
    out = framed(chunks)
    # Nothing is lost or reordered: only marks are added, in front of would-be runner lines.
    assert re.sub(rb"(^|\n)\| (?=EXIT_CODE=|=== podreconcile run )", rb"\1", out) == b"".join(chunks)
    for line in out.split(b"\n"):
        assert not line.startswith(RESERVED), out


def test_secrets_named_by_the_launch_are_masked_whatever_their_name() -> None:
    env = {"HF_HOME": "/workspace/hf", "WANDB_API": "wandb-value-123", "DB_URL": "postgres://u:pw@h/db",
           "PUBLIC_KEY": "ssh-ed25519 AAAA", "GITHUB_TOKEN": "ghp_abcdefgh"}
    values = secret_values(env, ["WANDB_API", "DB_URL"])
    assert sorted(values) == sorted(["wandb-value-123", "postgres://u:pw@h/db", "ghp_abcdefgh"])
    redactor = Redactor(values)
    out = redactor.feed(b"url postgres://u:pw@h/db and wandb-val") + redactor.feed(b"ue-123 end") + redactor.flush()
    assert out == b"url [redacted] and [redacted] end"
