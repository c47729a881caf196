"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

from podreconcile.core.errors import UserError

if TYPE_CHECKING:  # imported when used: `begin_early_ssh` runs before any of them is needed

    from podreconcile.core.ports import Provider, VolumeStore
    from podreconcile.core.volume_s3 import S3Credentials, S3Route
    from podreconcile.engine.pod_work import SshPodWork
    from podreconcile.engine.project import Project

DEFAULT_API_BASE_URL = "https://api.runpod.io"

# One provider (so one HTTP connection) per key, API base and kind for the whole command run.
_providers: dict[tuple[str, str, bool], Provider] = {}


def api_base_url(project: Project | None = None) -> str:
    """RUNPOD_API_BASE_URL from the environment, else from .runpod.env (scripts/demo writes the
    sandbox's there, so a new shell reaches the same sandbox), else RunPod's: GraphQL lives at
    `<base>/graphql`, REST v2 at `<base>/v2`."""
    from_file = project.settings.get("RUNPOD_API_BASE_URL") if project else None
    chosen = os.environ.get("RUNPOD_API_BASE_URL") or (from_file.reveal() if from_file else None)
    return (chosen or DEFAULT_API_BASE_URL).rstrip("/")


def provider(project: Project) -> Provider:
    """RunPod's REST v2 API for this project's key; a spot spec (pod.interruptible) also uses
    GraphQL, for what v2 lacks. The sandbox when RUNPOD_API_BASE_URL points at it."""
    settings = project.settings
    key = settings.api_key
    if not key:
        if settings.env_file is None:
            raise UserError(settings.missing("RUNPOD_API_KEY"))
        raise UserError("RUNPOD_API_KEY is not set; put it in .runpod.env or the environment "
                        "(for the sandbox: eval \"$(podreconcile sandbox up)\").")
    if settings.api_key_is_placeholder:
        where = settings.env_file or "the environment"
        raise UserError(f"RUNPOD_API_KEY in {where} is still the example's placeholder; put your key from "
                        "https://www.runpod.io/console/user/settings (API Keys) there.")
    spot = project.spec.pod.interruptible
    base_url = api_base_url(project)
    cache_key = (key.reveal(), base_url, spot)
    if cache_key not in _providers:
        _providers[cache_key] = _build(key.reveal(), base_url, spot)
        atexit.register(_providers[cache_key].close)
    return _providers[cache_key]


def _build(key: str, base_url: str, spot: bool):
    from podreconcile.adapters.runpod_rest import RestProvider
    rest = RestProvider.connect(key, base_url)
    if not spot:
        return rest
    from podreconcile.adapters.runpod_graphql import RunPod
    from podreconcile.adapters.runpod_spot import SpotProvider
    os.environ["RUNPOD_API_BASE_URL"] = base_url  # the SDK reads it on every call
    return SpotProvider(rest, RunPod(key, base_url))


def connection(project: Project, persist_host_key: bool, look: bool = False) -> SshPodWork:
    """The command run's one SSH connection, opened on first use, with the pod-side work over it and the
    network volume's S3 access (its store made only when the key pair is set and the volume's data
    center has S3). For a command that observes the run (`look`), the handshake to the last known
    endpoint and the look on it begin now, while the provider is built and the API answers."""
    from podreconcile.adapters.ssh import connect
    from podreconcile.engine import early_ssh
    from podreconcile.engine.pod_work import SshPodWork
    from podreconcile.engine.volume_access import VolumeAccess

    work = SshPodWork(project, connect, persist_host_key=persist_host_key, api_base_url=api_base_url(project),
                      volume=VolumeAccess(project, volume_store))
    work.use_early(early_ssh.claim(project.state_file.path))
    if look:
        work.connect_early(project.state_file.read())
    return work


# The commands that reach the pod over the command's one paramiko connection (`ssh` hands the pod to
# OpenSSH with the pinned host key instead), the commands that call the API, and their spec option.
_REACHES_POD = {"plan", "apply", "status", "logs", "stop", "pull", "tensorboard"}
_CALLS_API = _REACHES_POD | {"destroy", "sync-data", "ssh"}
_SPEC_OPTIONS = ("-f", "--file")


def begin_early_ssh(args: list[str]) -> None:
    """Before the arguments are parsed: for a command that calls the API, start making its TLS context;
    for one that will reach the pod, the handshake to the pod's last known endpoint
    (engine.early_ssh.begin), so the imports, the spec and the API call overlap them. The arguments
    are only peeked at; typer parses them as always afterwards. Whatever those threads run is
    imported here first: they import nothing themselves."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in _CALLS_API or {"--help", "-h"} & set(args):
        return
    if command in _REACHES_POD:
        from podreconcile.adapters.pod_socket import dial
        from podreconcile.engine import early_ssh

        early_ssh.begin(_spec_option(args), lambda endpoint: dial(endpoint, early_ssh.EARLY_TIMEOUT),
                        _ssh_connect)
    from podreconcile.adapters import tls

    tls.prepare()  # the API client's TLS context, on a core of its own


def _spec_option(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg in _SPEC_OPTIONS and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--file="):
            return arg.removeprefix("--file=")
    return None


def _ssh_connect():
    """paramiko's connect, loaded; the early handshake completes the session with it over its socket."""
    from podreconcile.adapters.ssh import connect
    from podreconcile.engine.early_ssh import EARLY_TIMEOUT

    return lambda endpoint, key, pinned_key, sock: connect(endpoint, key, pinned_key=pinned_key,
                                                           timeout=EARLY_TIMEOUT, sock=sock)


def volume_store(route: S3Route, credentials: S3Credentials) -> VolumeStore:
    """The boto3 store of a network volume that `core.volume_s3.s3_route` found reachable."""
    from podreconcile.adapters.volume_s3 import open_volume_store
    return open_volume_store(route, credentials)
