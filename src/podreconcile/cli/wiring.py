"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

import atexit
import os

from podreconcile.core.errors import UserError
from podreconcile.core.ports import Provider, VolumeStore
from podreconcile.core.volume_s3 import S3Credentials, S3Route
from podreconcile.engine.pod_work import SshPodWork
from podreconcile.engine.project import Project
from podreconcile.engine.volume_access import VolumeAccess

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


def connection(project: Project, persist_host_key: bool) -> SshPodWork:
    """The command run's one SSH connection, opened on first use, with the pod-side work over it and the
    network volume's S3 access (its store made only when the key pair is set and the volume's data
    center has S3)."""
    from podreconcile.adapters.ssh import connect
    return SshPodWork(project, connect, persist_host_key=persist_host_key, api_base_url=api_base_url(project),
                      volume=VolumeAccess(project, volume_store))


def volume_store(route: S3Route, credentials: S3Credentials) -> VolumeStore:
    """The boto3 store of a network volume that `core.volume_s3.s3_route` found reachable."""
    from podreconcile.adapters.volume_s3 import open_volume_store
    return open_volume_store(route, credentials)
