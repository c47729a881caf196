"""A user's project for end-to-end tests: the tiny example in its own git repo, aimed at the sandbox.

Tests drive `podreconcile` as a subprocess, exactly as a user types it, and look at reality through
the sandbox's API and the real files of pod volumes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from podreconcile.sandbox import daemon
from tests.s3_helpers import s3_exports

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny"
POD_FIELDS = "id name desiredStatus lastStatusChange networkVolumeId machine { gpuTypeId }"


# Python leaking into what a user reads: a None, a bool, a repr or a traceback (issue 12).
PYTHON_WORDING = re.compile(r"\b(None|True|False)\b|Traceback \(most recent call last\)|<[\w.]+ object at 0x|PosixPath\(")


def assert_no_python(args, output: str) -> None:
    """Every output of every e2e `podreconcile` run is scanned: the wording is for people (`--debug`
    asks for the Python traceback, so its runs are not)."""
    if "--debug" in args:
        return
    for line in output.splitlines():
        found = PYTHON_WORDING.search(line)
        assert found is None, f"`podreconcile {' '.join(args)}` printed Python ({found.group(0)!r}): {line!r}"


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        tree = tree[key]
    tree[last] = value


class UserProject:
    def __init__(self, root: Path, sandbox, ssh_key: Path) -> None:
        self.root = root
        self.sandbox = sandbox
        self.ssh_key = ssh_key
        self.extra_env: dict[str, str] = {}

    def use_s3(self, on: bool = True) -> None:
        """Give the CLI the S3 key pair and endpoint `sandbox up` exports (or take them away)."""
        self.extra_env = s3_exports(self.sandbox.running) if on else {}

    # ---- editing ----

    def edit(self, path: str, **changes) -> None:
        """Set dotted keys (`pod__env` style: `__` for `.`) in a YAML file of the project, keeping comments."""
        yaml = YAML()
        file = self.root / path
        tree = yaml.load(file.read_text())
        for key, value in changes.items():
            _set(tree, key.replace("__", "."), value)
        with open(file, "w") as f:
            yaml.dump(tree, f)
        self.commit()

    def commit(self) -> None:
        git = ["git", "-C", str(self.root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-qm", "change", "--allow-empty"], check=True)

    # ---- running the CLI ----

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **self.sandbox.env, **self.extra_env, **extra}
        if not self.extra_env:  # keys from the developer's shell must not turn S3 on behind a test's back
            for name in ("RUNPOD_S3_ACCESS_KEY", "RUNPOD_S3_SECRET_KEY", "RUNPOD_S3_ENDPOINT_URL"):
                env.pop(name, None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        return env

    def cli(self, *args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(["podreconcile", *args], cwd=self.root, env=env or self.env(),
                                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert_no_python(args, result.stdout + result.stderr)
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(["podreconcile", *args], cwd=self.root, env=self.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    # ---- reality ----

    def state_path(self, spec: str = "podspec.yaml") -> Path:
        """The spec's state file: `.podreconcile/<name>/state.json`."""
        return self.root / ".podreconcile" / self.spec_name(spec) / "state.json"

    def read_state(self, spec: str = "podspec.yaml") -> dict:
        path = self.state_path(spec)
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def state(self) -> dict:
        return self.read_state()

    def spec_name(self, spec: str = "podspec.yaml") -> str:
        return YAML(typ="safe").load((self.root / spec).read_text())["name"]

    @property
    def name(self) -> str:
        return self.spec_name()

    def all_pods(self) -> list[dict]:
        """Every live pod of the sandbox account, whatever its name (GraphQL's shape, read over v2 once it is gone)."""
        if self.sandbox.gone:
            return [_graphql_shape(p) for p in daemon.v2(self.sandbox.running, "GET", "/v2/pods")["pods"]]
        query = f"{{ myself {{ pods {{ {POD_FIELDS} }} }} }}"
        return daemon.graphql(self.sandbox.running, query)["myself"]["pods"]

    def v2_pod(self) -> dict:
        """Our pod as REST v2 shows it."""
        return daemon.v2(self.sandbox.running, "GET", f"/v2/pods/{self.pod()['id']}")

    def pods(self, spec: str = "podspec.yaml") -> list[dict]:
        """Live pods named after this project's spec (or another spec file of the folder)."""
        return [p for p in self.all_pods() if p["name"] == f"podreconcile-{self.spec_name(spec)}"]

    def pod_by_id(self, pod_id: str) -> dict | None:
        return next((p for p in self.all_pods() if p["id"] == pod_id), None)

    def pod(self) -> dict:
        (pod,) = self.pods()
        return pod

    def volume(self) -> Path:
        pod = self.pod()
        if pod["networkVolumeId"]:
            return self.sandbox.home / "volumes" / pod["networkVolumeId"]
        return self.sandbox.home / "pods" / pod["id"] / "volume"

    def current_log(self) -> str:
        return (self.volume() / "logs" / "current.log").read_text()

    def train_log(self) -> str:
        return (self.volume() / ".podreconcile" / "runs" / "tiny_run" / "train.log").read_text()

    def status(self) -> dict:
        return json.loads((self.volume() / ".podreconcile" / "runs" / "tiny_run" / "status.json").read_text())

    def checkpoints(self) -> Path:
        return self.volume() / "tiny" / "outputs" / "tiny_run"

    def destroy(self) -> None:
        """Terminate the pods of every spec in the folder, and those their state files name (renamed ones)."""
        names = {f"podreconcile-{self.spec_name(spec.name)}" for spec in self.root.glob("*.yaml") if _is_spec(spec)}
        recorded = {json.loads(p.read_text()).get("pod_id") for p in self.root.glob(".podreconcile/*/state.json")}
        for pod in self.all_pods():
            if pod["name"] in names or pod["id"] in recorded:
                if self.sandbox.gone:
                    daemon.v2(self.sandbox.running, "DELETE", f"/v2/pods/{pod['id']}")
                else:
                    daemon.graphql(self.sandbox.running, f'mutation {{ podTerminate(input: {{podId: "{pod["id"]}"}}) }}')


