"""Opening the one SSH connection of a command run: key, socket, handshake, host key, auth."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import socket
from pathlib import Path

import paramiko

from podreconcile.adapters.pod_socket import dial, reason_of
from podreconcile.adapters.ssh.session import Session
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import SSH_USER as USER
from podreconcile.core.ports import HostKeyChanged

# paramiko logs a dying transport at ERROR ("Socket exception: Network is unreachable (101)"); with
# no handler configured Python prints that raw to stderr. The failure reaches the user as our
# TemporaryError/notice instead, so paramiko's own records go nowhere.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

KEEPALIVE_SECONDS = 15
_KEY_FIX = (
    "set SSH_KEY_PATH to the private key whose .pub is the PUBLIC_KEY given to the pod "
    "(make one with: ssh-keygen -t ed25519 -N '' -f ~/.ssh/runpod_ed25519)"
)


def fingerprint(key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a "type base64" key line, for messages and display."""
    try:
        blob = base64.b64decode(key_line.split()[1], validate=True)
    except (IndexError, binascii.Error):
        return "(an unreadable key)"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def connect(
    endpoint: Endpoint, key_path: Path, *, pinned_key: str | None = None, timeout: float = 10,
    sock: socket.socket | None = None,
) -> Session:
    """Open the one SSH connection of a command run, as root, with the private key at `key_path`,
    over `sock` when the caller dialled it already (adapters.pod_socket.dial).

    Raises UserError for an unusable key or one the pod refuses, HostKeyChanged when `pinned_key`
    is given and differs, TemporaryError while sshd is not reachable or drops the handshake.
    """
    key = _load_key(Path(key_path))
    sock = sock or dial(endpoint, timeout)
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
        raise TemporaryError(f"SSH not ready yet at {endpoint}: handshake failed ({reason_of(e)})") from e
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
        raise TemporaryError(f"SSH not ready yet at {endpoint}: {reason_of(e)}") from e


