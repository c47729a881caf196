"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

from podreconcile.core.errors import UserError
from podreconcile.core.ports import Provider
from podreconcile.engine.observe import Connection
from podreconcile.engine.project import Project


def provider(project: Project) -> Provider:
    """RunPod's API for this project's key (the sandbox when RUNPOD_API_BASE_URL points at it)."""
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
    from podreconcile.adapters.runpod_graphql import RunPod
    return RunPod(key.reveal())


def connection(project: Project, persist_host_key: bool) -> Connection:
    """The command run's one SSH connection, opened on first use."""
    from podreconcile.adapters.ssh import connect
    return Connection(project, connect, persist_host_key=persist_host_key)
