"""A connected session: commands, streams, SFTP and tunnels over one transport."""

from __future__ import annotations

import posixpath
import select
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator

import paramiko

from podreconcile.adapters.pod_socket import reason_of
from podreconcile.adapters.ssh.tunnel import Forwarder, listen_local
from podreconcile.core.errors import PermanentError, PodreconcileError, TemporaryError
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import (
    CommandFailed,
    CommandTimedOut,
    RemotePathNotFound,
    Result,
    Stdin,
)

_SFTP_TIMEOUT = 120.0
_CHUNK = 256 * 1024
#: The pod is someone else's computer: what it prints is read up to a cap, never without bound.
MAX_OUTPUT = 64 * 1024 * 1024
MAX_LINE = 64 * 1024  # a streamed line longer than this is passed on in pieces
_WAIT_SLICE = 1.0  # select() slices: state is re-checked even if a wakeup were missed


class Session:
    """One authenticated connection to a pod; every remote step of a command run goes through it."""

    def __init__(self, endpoint: Endpoint, transport: paramiko.Transport, host_key: str) -> None:
        self.endpoint = endpoint
        self.host_key = host_key  # "type base64" of the pod's host key, for pinning
        self._transport = transport
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()
        self._forwarders: list[Forwarder] = []

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_alive(self) -> bool:
        """Whether the connection is still up (as far as the transport knows)."""
        return self._transport.is_active()

    def close(self) -> None:
        """Stop every forwarder, then close SFTP and the connection. Idempotent."""
        for forwarder in self._forwarders:
            forwarder.close()
        if self._sftp is not None:
            self._sftp.close()
        self._transport.close()

    # -- commands ---------------------------------------------------------------------------------

    def run(
        self,
        command: str,
        *,
        what: str = "a remote command",
        stdin: Stdin = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> Result:
        """Run `command` through the pod's shell and collect its output.

        `what` names the step in errors (the command text is never put in messages: it may hold
        secrets). `stdin`: bytes, a binary file read to its end, or an iterable of byte chunks
        (an exception it raises is re-raised here and the command gets no EOF); None gives the
        command an empty stdin. With `check`, a non-zero exit raises CommandFailed. A timeout
        raises CommandTimedOut; a dropped connection TemporaryError. Killed by a signal: exit -1.
        """
        out, err = bytearray(), bytearray()
        chan = self._exec(command, what)
        feeder = _StdinFeeder(chan, stdin)
        try:
            feeder.start()
            deadline = _deadline(timeout)
            for is_err, data in self._outputs(chan, deadline, what, timeout):
                (err if is_err else out).extend(data)
                if len(out) + len(err) > MAX_OUTPUT:
                    raise PermanentError(f"{what}: the pod printed more than {MAX_OUTPUT >> 20} MB, which "
                                         "no podreconcile step does; see the pod's log")
            code = self._exit_code(chan, deadline, what, timeout)
        except PodreconcileError:
            _reraise_feeder_error(feeder)
            raise
        finally:
            chan.close()
        _reraise_feeder_error(feeder)
        result = Result(code, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and code != 0:
            raise CommandFailed(what, result)
        return result

    def stream(
        self,
        command: str,
        on_line: Callable[[str], None],
        *,
        what: str = "a remote stream",
        timeout: float | None = None,
    ) -> int:
        """Run `command`, calling `on_line` with each line of its output (stderr merged) as it arrives.

        Returns the exit code. A dropped connection raises TemporaryError so the caller can
        reconnect; an exception raised by `on_line` closes the channel and propagates.
        """
        lines = _LineSplitter(on_line)
        chan = self._exec(command, what, combine_stderr=True)
        try:
            chan.shutdown_write()
            deadline = _deadline(timeout)
            for _, data in self._outputs(chan, deadline, what, timeout):
                lines.feed(data)
            lines.flush()
            return self._exit_code(chan, deadline, what, timeout)
        finally:
            chan.close()

    def _exec(self, command: str, what: str, combine_stderr: bool = False) -> paramiko.Channel:
        with self._guard(what):
            chan = self._transport.open_session()
            chan.set_combine_stderr(combine_stderr)
            chan.exec_command(command)
            return chan

    def _outputs(
        self, chan: paramiko.Channel, deadline: float | None, what: str, timeout: float | None
    ) -> Iterator[tuple[bool, bytes]]:
        """Yield (is_stderr, data) until the command closes its output.

        A generator so that exceptions from the consumer (on_line) are not translated as SSH errors.
        """
        while True:
            with self._guard(what):
                # Checked before reading: once EOF is in, no more data can arrive after this read.
                finished = chan.eof_received or chan.closed
                chunks = _read_ready(chan)
            yield from chunks
            if finished:
                return
            if not chunks:
                _wait_readable(chan, deadline, what, timeout)

    def _exit_code(
        self, chan: paramiko.Channel, deadline: float | None, what: str, timeout: float | None
    ) -> int:
        # A command may close its output before it exits; the event is also set on channel close.
        while not chan.status_event.wait(_slice(deadline, what, timeout)):
            pass
        code = chan.exit_status
        # A close without EOF is the transport dying under the channel, not the command ending.
        if code == -1 and (not chan.eof_received or not self.is_alive()):
            raise TemporaryError(f"lost the SSH connection to {self.endpoint} during {what}")
        return code

    # -- files ------------------------------------------------------------------------------------

    def sftp(self) -> paramiko.SFTPClient:
        """The session's SFTP client, opened on first use and shared."""
        with self._sftp_lock:
            if self._sftp is None:
                with self._guard("opening SFTP"):
                    self._sftp = paramiko.SFTPClient.from_transport(self._transport)
                    self._sftp.get_channel().settimeout(_SFTP_TIMEOUT)
            return self._sftp

    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        """Write `data` to `remote_path` atomically (temp file + rename), creating parent folders.

        SFTP does not expand `~`: give absolute paths (relative ones start at root's home).
        """
        parent, name = posixpath.split(remote_path)
        tmp = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
        with self._guard(f"uploading {remote_path}"):
            sftp = self.sftp()
            _makedirs(sftp, parent)
            try:
                with sftp.open(tmp, "wb") as f:
                    f.set_pipelined(True)  # don't wait for an ack per 32 KiB write
                    f.write(data)
                sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, remote_path)
            except BaseException:
                _remove_quietly(sftp, tmp)
                raise

    def get_bytes(self, remote_path: str) -> bytes:
        """The content of `remote_path`; RemotePathNotFound if it does not exist."""
        with self._guard(f"downloading {remote_path}"):
            with self.sftp().open(remote_path, "rb") as f:
                f.prefetch()  # pipelined reads instead of one round trip per block
                return f.read()

    # -- tunnels ----------------------------------------------------------------------------------

    def forward_local(self, local_port: int, remote_host: str, remote_port: int) -> Forwarder:
        """Listen on 127.0.0.1:`local_port` (0: any free port, see `.local_port`) and forward each
        connection to `remote_host:remote_port` as seen from the pod. UserError if the port is taken.
        """
        listener = listen_local(local_port)
        forwarder = Forwarder(self._transport, listener, (remote_host, remote_port))
        self._forwarders.append(forwarder)
        return forwarder

    # -- errors -----------------------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Translate paramiko and socket errors raised during `what` into ours."""
        try:
            yield
        except PodreconcileError:
            raise
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._translate(e, what) from e

    def _translate(self, e: BaseException, what: str) -> PodreconcileError:
        lost = f"lost the SSH connection to {self.endpoint} during {what}"
        if not self.is_alive() or isinstance(e, EOFError):
            return TemporaryError(lost)
        if isinstance(e, TimeoutError):
            return TemporaryError(f"{what} timed out: the pod at {self.endpoint} stopped answering")
        if isinstance(e, paramiko.ChannelException):
            # e.g. sshd's MaxSessions reached: passes when other channels close.
            return TemporaryError(f"the pod at {self.endpoint} refused a new channel for {what}")
        if isinstance(e, FileNotFoundError):
            return RemotePathNotFound(f"{what} failed: no such file on the pod")
        if isinstance(e, PermissionError):
            return PermanentError(f"{what} failed: permission denied on the pod")
        return PermanentError(f"{what} failed: {reason_of(e)}")



class _StdinFeeder(threading.Thread):
    """Sends stdin from a thread: a command that writes much before reading would deadlock us."""

    def __init__(self, chan: paramiko.Channel, stdin: Stdin) -> None:
        super().__init__(name="ssh-stdin", daemon=True)
        self._chan = chan
        self._chunks = _stdin_chunks(stdin)
        self.error: BaseException | None = None  # raised by the caller's iterable

    def run(self) -> None:
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            except BaseException as e:
                self.error = e
                self._chan.close()  # no EOF: the command must not take a partial stdin as whole
                return
            try:
                self._chan.sendall(chunk)
            except (OSError, EOFError, paramiko.SSHException):
                return  # the command stopped reading or the link dropped: its exit status tells
        try:
            self._chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass


def _reraise_feeder_error(feeder: _StdinFeeder) -> None:
    feeder.join(timeout=_WAIT_SLICE)
    if feeder.error is not None:
        raise feeder.error


def _stdin_chunks(stdin: Stdin) -> Iterator[bytes]:
    if stdin is None:
        return iter(())
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        view = memoryview(stdin)
        return (bytes(view[i : i + _CHUNK]) for i in range(0, len(view), _CHUNK))
    if hasattr(stdin, "read"):
        return iter(lambda: stdin.read(_CHUNK), b"")
    return iter(stdin)


def _read_ready(chan: paramiko.Channel) -> list[tuple[bool, bytes]]:
    chunks = []
    while chan.recv_ready():
        chunks.append((False, chan.recv(_CHUNK)))
    while chan.recv_stderr_ready():
        chunks.append((True, chan.recv_stderr(_CHUNK)))
    return chunks


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _slice(deadline: float | None, what: str, timeout: float | None) -> float:
    """How long to wait before re-checking; CommandTimedOut once the deadline has passed."""
    if deadline is None:
        return _WAIT_SLICE
    left = deadline - time.monotonic()
    if left <= 0:
        raise CommandTimedOut(f"{what} did not finish within {timeout:g} s")
    return min(_WAIT_SLICE, left)


def _wait_readable(
    chan: paramiko.Channel, deadline: float | None, what: str, timeout: float | None
) -> None:
    wait = _slice(deadline, what, timeout)
    try:
        select.select([chan], [], [], wait)
    except (OSError, ValueError):
        # The channel was closed under the select (the stdin feeder closes it when its producer
        # fails); the caller's loop sees `chan.closed` and ends.
        pass


class _LineSplitter:
    """Turns chunks of bytes into whole lines for a callback, keeping partial lines for later."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        while len(self._partial) > MAX_LINE:
            lines.append(self._partial[:MAX_LINE])
            self._partial = self._partial[MAX_LINE:]
        for line in lines:
            self._on_line(line.rstrip(b"\r").decode(errors="replace"))

    def flush(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, b""
            self._on_line(partial.decode(errors="replace"))


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    if path in ("", "/", "."):
        return
    try:
        sftp.stat(path)
        return
    except FileNotFoundError:
        pass
    _makedirs(sftp, posixpath.dirname(path))
    try:
        sftp.mkdir(path)
    except OSError:
        sftp.stat(path)  # created meanwhile by someone else is fine; otherwise this raises


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except (OSError, paramiko.SSHException, EOFError):
        pass


