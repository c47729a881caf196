"""Where the concrete adapters meet the engine: the only cli module that imports them."""

from __future__ import annotations

from podreconcile.core.errors import UserError
from podreconcile.core.ports import Provider
from podreconcile.engine.pod_work import SshPodWork
from podreconcile.engine.project import Project


def provider(project: Project) -> Provider:
    """RunPod's API for this project's key (the sandbox when RUNPOD_API_BASE_URL points at it)."""
    key = project.settings.api_key
    if not key:
        raise UserError("RUNPOD_API_KEY is not set; put it in .runpod.env or the environment "
                        "(for the sandbox: eval \"$(podreconcile sandbox up)\").")
    from podreconcile.adapters.runpod_graphql import RunPod
    return RunPod(key)


def connection(project: Project, persist_host_key: bool) -> SshPodWork:
    """The command run's one SSH connection, opened on first use, with the pod-side work over it."""
    from podreconcile.adapters.ssh import connect
    return SshPodWork(project, connect, persist_host_key=persist_host_key)
