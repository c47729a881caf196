"""`podreconcile sandbox ...`: run and steer the local RunPod."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer

from podreconcile.core.errors import UserError
from podreconcile.sandbox import daemon

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100}, help="A local RunPod: real sshd pods, RunPod's API and errors.")
volume_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100}, help="Network volumes of the sandbox.")
app.add_typer(volume_app, name="volume")

HomeOption = typer.Option(None, "--home", metavar="DIR", help=f"Sandbox state folder [default: ${daemon.HOME_ENV} or ~/.podreconcile/sandbox].")


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
    port: int = typer.Option(0, "--port", metavar="PORT", show_default=False, help="Port of the API [default: a free one]."),
    boot_delay: float = typer.Option(2.0, "--boot-delay", metavar="SECONDS", help="Seconds a pod takes to boot before SSH answers."),
) -> None:
    """Start the sandbox in the background and print the `export` lines to `eval`.

    Example: eval "$(podreconcile sandbox up)"
    """
    folder = _home(home).absolute()
    exports = daemon.up(folder, port=port, boot_delay=boot_delay).exports()
    # The home too, so that the next `sandbox fault` or `status` in this shell reaches this sandbox.
    typer.echo(f"{exports}\nexport {daemon.HOME_ENV}={shlex.quote(str(folder))}")


@app.command()
def down(home: Path = HomeOption) -> None:
    """Stop the sandbox and every pod it runs (volumes and stopped pods are kept)."""
    stopped = daemon.down(_home(home))
    typer.echo("Sandbox stopped." if stopped else "The sandbox was not running.", err=True)


@app.command()
def status(home: Path = HomeOption, as_json: bool = typer.Option(False, "--json", help="Print it as JSON.")) -> None:
    """Show whether the sandbox runs, its URL, pods and volumes."""
    current = daemon.running(_home(home))
    if current is None:
        typer.echo(json.dumps({"running": False}) if as_json else "The sandbox is not running.")
        return
    world = daemon.admin(current, "status", {})
    if as_json:
        typer.echo(json.dumps({"running": True, "url": current.url, **world}, indent=2))
        return
    typer.echo(f"Sandbox running at {current.url} (pid {current.pid}).")
    for pod in world["pods"]:
        ssh = f"ssh -p {pod['sshPort']} root@127.0.0.1" if pod["sshPort"] else "-"
        typer.echo(f"  pod {pod['id']}  {pod['name']:<32} {pod['desiredStatus']:<8} {ssh}")
    for volume in world["volumes"]:
        typer.echo(f"  volume {volume['id']}  {volume['name']}  {volume['size']} GB  {volume['dataCenterId']}")


@volume_app.command("create")
def volume_create(
    name: str = typer.Argument(..., metavar="NAME"),
    size_gb: int = typer.Option(..., "--size-gb", metavar="N", help="Size in GB."),
    data_center: str = typer.Option("EU-RO-1", "--data-center", metavar="ID", help="Data center id."),
    home: Path = HomeOption,
) -> None:
    """Create a network volume and print its id."""
    query = (
        "mutation Create($name: String!, $size: Int!, $dc: String!) {"
        " createNetworkVolume(input: {name: $name, size: $size, dataCenterId: $dc}) { id } }"
    )
    data = daemon.graphql(_running(home), query, {"name": name, "size": size_gb, "dc": data_center})
    typer.echo(data["createNetworkVolume"]["id"])


@app.command()
def preempt(pod_id: str = typer.Argument(..., metavar="POD_ID"), home: Path = HomeOption) -> None:
    """Kill a running pod as a spot interruption does (SIGTERM, then SIGKILL)."""
    result = daemon.admin(_running(home), "preempt", {"pod_id": pod_id})
    typer.echo(f"Pod {pod_id}: {result['desiredStatus']} ({result['lastStatusChange']}).")


@app.command()
def fault(
    operation: str = typer.Argument(..., metavar="OPERATION"),
    times: int = typer.Option(1, "--times", metavar="N", help="How many of the next calls fail."),
    error: str = typer.Option(..., "--error", metavar="KIND", help="http-500 | http-429 | timeout | no-capacity | host-gpus-busy"),
    body: str = typer.Option(None, "--body", metavar="KIND", help="json or html body for http-500/http-429."),
    applied: bool = typer.Option(None, "--applied/--not-applied", help="Carry out the call before failing [default: only for timeout]."),
    hang: float = typer.Option(35.0, "--hang", metavar="SECONDS", help="Seconds a timeout holds the connection."),
    home: Path = HomeOption,
) -> None:
    """Make the next N calls of OPERATION (a GraphQL field name) fail the way RunPod does."""
    args = {"operation": operation, "times": times, "kind": error, "body": body, "applied": applied, "hang_seconds": hang}
    result = daemon.admin(_running(home), "fault", args)
    typer.echo(f"Armed: the next {result['times']} {operation} call(s) fail with {result['kind']}.", err=True)


@app.command()
def calls(home: Path = HomeOption) -> None:
    """API calls since the sandbox started, by operation, as JSON."""
    typer.echo(json.dumps(daemon.admin(_running(home), "calls", {}), indent=2))
