"""`podreconcile sandbox ...`: run and steer the local RunPod."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from podreconcile.core.errors import UserError
from podreconcile.sandbox import daemon

app = typer.Typer(no_args_is_help=True, help="A local RunPod: real sshd pods, RunPod's API and errors.")
volume_app = typer.Typer(no_args_is_help=True, help="Network volumes of the sandbox.")
app.add_typer(volume_app, name="volume")

HomeOption = typer.Option(None, "--home", help=f"Sandbox state folder [default: ${daemon.HOME_ENV} or ~/.podreconcile/sandbox].")


def _home(home: Path | None) -> Path:
    return home or daemon.default_home()


def _running(home: Path | None) -> daemon.Running:
    current = daemon.running(_home(home))
    if current is None:
        raise UserError("The sandbox is not running; start it with `eval \"$(podreconcile sandbox up)\"`.")
    return current


@app.command()
def up(
    home: Path = HomeOption,
    port: int = typer.Option(0, "--port", help="Port of the API [default: a free one]."),
    boot_delay: float = typer.Option(2.0, "--boot-delay", help="Seconds a pod takes to boot before SSH answers."),
    graphql: str = typer.Option(None, "--graphql", help="live | gone: GraphQL answers 410 Gone, as once RunPod retires it [default: live]."),
) -> None:
    """Start the sandbox in the background and print the two `export` lines to `eval`.

    Example: eval "$(podreconcile sandbox up)"
    """
    typer.echo(daemon.up(_home(home), port=port, boot_delay=boot_delay, graphql=graphql).exports())


@app.command()
def down(home: Path = HomeOption) -> None:
    """Stop the sandbox and every pod it runs (volumes and stopped pods are kept)."""
    stopped = daemon.down(_home(home))
    typer.echo("Sandbox stopped." if stopped else "The sandbox was not running.", err=True)


@app.command()
def status(home: Path = HomeOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show whether the sandbox runs, its URL, pods and volumes."""
    current = daemon.running(_home(home))
    if current is None:
        typer.echo(json.dumps({"running": False}) if as_json else "The sandbox is not running.")
        return
    world = daemon.admin(current, "status", {})
    graphql = daemon.graphql_mode(_home(home))
    if as_json:
        typer.echo(json.dumps({"running": True, "url": current.url, "graphql": graphql, **world}, indent=2))
        return
    typer.echo(f"Sandbox running at {current.url} (pid {current.pid}); REST v2 at /v2, GraphQL {graphql}.")
    for pod in world["pods"]:
        ssh = f"ssh -p {pod['sshPort']} root@127.0.0.1" if pod["sshPort"] else "-"
        typer.echo(f"  pod {pod['id']}  {pod['name']:<32} {pod['desiredStatus']:<8} {ssh}")
    for volume in world["volumes"]:
        typer.echo(f"  volume {volume['id']}  {volume['name']}  {volume['size']} GB  {volume['dataCenterId']}")


@volume_app.command("create")
def volume_create(
    name: str,
    size_gb: int = typer.Option(..., "--size-gb", help="Size in GB."),
    data_center: str = typer.Option("EU-RO-1", "--data-center", help="Data center id."),
    home: Path = HomeOption,
) -> None:
    """Create a network volume and print its id."""
    args = {"name": name, "size": size_gb, "data_center": data_center}
    typer.echo(daemon.admin(_running(home), "volume-create", args)["id"])


@app.command()
def preempt(pod_id: str, home: Path = HomeOption) -> None:
    """Kill a running pod as a spot interruption does (SIGTERM, then SIGKILL)."""
    result = daemon.admin(_running(home), "preempt", {"pod_id": pod_id})
    typer.echo(f"Pod {pod_id}: {result['desiredStatus']} ({result['lastStatusChange']}).")


@app.command()
def rename(pod_id: str, name: str, home: Path = HomeOption) -> None:
    """Rename a pod, as RunPod's console can (the pod keeps running)."""
    result = daemon.admin(_running(home), "rename", {"pod_id": pod_id, "name": name})
    typer.echo(f"Pod {pod_id} is now named {result['name']}.")


