"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

from podreconcile.core.errors import UserError
from podreconcile.core.ports import Provider, VolumeStore
from podreconcile.core.volume_s3 import S3Credentials, S3Route
from podreconcile.engine.observe import Connection
from podreconcile.engine.project import Project
from podreconcile.engine.volume_access import VolumeAccess


def provider(project: Project) -> Provider:
    """RunPod's API for this project's key (the sandbox when RUNPOD_API_BASE_URL points at it)."""
    key = project.settings.api_key
    if not key:
        raise UserError("RUNPOD_API_KEY is not set; put it in .runpod.env or the environment "
                        "(for the sandbox: eval \"$(podreconcile sandbox up)\").")
    from podreconcile.adapters.runpod_graphql import RunPod
    return RunPod(key)


def connection(project: Project, persist_host_key: bool) -> Connection:
    """The command run's one SSH connection, opened on first use, with the network volume's S3
    access (its store made only when the key pair is set and the volume's data center has S3)."""
    from podreconcile.adapters.ssh import connect
    return Connection(project, connect, persist_host_key=persist_host_key,
                      volume=VolumeAccess(project, volume_store))


def volume_store(route: S3Route, credentials: S3Credentials) -> VolumeStore:
    """The boto3 store of a network volume that `core.volume_s3.s3_route` found reachable."""
    from podreconcile.adapters.volume_s3 import open_volume_store
    return open_volume_store(route, credentials)
