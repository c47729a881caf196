"""Running the sandbox in the background: `up`, `down`, `status`, and the admin client.

`up` starts `python -m podreconcile.sandbox.daemon HOME PORT BOOT_DELAY GRAPHQL NETWORK NETEM` detached,
waits until it
answers, and returns the two `export` lines. The server writes `HOME/server.json` (pid, url) once it
listens; `down` asks it to shut down (which stops every pod) and waits for the process to end.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from podreconcile.sandbox.private import private_dir, write_private

from .s3 import keys as s3_keys


class SandboxError(Exception):
    """A sandbox command could not be done; the message says why and what to do."""


HOME_ENV = "PODRECONCILE_SANDBOX_HOME"
# When set, the sandbox shuts down (stopping its pods) once that process is gone: test suites set it so
# that a killed test run leaves no server, sshd or tmux behind.
OWNER_ENV = "PODRECONCILE_SANDBOX_OWNER_PID"
GRAPHQL_MODES = ("live", "gone")
NETWORK_MODES = ("loopback", "emulated")


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".podreconcile" / "sandbox")


@dataclass(frozen=True)
class Running:
    pid: int
    url: str
    api_key: str
    s3_exports: tuple[str, ...] = ()

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def exports(self) -> str:
        return "\n".join([
            f"export RUNPOD_API_BASE_URL={shlex.quote(self.url)}",
            f"export RUNPOD_API_KEY={shlex.quote(self.api_key)}",
            *self.s3_exports,
        ])


def running(home: Path) -> Running | None:
    """The sandbox serving from `home`, if its process is alive and answers."""
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    current = Running(info["pid"], info["url"], info["api_key"], tuple(s3_keys.exports(home, info.get("s3_url"))))
    if not _alive(current.pid) or not _healthy(current.url):
        return None
    return current


def up(home: Path, port: int = 0, boot_delay: float = 2.0, timeout: float = 20.0, graphql: str | None = None,
       network: str | None = None, netem: str | None = None) -> Running:  # fmt: skip
    """Start the sandbox unless it already runs; return how to reach it.

    `graphql="gone"` makes its GraphQL API answer as a retired API (410 Gone) while REST v2 works;
    None keeps a running sandbox's choice, and starts a new one with GraphQL live.
    `network="emulated"` puts each pod on an emulated link of its own (links.py), with `netem`
    ("delay 25ms loss 1%") applied to every new pod's link; None keeps a running sandbox's choice,
    and starts a new one on the loopback.
    """
    if graphql not in (None, *GRAPHQL_MODES):
        raise SandboxError(f"--graphql must be one of {', '.join(GRAPHQL_MODES)}, not {graphql!r}.")
    _check_network(network, netem)
    current = running(home)
    if current:
        for option, wanted, serving in (("GraphQL", graphql, graphql_mode(home)),
                                        ("network", network, network_mode(home)),
                                        ("--netem", netem, _server_info(home).get("netem") or None)):  # fmt: skip
            if wanted is not None and wanted != serving:
                raise SandboxError(f"The sandbox already runs with {option} {serving or 'unset'}; "
                                   f"stop it with `podreconcile sandbox down` first.")  # fmt: skip
        return current
    graphql = graphql or "live"
    network = network or ("emulated" if netem else "loopback")
    private_dir(home)
    (home / "server.json").unlink(missing_ok=True)
    log = open(home / "server.log", "ab")
    command = [sys.executable, "-m", "podreconcile.sandbox.daemon", str(home), str(port), str(boot_delay), graphql,
               network, netem or ""]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = running(home)
        if current:
            return current
        if process.poll() is not None:
            raise SandboxError(f"The sandbox failed to start; see {home / 'server.log'} (is port {port} free?).")
        time.sleep(0.05)
    process.kill()
    raise SandboxError(f"The sandbox did not answer within {timeout:.0f} s; see {home / 'server.log'}.")


def graphql_mode(home: Path) -> str:
    """How the sandbox serving from `home` answers GraphQL: live, or gone (410)."""
    return _server_info(home).get("graphql", "live")


def network_mode(home: Path) -> str:
    """Where the sandbox serving from `home` puts its pods: loopback, or emulated links."""
    return _server_info(home).get("network", "loopback")


def default_netem(home: Path) -> str:
    """The `--netem` settings the sandbox serving from `home` gives every new pod's link ("" for none)."""
    return _server_info(home).get("netem", "")


def _server_info(home: Path) -> dict:
    try:
        return json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return {}


