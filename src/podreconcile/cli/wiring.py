"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

import os

from podreconcile.core.errors import UserError
from podreconcile.core.ports import Provider
from podreconcile.engine.observe import Connection
from podreconcile.engine.project import Project


def provider(project: Project) -> Provider:
    """RunPod's API for this project's key (the sandbox when RUNPOD_API_BASE_URL points at it)."""
    key = project.settings.api_key
    if not key:
        raise UserError("RUNPOD_API_KEY is not set; put it in .runpod.env or the environment "
                        "(for the sandbox: eval \"$(podreconcile sandbox up)\").")
    base_url = project.settings.get("RUNPOD_API_BASE_URL")
    if base_url and not os.environ.get("RUNPOD_API_BASE_URL"):
        # The SDK reads the URL from the environment on every call; .runpod.env may name it too
        # (scripts/demo writes the sandbox's there, so a new shell reaches the same sandbox).
        os.environ["RUNPOD_API_BASE_URL"] = base_url
    from podreconcile.adapters.runpod_graphql import RunPod
    return RunPod(key)


def connection(project: Project, persist_host_key: bool) -> Connection:
    """The command run's one SSH connection, opened on first use."""
    from podreconcile.adapters.ssh import connect
    return Connection(project, connect, persist_host_key=persist_host_key)
