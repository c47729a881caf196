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

from podreconcile.adapters.ssh.connection import (
    KEEPALIVE_SECONDS,
    USER,
    connect,
    fingerprint,
)
from podreconcile.adapters.ssh.session import Session
from podreconcile.adapters.ssh.tunnel import Forwarder
from podreconcile.core.observation import Endpoint
from podreconcile.core.ports import (
    CommandFailed,
    CommandTimedOut,
    HostKeyChanged,
    RemotePathNotFound,
    Result,
    Stdin,
)

__all__ = [
    "KEEPALIVE_SECONDS", "USER", "CommandFailed", "CommandTimedOut", "Endpoint", "Forwarder", "HostKeyChanged",
    "RemotePathNotFound", "Result", "Session", "Stdin", "connect", "fingerprint",
]
