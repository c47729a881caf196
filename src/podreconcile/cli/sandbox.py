"""`podreconcile sandbox ...`: run and steer the local RunPod."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from podreconcile.core.errors import UserError

if TYPE_CHECKING:
    from podreconcile.sandbox import daemon

# The daemon (http.client, the S3 server) is imported inside the commands, so `sandbox --help` starts
# fast; HOME_ENV is its `daemon.HOME_ENV` (a unit test keeps them equal).
HOME_ENV = "PODRECONCILE_SANDBOX_HOME"

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100}, help="A local RunPod: real sshd pods, RunPod's API and errors.")
volume_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100}, help="Network volumes of the sandbox.")
app.add_typer(volume_app, name="volume")

HomeOption = typer.Option(None, "--home", metavar="DIR", help=f"Sandbox state folder [default: ${HOME_ENV} or ~/.podreconcile/sandbox].")


def _home(home: Path | None) -> Path:
    from podreconcile.sandbox import daemon

    return home or daemon.default_home()


def _running(home: Path | None) -> daemon.Running:
    from podreconcile.sandbox import daemon

    current = daemon.running(_home(home))
    if current is None:
        raise UserError("The sandbox is not running; start it with `eval \"$(podreconcile sandbox up)\"`.")
    return current


@app.command()
def up(
    home: Path = HomeOption,
    port: int = typer.Option(0, "--port", metavar="PORT", show_default=False, help="Port of the API [default: a free one]."),
    boot_delay: float = typer.Option(2.0, "--boot-delay", metavar="SECONDS", help="Seconds a pod takes to boot before SSH answers."),
    graphql: str = typer.Option(None, "--graphql", help="live | gone: GraphQL answers 410 Gone, as once RunPod retires it [default: live]."),
    network: str = typer.Option(None, "--network", help="loopback | emulated: each pod in a network namespace of its own, "
                                "on a link `sandbox link` can slow down, make lossy or cut; default: loopback."),
    netem: str = typer.Option(None, "--netem", help='Settings for every new pod\'s link, e.g. "delay 25ms loss 1%" '
                              "(delay is each way; implies --network emulated)."),
) -> None:
    """Start the sandbox in the background and print the `export` lines to `eval`.

    Example: eval "$(podreconcile sandbox up)"
    Example: eval "$(podreconcile sandbox up --network emulated --netem 'delay 25ms')"
    """
    from podreconcile.sandbox import daemon

    folder = _home(home).absolute()
    current = daemon.up(folder, port=port, boot_delay=boot_delay, graphql=graphql, network=network, netem=netem)
    # The home too, so that the next `sandbox fault` or `status` in this shell reaches this sandbox.
    typer.echo(f"{current.exports()}\nexport {daemon.HOME_ENV}={shlex.quote(str(folder))}")


@app.command()
def down(home: Path = HomeOption) -> None:
    """Stop the sandbox and every pod it runs (volumes and stopped pods are kept)."""
    from podreconcile.sandbox import daemon

    stopped = daemon.down(_home(home))
    typer.echo("Sandbox stopped." if stopped else "The sandbox was not running.", err=True)


@app.command()
def status(home: Path = HomeOption, as_json: bool = typer.Option(False, "--json", help="Print it as JSON.")) -> None:
    """Show whether the sandbox runs, its URL, pods and volumes."""
    from podreconcile.sandbox import daemon

    current = daemon.running(_home(home))
    if current is None:
        typer.echo(json.dumps({"running": False}) if as_json else "The sandbox is not running.")
        return
    world = daemon.admin(current, "status", {})
    graphql = daemon.graphql_mode(_home(home))
    if as_json:
        typer.echo(json.dumps({"running": True, "url": current.url, "graphql": graphql,
                               "network": daemon.network_mode(_home(home)), **world}, indent=2))
        return
    network = daemon.network_mode(_home(home))
    if network == "emulated":
        network += f" links (new pods: {daemon.default_netem(_home(home)) or 'clear'})"
    typer.echo(f"Sandbox running at {current.url} (pid {current.pid}); REST v2 at /v2, GraphQL {graphql}, {network} network.")
    for pod in world["pods"]:
        ssh = f"ssh -p {pod['sshPort']} root@{pod.get('sshHost', '127.0.0.1')}" if pod["sshPort"] else "-"
        link = pod.get("link")
        shaped = f"  link: {link['netem']}" if link else ""
        typer.echo(f"  pod {pod['id']}  {pod['name']:<32} {pod['desiredStatus']:<8} {ssh}{shaped}")
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
    from podreconcile.sandbox import daemon

    args = {"name": name, "size": size_gb, "data_center": data_center}
    typer.echo(daemon.admin(_running(home), "volume-create", args)["id"])


@app.command()
def preempt(pod_id: str = typer.Argument(..., metavar="POD_ID"), home: Path = HomeOption) -> None:
    """Kill a running pod as a spot interruption does (SIGTERM, then SIGKILL)."""
    from podreconcile.sandbox import daemon

    result = daemon.admin(_running(home), "preempt", {"pod_id": pod_id})
    typer.echo(f"Pod {pod_id}: {result['desiredStatus']} ({result['lastStatusChange']}).")


@app.command()
def link(
    pod_id: str,
    delay: str = typer.Option(None, "--delay", help="Delay each way, e.g. 25ms (a 50 ms round trip)."),
    jitter: str = typer.Option(None, "--jitter", help="Uniform variation of the delay, e.g. 5ms (packets keep their order)."),
    loss: str = typer.Option(None, "--loss", help="Share of packets dropped, each way, e.g. 5%."),
    rate: str = typer.Option(None, "--rate", help="Bandwidth each way, e.g. 100mbit, 512kbit."),
    down: bool = typer.Option(False, "--down", help="Drop every packet both ways (connections hang, as on a cut link)."),
    down_for: str = typer.Option(None, "--for", help="With --down: bring the link back after this long, e.g. 20s."),
    clear: bool = typer.Option(False, "--clear", help="Back to a plain link: no delay, loss, rate limit or cut."),
    home: Path = HomeOption,
) -> None:
    """Shape a pod's emulated link as `tc netem` would; each call replaces the link's settings.

    Only for pods of a sandbox started with `--network emulated`.
    Example: podreconcile sandbox link POD_ID --delay 25ms --jitter 5ms --loss 5%
    Example: podreconcile sandbox link POD_ID --down --for 20s
    """
    from podreconcile.sandbox import daemon, links

    shaping = any(value is not None for value in (delay, jitter, loss, rate, down_for)) or down
    if clear == shaping:
        raise UserError("Give either --clear or the settings to apply (--delay, --jitter, --loss, --rate, --down [--for]).")
    try:
        netem = links.netem_from_options(delay, jitter, loss, rate, down, down_for)
    except links.LinkError as error:
        raise UserError(str(error)) from None
    result = daemon.admin(_running(home), "link", {"pod_id": pod_id, "netem": dataclasses.asdict(netem)})
    typer.echo(f"Pod {pod_id}'s link: {result['netem']}.", err=True)


@app.command()
def rename(pod_id: str, name: str, home: Path = HomeOption) -> None:
    """Rename a pod, as RunPod's console can (the pod keeps running)."""
    from podreconcile.sandbox import daemon

    result = daemon.admin(_running(home), "rename", {"pod_id": pod_id, "name": name})
    typer.echo(f"Pod {pod_id} is now named {result['name']}.")


