"""Issue 4's everyday commands, end to end: status, logs, stop, destroy, sync-data, tensorboard, init."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from podreconcile.core.spec import load_settings, load_spec
from podreconcile.core.spec.reference import podspec_schema
from tests.e2e.test_apply import wait_for_line
from tests.helpers import ssh_run, wait_for_ssh_port, wait_until

pytestmark = pytest.mark.e2e


def start_long_training(project, steps: int = 400) -> None:
    project.edit("configs/tiny.yaml", max_steps=steps, step_seconds=0.1)
    result = project.cli("apply", "--yes", "--detach")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: (project.checkpoints() / "checkpoint-10" / "trainer_state.json").exists(), timeout=30)


def test_status_logs_stop_destroy(project):
    start_long_training(project)
    status = json.loads(project.cli("status", "--json").stdout)
    assert status["pod"]["state"] == "RUNNING" and status["pod"]["ssh"].startswith(f"ssh -i {project.ssh_key} -p ")
    assert status["run"]["state"] == "running" and status["run"]["alive"] and status["run"]["attempt"] == 1
    assert status["run"]["latest_checkpoint"].startswith("checkpoint-")
    assert status["plan"]["actions"] == []
    human = project.cli("status").stdout
    assert "latest complete checkpoint: checkpoint-" in human and "Plan  nothing to do" in human

    tail = project.cli("logs", "--tail", "3")
    assert tail.returncode == 0 and len(tail.stdout.splitlines()) == 3
    assert "=== podreconcile run tiny_run attempt 1" in project.cli("logs").stdout

    stopped = project.cli("stop")
    assert stopped.returncode == 0 and "Stopped pod" in stopped.stdout
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    refused = project.cli("logs")
    assert refused.returncode == 1 and "logs --start" in refused.stderr and "Traceback" not in refused.stderr
    started = project.cli("logs", "--start", "--tail", "2")
    assert started.returncode == 0 and started.stdout.strip()
    assert project.pod()["desiredStatus"] == "EXITED", "logs --start leaves the pod stopped"

    pod_id = project.pod()["id"]
    assert project.cli("destroy").returncode == 1, "no terminal and no --yes: refused"
    destroyed = project.cli("destroy", "--yes")
    assert destroyed.returncode == 0 and f"Terminated pod {pod_id}" in destroyed.stdout
    assert project.pods() == [] and not project.state_path().exists()
    gone = project.cli("stop")
    assert gone.returncode == 1 and "apply` creates it" in gone.stderr


def test_destroy_keeps_the_network_volume_and_says_so(project, sandbox):
    volume = sandbox.cli("volume", "create", "keep", "--size-gb", "1").stdout.strip()
    project.edit("podspec.yaml", pod__network_volume=volume, pod__volume_gb=None)
    assert project.cli("apply", "--yes").returncode == 0
    result = project.cli("destroy", "--yes")
    assert result.returncode == 0 and f"Network volume {volume} is kept" in result.stdout
    assert (sandbox.home / "volumes" / volume / "tiny" / "outputs" / "tiny_run").is_dir()


def test_sync_data_leaves_the_pod_as_it_found_it(project):
    assert project.cli("apply", "--yes").returncode == 0
    wait_until(lambda: project.pod()["desiredStatus"] == "EXITED")
    (project.root / "data" / "tiny.txt").write_text("new data\n" * 10)
    result = project.cli("sync-data")
    assert result.returncode == 0, result.stderr
    assert "uploading 1 of 1 file(s)" in result.stderr and "stop pod: leaving the pod stopped" in result.stderr
    assert project.pod()["desiredStatus"] == "EXITED"
    assert (project.volume() / "data" / "tiny.txt").read_text() == "new data\n" * 10
    again = project.cli("sync-data")
    assert again.returncode == 0 and "nothing to upload" in again.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAKE_TENSORBOARD = r"""#!/usr/bin/python3
import http.server, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("fake TensorBoard of " + args["--logdir"]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer((args["--host"], int(args["--port"])), Page).serve_forever()
"""


def test_tensorboard_tunnel(project, sdk):
    start_long_training(project)
    port = wait_for_ssh_port(sdk, project.pod()["id"])
    install = f"cat > /usr/local/bin/tensorboard <<'EOF'\n{FAKE_TENSORBOARD}EOF\nchmod +x /usr/local/bin/tensorboard"
    assert ssh_run(port, project.ssh_key, install)[0] == 0
    local = free_port()
    tunnel = project.popen("tensorboard", "--port", str(local))
    wait_for_line(tunnel.stdout, f"http://127.0.0.1:{local}/")

    def get(_):
        deadline_tries = 50
        for _ in range(deadline_tries):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                time.sleep(0.1)
        raise AssertionError("no answer through the tunnel")

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(get, range(16)))
    assert all(page == "fake TensorBoard of /workspace/tiny/logs/tiny_run" for page in pages)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = project.cli("tensorboard", "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and "port" in busy.stderr and "Traceback" not in busy.stderr
    tunnel.send_signal(signal.SIGINT)
    tunnel.communicate(timeout=20)
    assert tunnel.returncode == 0
    assert ssh_run(port, project.ssh_key, "tmux has-session -t tb && tmux has-session -t train && echo both")[1] == "both\n"


def test_init_writes_a_spec_and_gitignore_lines_once(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text("output_dir: outputs/base\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n.runpod.env")
    podreconcile = [sys.executable, "-m", "podreconcile"]
    first = subprocess.run(podreconcile + ["init"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.runpod.env\n.podreconcile/\n"
    spec_text = (tmp_path / "podspec.yaml").read_text()
    assert spec_text.splitlines()[0] == "# yaml-language-server: $schema=./podspec.schema.json"
    assert json.loads((tmp_path / "podspec.schema.json").read_text()) == podspec_schema()
    (tmp_path / "podspec.yaml").write_text(spec_text + "# my edit\n")
    (tmp_path / "podspec.schema.json").write_text("{}")  # generated: a later init rewrites it
    second = subprocess.run(podreconcile + ["init"], cwd=tmp_path, capture_output=True, text=True)
    assert second.returncode == 0 and "left as it is" in second.stdout
    assert (tmp_path / ".gitignore").read_text().count(".podreconcile/") == 1
    assert (tmp_path / "podspec.yaml").read_text().endswith("# my edit\n")
    assert json.loads((tmp_path / "podspec.schema.json").read_text()) == podspec_schema()
    spec = load_spec(tmp_path / "podspec.yaml", load_settings(tmp_path, {}))
    assert spec.run.config == "configs/base.yaml" and spec.name == tmp_path.name.lower().replace("_", "-")[:51].strip("-")
    assert (tmp_path / ".runpod.env.example").read_text().startswith("# Copy to .runpod.env")


def test_every_command_has_help_with_an_example():
    for command in ("plan", "apply", "status", "logs", "stop", "destroy", "sync-data", "tensorboard", "init"):
        result = subprocess.run([sys.executable, "-m", "podreconcile", command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Example: podreconcile" in result.stdout, command
