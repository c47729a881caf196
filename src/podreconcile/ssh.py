"""SSH to a pod: the only module that imports paramiko.

One `Session` per command run carries every remote step (commands, SFTP, tunnels). paramiko's and
the socket layer's exceptions are translated here, once, into ours: a pod that is still booting or a
dropped connection is a `TemporaryError`, a key the pod refuses is a `UserError`, anything else a
`PermanentError`.

Host keys are trusted on first use *per pod start*: RunPod regenerates them (and changes the public
port) at every start, so `~/.ssh/known_hosts` is useless here and is never read or written. The
caller pins `Session.host_key` together with the start's identity and passes it back as
`pinned_key` on later connections to the same start.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import posixpath
import select
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import paramiko

from podreconcile.errors import PermanentError, PodreconcileError, TemporaryError, UserError

USER = "root"
KEEPALIVE_SECONDS = 15
# Without TCP_USER_TIMEOUT a peer that vanishes silently (preempted host) leaves the keepalive
# packets unacknowledged for the kernel's ~15 minutes of retransmissions; this bounds it.
_TCP_USER_TIMEOUT_MS = 45_000
_SFTP_TIMEOUT = 120.0
_CHUNK = 256 * 1024
_WAIT_SLICE = 1.0  # select() slices: state is re-checked even if a wakeup were missed
_KEY_FIX = (
    "set SSH_KEY_PATH to the private key whose .pub is the PUBLIC_KEY given to the pod "
    "(make one with: ssh-keygen -t ed25519 -N '' -f ~/.ssh/runpod_ed25519)"
)

# bytes, a binary file read to its end, or an iterable of chunks produced while sending
Stdin = bytes | BinaryIO | Iterable[bytes] | None


@dataclass(frozen=True)
class Endpoint:
    """Where a pod's sshd listens: the IP and public port of its 22/tcp mapping."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Result:
    """What a remote command did; stdout and stderr are decoded as UTF-8 (invalid bytes replaced)."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostKeyChanged(PermanentError):
    """The pod presented a different host key than the one pinned earlier in the same pod start."""


class CommandFailed(PermanentError):
    """A checked remote step exited non-zero; `result` holds its output."""

    def __init__(self, what: str, result: Result) -> None:
        tail = result.stderr.strip()[-400:] or result.stdout.strip()[-400:]
        detail = f": {tail}" if tail else ""
        super().__init__(f"{what} failed on the pod (exit code {result.exit_code}){detail}")
        self.what = what
        self.result = result


class CommandTimedOut(TemporaryError):
    """A remote step ran past its timeout; the command may still be running on the pod."""


class RemotePathNotFound(PermanentError, FileNotFoundError):
    """An SFTP read of a path that does not exist (also a FileNotFoundError for callers' ease)."""


def fingerprint(key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a "type base64" key line, for messages and display."""
    try:
        blob = base64.b64decode(key_line.split()[1], validate=True)
    except (IndexError, binascii.Error):
        return "(an unreadable key)"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def connect(
    endpoint: Endpoint, key_path: Path, *, pinned_key: str | None = None, timeout: float = 10
) -> Session:
    """Open the one SSH connection of a command run, as root, with the private key at `key_path`.

    Raises UserError for an unusable key or one the pod refuses, HostKeyChanged when `pinned_key`
    is given and differs, TemporaryError while sshd is not reachable or drops the handshake.
    """
    key = _load_key(Path(key_path))
    sock = _open_socket(endpoint, timeout)
    transport = paramiko.Transport(sock)
    try:
        if pinned_key:
            _prefer_key_type(transport, pinned_key.split()[0])
        _handshake(transport, endpoint, timeout)
        host_key = _check_host_key(transport, endpoint, pinned_key)
        _authenticate(transport, endpoint, key, Path(key_path))
    except BaseException:
        transport.close()
        sock.close()
        raise
    transport.set_keepalive(KEEPALIVE_SECONDS)
    return Session(endpoint, transport, host_key)


def _load_key(key_path: Path) -> paramiko.PKey:
    where = f"the SSH key SSH_KEY_PATH={key_path}"
    try:
        return paramiko.PKey.from_path(key_path)
    except FileNotFoundError:
        raise UserError(f"{where} does not exist: {_KEY_FIX}") from None
    except (paramiko.PasswordRequiredException, TypeError) as e:
        # paramiko >= 4 lets cryptography's TypeError ("...password-protected...") through.
        if not isinstance(e, paramiko.PasswordRequiredException) and "password" not in str(e):
            raise UserError(f"{where} is not a private key podreconcile can read: {_KEY_FIX}") from e
        raise UserError(
            f"{where} is protected by a passphrase, which podreconcile cannot ask for: remove it "
            f"(ssh-keygen -p -N '' -f {key_path}) or {_KEY_FIX}"
        ) from None
    except OSError as e:
        raise UserError(f"{where} cannot be read ({e.strerror}): {_KEY_FIX}") from None
    except (paramiko.SSHException, paramiko.pkey.UnknownKeyType, ValueError):
        raise UserError(
            f"{where} is not an ed25519, rsa or ecdsa private key podreconcile can read: {_KEY_FIX}"
        ) from None


def _open_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except socket.gaierror:
        raise PermanentError(f"cannot resolve the pod's SSH host {endpoint.host!r}") from None
    except OSError as e:
        raise TemporaryError(f"SSH not ready yet at {endpoint}: {_reason(e)}") from e
    _enable_keepalive(sock)
    return sock


def _enable_keepalive(sock: socket.socket) -> None:
    """Kernel-level dead-peer detection; options missing on this OS are skipped."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    options = {"TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}
    options["TCP_USER_TIMEOUT"] = _TCP_USER_TIMEOUT_MS
    for name, value in options.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _prefer_key_type(transport: paramiko.Transport, kind: str) -> None:
    """Ask for the pinned key's type first (as OpenSSH does from known_hosts): a pod with several
    host keys then shows the one that was pinned, whatever this paramiko version prefers."""
    algorithms = ("rsa-sha2-512", "rsa-sha2-256") if kind == "ssh-rsa" else (kind,)
    options = transport.get_security_options()
    known = list(options.key_types)
    first = [name for name in algorithms if name in known]
    options.key_types = first + [name for name in known if name not in first]


def _handshake(transport: paramiko.Transport, endpoint: Endpoint, timeout: float) -> None:
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
    except paramiko.ssh_exception.IncompatiblePeer as e:
        raise PermanentError(f"the SSH server at {endpoint} offers no usable algorithms") from e
    except (paramiko.SSHException, EOFError, OSError) as e:
        # sshd accepting before it is ready, or a pod still booting, shows up as banner errors/EOF.
        raise TemporaryError(f"SSH not ready yet at {endpoint}: handshake failed ({_reason(e)})") from e
    if not (transport.is_active() and transport.initial_kex_done):
        # start_client returns quietly when its timeout passes mid-handshake.
        raise TemporaryError(f"SSH not ready yet at {endpoint}: handshake timed out")


def _check_host_key(transport: paramiko.Transport, endpoint: Endpoint, pinned: str | None) -> str:
    key = transport.get_remote_server_key()
    seen = f"{key.get_name()} {key.get_base64()}"
    if pinned is not None and pinned.split()[:2] != seen.split():
        raise HostKeyChanged(
            f"the SSH host key of the pod at {endpoint} changed within one pod start (pinned "
            f"{fingerprint(pinned)}, now {fingerprint(seen)}); refusing to connect, as the connection "
            "may be intercepted: check the pod in the RunPod console, and if it was rebuilt or "
            "restarted outside podreconcile, stop and start it so the new start is trusted afresh"
        )
    return seen


def _authenticate(
    transport: paramiko.Transport, endpoint: Endpoint, key: paramiko.PKey, key_path: Path
) -> None:
    try:
        transport.auth_publickey(USER, key)
    except paramiko.AuthenticationException:
        raise UserError(
            f"the pod at {endpoint} does not accept the key SSH_KEY_PATH={key_path} "
            f"({key.fingerprint}): the .pub of SSH_KEY_PATH must be the PUBLIC_KEY given to the "
            "pod; point SSH_KEY_PATH at the matching key, or give the pod this key's .pub"
        ) from None
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise TemporaryError(f"SSH not ready yet at {endpoint}: {_reason(e)}") from e


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e) or type(e).__name__)[:200]


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
        listener = _listen_local(local_port)
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
        return PermanentError(f"{what} failed: {_reason(e)}")