def _graphql_shape(pod: dict) -> dict:
    """A v2 pod as the fields the tests read from GraphQL (desiredStatus: RUNNING while it starts)."""
    network = (pod.get("mounts") or {}).get("network") or []
    return {"id": pod["id"], "name": pod["name"], "desiredStatus": "EXITED" if pod["status"] == "EXITED" else "RUNNING",
            "networkVolumeId": network[0]["volumeId"] if network else None,
            "machine": {"gpuTypeId": (pod.get("gpu") or {}).get("id")}}


def _is_spec(path: Path) -> bool:
    try:
        tree = YAML(typ="safe").load(path.read_text())
    except (OSError, YAMLError):
        return False
    return isinstance(tree, dict) and "name" in tree and "pod" in tree


@pytest.fixture
def project(tmp_path, sandbox, ssh_key, request):
    """A fresh copy of examples/tiny with a unique spec name, its own git repo and .runpod.env."""
    user = _project(tmp_path, sandbox, ssh_key, request)
    yield user
    user.destroy()


@pytest.fixture
def project_gone(tmp_path, sandbox_gone, ssh_key, request):
    """The same, against the session sandbox whose GraphQL API is gone (REST v2 only)."""
    user = _project(tmp_path, sandbox_gone, ssh_key, request)
    yield user
    user.destroy()


def _project(tmp_path, sandbox, ssh_key, request) -> UserProject:
    root = tmp_path / "proj"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".podreconcile", ".runpod.env", "__pycache__"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text(".runpod.env\n.podreconcile/\n")
    (root / ".runpod.env").write_text(f"SSH_KEY_PATH={ssh_key}\n")
    user = UserProject(root, sandbox, ssh_key)
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
    user.edit("podspec.yaml", name=name)
    return user