@app.command()
def fault(
    operation: str,
    times: int = typer.Option(1, "--times", help="How many of the next calls fail."),
    error: str = typer.Option(..., "--error", help="http-500 | http-502 | http-503 | http-429 | http-403 | http-409 | http-410 | timeout | no-capacity | host-gpus-busy; "
                              "unauthorized (a restricted key: GraphQL's 200 \"Unauthorized\", v2's 403); runtime-null (pods "
                              "answered with runtime null); ignored (answered OK, nothing done); "
                              "for s3[.Operation]: http-502 | http-500 | timeout | same-next-token"),
    body: str = typer.Option(None, "--body", help="json or html body for an http-NNN error."),
    applied: bool = typer.Option(None, "--applied/--not-applied", help="Carry out the call before failing [default: only for timeout]."),
    hang: float = typer.Option(35.0, "--hang", help="Seconds a timeout holds the connection."),
    retry_after: int = typer.Option(1, "--retry-after", help="Seconds in the Retry-After header of an http-429."),
    home: Path = HomeOption,
) -> None:
    """Make the next N calls of OPERATION fail the way RunPod does.

    OPERATION is a GraphQL field name (podFindAndDeployOnDemand, pod, myself, ...) or a REST v2
    operation (v2.pods.create, v2.pods.action, v2.pods.get, v2.catalog.gpus, ...; README lists them),
    or s3 / s3.<S3 operation> (s3.PutObject, ...).
    Example: podreconcile sandbox fault v2.pods.list --times 1 --error http-429 --retry-after 2
    """
    args = {"operation": operation, "times": times, "kind": error, "body": body, "applied": applied,
            "hang_seconds": hang, "retry_after": retry_after}
    result = daemon.admin(_running(home), "fault", args)
    typer.echo(f"Armed: the next {result['times']} {operation} call(s) fail with {result['kind']}.", err=True)


@app.command("fault-clear")
def fault_clear(home: Path = HomeOption) -> None:
    """Disarm every fault that has not fired yet.

    Example: podreconcile sandbox fault-clear
    """
    result = daemon.admin(_running(home), "clear_faults", {})
    cleared = ", ".join(result["cleared"]) or "none were armed"
    typer.echo(f"Cleared: {cleared}.", err=True)


@app.command()
def image(
    name: str,
    sshd_delay: float = typer.Option(None, "--sshd-delay", help="Seconds after boot before sshd answers (the port is published before)."),
    no_sshd: bool = typer.Option(False, "--no-sshd", help="The image never starts sshd (it ignores PUBLIC_KEY)."),
    home: Path = HomeOption,
) -> None:
    """How pods of IMAGE start sshd from now on: late, or never.

    Example: podreconcile sandbox image my/trainer:1 --no-sshd
    """
    if (sshd_delay is None) == (not no_sshd):
        raise typer.BadParameter("give exactly one of --sshd-delay SECONDS or --no-sshd")
    daemon.admin(_running(home), "image", {"image": name, "sshd_delay": None if no_sshd else sshd_delay})
    how = "never start sshd" if no_sshd else f"start sshd {sshd_delay:g} s after boot"
    typer.echo(f"Pods of {name} {how}.", err=True)


@app.command()
def stock(
    gpu: str,
    level: str = typer.Option(..., "--level", help="NONE | LOW | MEDIUM | HIGH (the default)."),
    data_center: str = typer.Option(None, "--data-center", help="One data center [default: all]."),
    home: Path = HomeOption,
) -> None:
    """Set a GPU type's stock: with NONE, creates there fail with RunPod's no-capacity sentence.

    Example: podreconcile sandbox stock "NVIDIA GeForce RTX 4090" --level NONE --data-center EU-RO-1
    """
    result = daemon.admin(_running(home), "stock", {"gpu": gpu, "level": level, "data_center": data_center})
    where = "every data center" if result["data_center"] == "*" else result["data_center"]
    typer.echo(f"Stock of {gpu} in {where}: {result['level']}.", err=True)


@app.command()
def calls(home: Path = HomeOption) -> None:
    """API calls since the sandbox started, by operation, as JSON."""
    typer.echo(json.dumps(daemon.admin(_running(home), "calls", {}), indent=2))