class Forwarder:
    """A local TCP listener forwarding each connection through the pod, until `close()`."""

    def __init__(
        self, transport: paramiko.Transport, listener: socket.socket, target: tuple[str, int]
    ) -> None:
        self.local_port: int = listener.getsockname()[1]
        self._transport = transport
        self._listener = listener
        self._target = target
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the accept loop on close()
        self._links: set[tuple[socket.socket, paramiko.Channel]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"forward-{self.local_port}", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and end the connections in flight; the remote service is untouched."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            links = list(self._links)
        self._wake_w.send(b"x")
        self._thread.join()
        for sock, chan in links:
            _shutdown_quietly(sock)  # wakes the link's select(); its thread closes both ends
            chan.close()
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

    def _accept_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                client, addr = self._listener.accept()
            except OSError:
                continue  # the client gave up between select and accept
            threading.Thread(target=self._serve, args=(client, addr), daemon=True).start()

    def _serve(self, client: socket.socket, addr: tuple[str, int]) -> None:
        try:
            chan = self._transport.open_channel("direct-tcpip", self._target, addr, timeout=10)
        except (paramiko.SSHException, EOFError, OSError):
            client.close()  # nothing listens there on the pod, or the connection is gone
            return
        link = (client, chan)
        with self._lock:
            if self._closed:
                client.close()
                chan.close()
                return
            self._links.add(link)
        try:
            _splice(client, chan)
        finally:
            with self._lock:
                self._links.discard(link)
            client.close()
            chan.close()


def _splice(sock: socket.socket, chan: paramiko.Channel) -> None:
    """Copy bytes both ways until both directions end, passing half-closes on."""
    from_sock = from_chan = True
    try:
        while from_sock or from_chan:
            watched = [s for s, on in ((sock, from_sock), (chan, from_chan)) if on]
            ready, _, _ = select.select(watched, [], [])
            if sock in ready:
                from_sock = _copy(sock.recv, chan.sendall, chan.shutdown_write)
            if chan in ready:
                from_chan = _copy(chan.recv, sock.sendall, lambda: sock.shutdown(socket.SHUT_WR))
    except OSError:
        pass  # either end reset: the link is over


def _copy(recv: Callable[[int], bytes], send: Callable[[bytes], None], eof: Callable[[], None]) -> bool:
    data = recv(_CHUNK)
    if data:
        send(data)
        return True
    eof()
    return False


def _listen_local(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"local port {port} is already in use on this machine: choose another, "
                f"e.g. {_free_port_near(port)}"
            ) from None
        if e.errno == errno.EACCES:
            raise UserError(
                f"local port {port} needs privileges to listen on: choose a port above 1023, "
                f"e.g. {_free_port_near(max(port, 1023))}"
            ) from None
        raise
    sock.listen(64)
    return sock


def _free_port_near(port: int) -> int:
    """A port that is free right now: one of the next few above `port`, else any."""
    for candidate in [*range(port + 1, min(port + 50, 65536)), 0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise AssertionError("binding port 0 cannot fail")


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
    select.select([chan], [], [], _slice(deadline, what, timeout))


class _LineSplitter:
    """Turns chunks of bytes into whole lines for a callback, keeping partial lines for later."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
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


def _shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
