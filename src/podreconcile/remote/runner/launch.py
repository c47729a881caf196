"""launch.json (what apply asked for) and the run's files on the volume."""

from __future__ import annotations

import os

from .basics import read_json


class LaunchError(Exception):
    """launch.json is missing, unreadable or lacks a required field."""


class Launch:
    """What apply asked for (launch.json), with defaults for the optional fields."""

    REQUIRED = ("run_name", "mount", "code_path", "output_dir", "command")

    def __init__(self, path: str, data: dict):
        missing = [k for k in self.REQUIRED if not data.get(k)]
        if missing:
            raise LaunchError("%s lacks %s" % (path, ", ".join(missing)))
        self.path = os.path.abspath(path)
        self.run_name = str(data["run_name"])
        self.mount = str(data["mount"])
        self.code_path = str(data["code_path"])
        output_dir = str(data["output_dir"])
        self.output_dir = os.path.join(self.code_path, output_dir)  # no-op when absolute
        self.command = str(data["command"])
        self.resume_args = str(data.get("resume_args") or "--resume_from_checkpoint {checkpoint}")
        self.mode = str(data.get("mode") or "auto")
        if self.mode == "resume" and not data.get("checkpoint"):
            raise LaunchError("%s asks to resume but names no checkpoint" % path)
        self.checkpoint = str(data["checkpoint"]) if data.get("checkpoint") else None
        self.setup = data.get("setup") or None
        self.venv = data.get("venv") or None
        self._read_optional(data)

    def _read_optional(self, data: dict) -> None:
        """The fields beyond what to run: identity, limits, grace periods, the pod stop."""
        self.stop_pod_when_done = bool(data.get("stop_pod_when_done", True))
        self.max_runtime_s = float(data.get("max_runtime_s") or 0)
        self.revision = data.get("revision")
        # The API base apply used (v2 at <base>/v2, GraphQL at <base>/graphql); launch.json never holds a key.
        self.api_base_url = str(data.get("api_base_url") or "").rstrip("/") or None
        self.graphql_url_fallback = data.get("api_url_fallback") or None  # launch.json before api_base_url
        # How long a stop has to show in the pod's status before the next way is tried.
        self.stop_verify_s = float(data.get("stop_verify_s", 20))
        self.launch_id = str(data.get("launch_id") or "")
        self.kill_grace_s = float(data.get("kill_grace_s", 30))
        self.watchdog_grace_s = float(data.get("watchdog_grace_s", 60))
        # Before the stop cuts SSH, the followers (an attached apply, `logs --follow`) read the end: the runner
        # waits for them (followers.py), for the launching apply's own follower when it stays attached, never
        # longer than the cap.
        self.expect_follower = bool(data.get("expect_follower", False))
        self.follower_wait_cap_s = float(data.get("follower_wait_cap_s", 3))
        self.venv_system_site_packages = bool(data.get("venv_system_site_packages", True))
        # Names only: the values are in the pod's environment, never in launch.json.
        names = data.get("secret_env")
        self.secret_env = [str(n) for n in names] if isinstance(names, list) else []


def load_launch(path: str) -> Launch:
    data = read_json(path)
    if data is None:
        raise LaunchError("cannot read %s as a JSON object" % path)
    return Launch(path, data)


class RunPaths:
    """The binding volume layout (product.md) plus the runner's own files in the run dir."""

    def __init__(self, mount: str, run_name: str):
        self.run_dir = os.path.join(mount, ".podreconcile", "runs", run_name)
        self.lock = os.path.join(self.run_dir, "runner.lock")
        self.status = os.path.join(self.run_dir, "status.json")
        self.train_log = os.path.join(self.run_dir, "train.log")
        self.runner_log = os.path.join(self.run_dir, "runner.log")
        self.watchdog_pid = os.path.join(self.run_dir, "watchdog.pid")
        self.followers_lock = os.path.join(self.run_dir, "followers.lock")
        self.current_log = os.path.join(mount, "logs", "current.log")
