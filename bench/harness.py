"""A throwaway sandbox, a user's project in it, and the ways the benchmarks time things.

Every benchmark module has `run(ctx) -> list[Row]`; `python -m bench NAME` runs one, `bench/run` all.
The sandbox lives in a temporary folder and is torn down at the end; nothing here touches ~/.podreconcile.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from podreconcile.sandbox import daemon

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tiny"
BASELINE = Path(__file__).resolve().parent / "baseline"
BOOT_DELAY = 1.0


def network_emulation_available() -> bool:
    """Whether this tree's sandbox can put pods behind an emulated link (`sandbox up --network emulated`)."""
    return "network" in inspect.signature(daemon.up).parameters


@dataclass
class Context:
    home: Path
    tmp: Path
    running: daemon.Running
    key: Path
    runs: int
    latency: float  # seconds of round trip asked for; applied only when the sandbox can emulate it
    quick: bool
    full: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RUNPOD_API_BASE_URL=self.running.url, RUNPOD_API_KEY=self.running.api_key,
                   PODRECONCILE_SANDBOX_HOME=str(self.home), BENCH_KEY=str(self.key))
        for line in self.running.s3_exports:
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'\"")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        env["PYTHONPATH"] = str(ROOT / "src")
        # As installed: pip compiles every module at install; without .pyc each run would compile its sources.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def calls(self) -> dict:
        return daemon.admin(self.running, "calls", {})

    def pod_log(self, pod_id: str) -> str:
        path = self.home / "run" / pod_id / "pod.log"  # pod_init's and sshd's output
        return path.read_text(errors="replace") if path.exists() else ""

    def pod_volume(self, pod_id: str) -> Path:
        return self.home / "pods" / pod_id / "volume"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return daemon.graphql(self.running, query, variables)

    def pod(self, pod_id: str) -> dict:
        return self.graphql(f'{{ pod(input: {{podId: "{pod_id}"}}) {{ id desiredStatus runtime {{ ports '
                            '{ ip publicPort privatePort } } } }')["pod"]

    def ssh_endpoint(self, pod_id: str) -> tuple[str, int] | None:
        runtime = self.pod(pod_id).get("runtime") or {}
        return next(((p["ip"], p["publicPort"]) for p in runtime.get("ports") or [] if p["privatePort"] == 22), None)

    def ssh_port(self, pod_id: str) -> int | None:
        endpoint = self.ssh_endpoint(pod_id)
        return endpoint[1] if endpoint else None

    def ssh_env(self, pod_id: str) -> dict[str, str]:
        """What the baselines need to reach the pod: HOST, PORT and KEY."""
        host, port = wait_until(lambda: self.ssh_endpoint(pod_id))
        return {**self.env, "HOST": host, "PORT": str(port), "KEY": str(self.key)}

    def shape(self, pod_id: str) -> None:
        """Put the pod behind the emulated link (half the round trip each way), when one was asked for.

        The sandbox already gives every link this delay at each boot (`sandbox()`); this says so again
        for the running pod, and fails loudly if its link cannot be shaped."""
        if self.latency:
            subprocess.run(["podreconcile", "sandbox", "link", pod_id, "--delay", one_way(self.latency), "--home",
                            str(self.home)],
                           env=self.env, check=True, capture_output=True)


def one_way(latency: float) -> str:
    return f"{latency * 1000 / 2:g}ms"


@contextlib.contextmanager
def sandbox(runs: int, latency: float = 0.0, quick: bool = False, full: bool = False, boot_delay: float = BOOT_DELAY):
    with tempfile.TemporaryDirectory(prefix="podreconcile-bench-") as tmp:
        tmp = Path(tmp)
        compiled(ROOT / "src")
        key = tmp / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        home = tmp / "sandbox"
        # Every boot opens a pod's link afresh with the sandbox's settings (a `sandbox link` lasts until the
        # pod stops): the delay is the sandbox's, so a pod that apply starts again is still behind it.
        kwargs = ({"network": "emulated", "netem": f"delay {one_way(latency)}"}
                  if latency and network_emulation_available() else {})
        running = daemon.up(home, boot_delay=boot_delay, **kwargs)
        try:
            query = "mutation Key($k: String) { updateUserSettings(input: {pubKey: $k}) { id } }"
            daemon.graphql(running, query, {"k": key.with_suffix(".pub").read_text().strip()})
            yield Context(home, tmp, running, key, runs, latency, quick, full)
        finally:
            daemon.down(home)


class Project:
    """A copy of examples/tiny in its own git repo, aimed at the sandbox, driven through the CLI."""

    def __init__(self, ctx: Context, name: str, **spec_changes) -> None:
        self.ctx = ctx
        self.root = ctx.tmp / name
        shutil.copytree(EXAMPLE, self.root, ignore=shutil.ignore_patterns(".podreconcile", ".runpod.env", "__pycache__"))
        (self.root / ".gitignore").write_text(".runpod.env\n.podreconcile/\n")
        (self.root / ".runpod.env").write_text(f"SSH_KEY_PATH={ctx.key}\n")
        subprocess.run(["git", "init", "-q", str(self.root)], check=True)
        self.edit("podspec.yaml", name=name, **spec_changes)

    def edit(self, path: str, **changes) -> None:
        yaml = YAML()
        file = self.root / path
        tree = yaml.load(file.read_text())
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = tree
            for part in parents:
                node = node[part]
            node[last] = value
        with open(file, "w") as f:
            yaml.dump(tree, f)
        self.commit()

    def commit(self) -> None:
        git = ["git", "-C", str(self.root), "-c", "user.email=b@example.com", "-c", "user.name=b"]
        subprocess.run(git + ["add", "-A"], check=True, capture_output=True)
        subprocess.run(git + ["commit", "-qm", "bench", "--allow-empty"], check=True)

    def cli(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["podreconcile", *args], cwd=self.root, env=self.ctx.env, capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode not in (0, 2):
            raise RuntimeError(f"podreconcile {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    @property
    def state(self) -> dict:
        path = next(self.root.glob(".podreconcile/*/state.json"), None)
        return json.loads(path.read_text()) if path else {}

    @property
    def pod_id(self) -> str:
        return self.state["pod_id"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sh(command: list[str], ctx: Context, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=ctx.env, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def wait_until(condition, seconds: float = 120, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("gave up waiting")


def before_tree(ctx: Context, rev: str | None) -> Path | None:
    """The `src` of revision REV, unpacked once, to measure the code before a change in the same run."""
    if not rev:
        return None
    target = ctx.tmp / f"before-{rev}"
    if not target.exists():
        target.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        compiled(target / "src")
    return target / "src"


def compiled(src: Path) -> None:
    """Byte-compile a tree, as pip does at install, so no measured run pays for compiling sources."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL)


def variants(ctx: Context, before: Path | None) -> list[tuple[str, dict]]:
    """(label, environment) of the podreconcile trees to measure: this one, and the one before if asked."""
    found = [("podreconcile", ctx.env)]
    if before:
        found.append(("podreconcile before", {**ctx.env, "PYTHONPATH": str(before)}))
    return found


def run_timed(command: list, env: dict, cwd: Path, check: bool = True) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=600)
    elapsed = time.perf_counter() - start
    if check and result.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(map(str, command))} exited {result.returncode}: {result.stderr[-2000:]}")
    return elapsed