@app.command()
def fault(
    operation: str = typer.Argument(..., metavar="OPERATION"),
    times: int = typer.Option(1, "--times", metavar="N", help="How many of the next calls fail."),
    error: str = typer.Option(..., "--error", metavar="KIND",
                              help="http-500 | http-502 | http-503 | http-429 | http-403 | http-409 | http-410 | timeout | no-capacity | "
                                   "host-gpus-busy; unauthorized (a restricted key: GraphQL's 200 \"Unauthorized\", v2's 403); "
                                   "runtime-null (pods answered with runtime null); ignored (answered OK, nothing done); "
                                   "for s3[.Operation]: http-502 | http-500 | timeout | same-next-token"),
    body: str = typer.Option(None, "--body", metavar="KIND", help="json or html body for an http-NNN error."),
    applied: bool = typer.Option(None, "--applied/--not-applied", help="Carry out the call before failing [default: only for timeout]."),
    hang: float = typer.Option(35.0, "--hang", metavar="SECONDS", help="Seconds a timeout holds the connection."),
    retry_after: int = typer.Option(1, "--retry-after", metavar="SECONDS", help="Seconds in the Retry-After header of an http-429."),
    pod_key: bool = typer.Option(False, "--pod-key", help="Only calls made with a pod's own key (the runner's "
                                 "self-stop) meet the fault; the account key's calls pass."),
    home: Path = HomeOption,
) -> None:
    """Make the next N calls of OPERATION fail the way RunPod does.

    OPERATION is a GraphQL field name (podFindAndDeployOnDemand, pod, myself, ...) or a REST v2
    operation (v2.pods.create, v2.pods.action, v2.pods.get, v2.catalog.gpus, ...; README lists them),
    or s3 / s3.<S3 operation> (s3.PutObject, ...).
    Example: podreconcile sandbox fault v2.pods.list --times 1 --error http-429 --retry-after 2
    """
    from podreconcile.sandbox import daemon

    args = {"operation": operation, "times": times, "kind": error, "body": body, "applied": applied,
            "hang_seconds": hang, "retry_after": retry_after, "pod_key": pod_key}
    result = daemon.admin(_running(home), "fault", args)
    typer.echo(f"Armed: the next {result['times']} {operation} call(s) fail with {result['kind']}.", err=True)


@app.command("fault-clear")
def fault_clear(home: Path = HomeOption) -> None:
    """Disarm every fault that has not fired yet.

    Example: podreconcile sandbox fault-clear
    """
    from podreconcile.sandbox import daemon

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
    from podreconcile.sandbox import daemon

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
    from podreconcile.sandbox import daemon

    result = daemon.admin(_running(home), "stock", {"gpu": gpu, "level": level, "data_center": data_center})
    where = "every data center" if result["data_center"] == "*" else result["data_center"]
    typer.echo(f"Stock of {gpu} in {where}: {result['level']}.", err=True)


@app.command()
def calls(home: Path = HomeOption) -> None:
    """API calls since the sandbox started, by operation, as JSON."""
    from podreconcile.sandbox import daemon

    typer.echo(json.dumps(daemon.admin(_running(home), "calls", {}), indent=2))
