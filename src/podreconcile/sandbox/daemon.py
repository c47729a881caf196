"""Running the sandbox in the background: `up`, `down`, `status`, and the admin client.

`up` starts `python -m podreconcile.sandbox.daemon HOME PORT BOOT_DELAY` detached, waits until it
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


class SandboxError(Exception):
    """A sandbox command could not be done; the message says why and what to do."""


HOME_ENV = "PODRECONCILE_SANDBOX_HOME"
# When set, the sandbox shuts down (stopping its pods) once that process is gone: test suites set it so
# that a killed test run leaves no server, sshd or tmux behind.
OWNER_ENV = "PODRECONCILE_SANDBOX_OWNER_PID"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".podreconcile" / "sandbox")


@dataclass(frozen=True)
class Running:
    pid: int
    url: str
    api_key: str

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def exports(self) -> str:
        return (
            f"export RUNPOD_API_BASE_URL={shlex.quote(self.url)}\n"
            f"export RUNPOD_API_KEY={shlex.quote(self.api_key)}"
        )


def running(home: Path) -> Running | None:
    """The sandbox serving from `home`, if its process is alive and answers."""
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    current = Running(info["pid"], info["url"], info["api_key"])
    if not _alive(current.pid) or not _healthy(current.url):
        return None
    return current


def up(home: Path, port: int = 0, boot_delay: float = 2.0, timeout: float = 20.0) -> Running:
    """Start the sandbox unless it already runs; return how to reach it."""
    current = running(home)
    if current:
        return current
    private_dir(home)
    (home / "server.json").unlink(missing_ok=True)
    log = open(home / "server.log", "ab")
    command = [sys.executable, "-m", "podreconcile.sandbox.daemon", str(home), str(port), str(boot_delay)]
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
        payload = json.loads(error.read() or b"{}")
    if payload.get("errors"):
        raise SandboxError(payload["errors"][0]["message"])
    return payload["data"]


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


def serve(home: Path, port: int, boot_delay: float) -> None:
    """The server process: listen, bring back running pods, serve until shut down."""
    from .lifecycle import Lifecycle
    from .podhost import PodHost
    from .server import Sandbox, make_server
    from .store import Store

    private_dir(home)
    store = Store(home)
    host = PodHost(home / "run")
    server = make_server(None, port)  # bind first: the pods need the URL
    url = f"http://127.0.0.1:{server.server_address[1]}"
    lifecycle = Lifecycle(store, host, f"{url}/graphql", boot_delay)
    server.RequestHandlerClass.sandbox = Sandbox(store, lifecycle)
    # serve_forever runs in this thread, so a SIGTERM unwinds it with SystemExit (shutdown() would deadlock).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host.stop_all()  # containers left by a crashed server: their ports and keys are stale
    with store.lock:
        lifecycle.reboot_running()
        store.save()
    write_private(home / "server.json", json.dumps({"pid": os.getpid(), "url": url, "api_key": store.api_key}).encode())
    _watch_owner(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        lifecycle.shutdown()
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
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
