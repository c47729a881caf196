"""Session.run and Session.stream against a real sshd."""

from __future__ import annotations

import time

import pytest

from podreconcile.adapters.ssh import connect
from podreconcile.core.errors import PermanentError, TemporaryError
from podreconcile.core.ports import CommandFailed, CommandTimedOut, Result

# Never-ending commands write on, so that SIGPIPE ends them on the "pod" once their channel or
# connection is gone: a plain `sleep` would outlive the test.
_WRITES_UNTIL_CUT_OFF = "while sleep 0.05; do echo tick; done"


def test_run_returns_exit_code_stdout_and_stderr(session):
    result = session.run("echo out; echo err >&2; exit 3", check=False)
    assert result == Result(3, "out\n", "err\n")
    assert not result.ok


def test_a_checked_failure_names_the_step_and_not_the_command(session):
    with pytest.raises(CommandFailed) as caught:
        session.run("TOKEN=hunter2; echo boom >&2; exit 7", what="starting training")
    error = caught.value
    assert isinstance(error, PermanentError)
    assert str(error).startswith("starting training failed on the pod (exit code 7)")
    assert "boom" in str(error) and "hunter2" not in str(error)
    assert error.result.exit_code == 7


def test_stdin_bytes_reach_the_command(session):
    assert session.run("tr a-z A-Z", stdin=b"hello\n").stdout == "HELLO\n"


def test_no_stdin_is_an_empty_stdin_not_a_hang(session):
    assert session.run("cat; echo done", timeout=5).stdout == "done\n"


def test_large_stdin_stdout_and_stderr_together_do_not_deadlock(session):
    data = (b"0123456789abcdef" * 64 + b"\n") * 5000  # 5 MB: far beyond the SSH window
    command = "cat; head -c 3000000 /dev/zero | tr '\\0' e >&2"
    result = session.run(command, stdin=data, timeout=20)
    assert result.stdout == data.decode()
    assert result.stderr == "e" * 3_000_000


def test_stdin_can_be_an_iterable_of_chunks(session):
    chunks = (f"line {i}\n".encode() for i in range(1000))
    assert session.run("wc -l", stdin=chunks).stdout.strip() == "1000"


def test_an_error_in_the_stdin_iterable_is_raised_and_the_command_gets_no_eof(session):
    def chunks():
        yield b"partial"
        raise ValueError("the producer failed")

    with pytest.raises(ValueError, match="the producer failed"):
        session.run("cat >/dev/null; echo completed", stdin=chunks())
    assert session.is_alive()


def test_timeout_raises_command_timed_out(session):
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="waiting did not finish within 0.5 s"):
        session.run(_WRITES_UNTIL_CUT_OFF, what="waiting", timeout=0.5)
    assert time.monotonic() - started < 3
    assert session.run("echo still usable").ok


def test_a_command_that_closes_its_output_early_still_reports_its_exit_code(session):
    assert session.run("exec >&- 2>&-; sleep 0.3; exit 4", check=False).exit_code == 4


def test_the_session_is_reused_for_many_steps(session):
    for i in range(5):
        assert session.run(f"echo {i}").stdout == f"{i}\n"


def test_stream_delivers_lines_while_the_command_runs(session, tmp_path):
    marker = tmp_path / "seen-first"
    # The command waits for proof that "first" was delivered: if lines were only handed over at
    # the end, this would run into the timeout instead.
    command = (
        f"echo first; i=0; while [ ! -e '{marker}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;"
        " printf 'second\\nno newline'"
    )
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "first":
            marker.touch()

    code = session.stream(command, on_line, timeout=5)
    assert code == 0
    assert lines == ["first", "second", "no newline"]


def test_stream_merges_stderr_and_returns_the_exit_code(session):
    lines: list[str] = []
    assert session.stream("echo a; echo b >&2; exit 2", lines.append) == 2
    assert sorted(lines) == ["a", "b"]


def test_stream_raises_temporary_when_the_connection_drops(proxy, sshd):
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            proxy.cut()

    command = _WRITES_UNTIL_CUT_OFF
    with connect(proxy.endpoint, sshd.client_key) as session:
        with pytest.raises(TemporaryError, match="lost the SSH connection.*following the log"):
            session.stream(command, on_line, what="following the log", timeout=15)
        assert not session.is_alive()


def test_an_exception_in_on_line_propagates_untranslated(session):
    def on_line(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        session.stream(_WRITES_UNTIL_CUT_OFF, on_line)
    assert session.run("echo after").ok