def _check_network(network: str | None, netem: str | None) -> None:
    """Refuse a network mode this machine cannot run, or --netem settings that do not parse."""
    if network not in (None, *NETWORK_MODES):
        raise SandboxError(f"--network must be one of {', '.join(NETWORK_MODES)}, not {network!r}.")
    if netem is not None and network == "loopback":
        raise SandboxError("--netem shapes emulated links; the loopback is never shaped: use --network emulated.")
    if network != "emulated" and netem is None:
        return
    # Imported only here: plain `sandbox up` and the CLI's start-up need none of it.
    from . import links

    reason = links.unavailable_reason()
    if reason:
        raise SandboxError(f"--network emulated is not possible here: {reason}.")
    if netem is not None:
        try:
            links.parse_netem(netem)
        except links.LinkError as error:
            raise SandboxError(str(error)) from None


def down(home: Path, timeout: float = 15.0) -> bool:
    """Stop the sandbox and every pod it runs; False when it was not running."""
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return False
    pid = info["pid"]
    if not _alive(pid):
        (home / "server.json").unlink(missing_ok=True)
        return False
    try:
        admin(Running(pid, info["url"], info["api_key"]), "shutdown", {})
    except SandboxError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (home / "server.json").unlink(missing_ok=True)
    return True


def admin(current: Running, action: str, args: dict) -> dict:
    """Call an admin action of the running sandbox."""
    request = urllib.request.Request(
        f"{current.url}/_sandbox/{action}",
        data=json.dumps(args).encode(),
        headers={"Authorization": f"Bearer {current.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("error", error.reason)
        raise SandboxError(f"The sandbox refused {action}: {detail}.") from None
    except (OSError, http.client.HTTPException) as error:
        raise SandboxError(f"The sandbox did not answer ({error}); is it up? Run `podreconcile sandbox up`.") from None


def graphql(current: Running, query: str, variables: dict | None = None) -> dict:
    """A GraphQL call as the account owner (for `sandbox volume create`)."""
    request = urllib.request.Request(
        current.graphql_url,
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Authorization": f"Bearer {current.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 410:
            raise SandboxError("The sandbox's GraphQL API is gone (it was started with --graphql gone).") from None
        payload = json.loads(error.read() or b"{}")
    if payload.get("errors"):
        raise SandboxError(payload["errors"][0]["message"])
    return payload["data"]


def v2(current: Running, method: str, path: str, body: dict | None = None) -> dict | None:
    """A REST v2 call as the account owner (`path` like `/v2/pods`); the answer's JSON, None for 204.

    Raises SandboxError with the problem's detail for an error answer.
    """
    request = urllib.request.Request(
        f"{current.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {current.api_key}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
    except urllib.error.HTTPError as error:
        problem = json.loads(error.read() or b"{}")
        raise SandboxError(f"{method} {path}: {error.code} {problem.get('detail', error.reason)}") from None
    return json.loads(content) if content else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def serve(home: Path, port: int, boot_delay: float, graphql: str = "live", network: str = "loopback",
          netem: str = "") -> None:  # fmt: skip
    """The server process: listen, bring back running pods, serve until shut down."""
    from . import links
    from .lifecycle import Lifecycle
    from .podhost import PodHost
    from .s3 import service as s3_service
    from .server import Sandbox, make_server
    from .store import Store

    private_dir(home)
    store = Store(home)
    host = PodHost(home / "run")
    server = make_server(None, port)  # bind first: the pods need the URL
    url = f"http://127.0.0.1:{server.server_address[1]}"
    lifecycle = Lifecycle(store, host, f"{url}/graphql", boot_delay, network, links.parse_netem(netem))
    server.RequestHandlerClass.sandbox = Sandbox(store, lifecycle, graphql_gone=graphql == "gone")
    s3_server, s3_url = s3_service.start(store, home)
    # serve_forever runs in this thread, so a SIGTERM unwinds it with SystemExit (shutdown() would deadlock).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host.stop_all()  # containers left by a crashed server: their ports and keys are stale
    with store.lock:
        lifecycle.reboot_running()
        store.save()
    write_private(home / "server.json", json.dumps({
        "pid": os.getpid(), "url": url, "api_key": store.api_key, "graphql": graphql, "s3_url": s3_url,
        "network": network, "netem": netem}).encode())
    _watch_owner(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        lifecycle.shutdown()
        s3_server.shutdown()
        server.server_close()


def _watch_owner(server) -> None:
    owner = os.environ.get(OWNER_ENV)
    if not owner:
        return

    def watch() -> None:
        while _alive(int(owner)):
            time.sleep(1)
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:7])
