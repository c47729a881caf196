"""The pod-side runner and probe, run locally: a temp folder plays the pod's volume.

A fake `runpodctl` first on PATH records its calls and marks the pod stopped; a stub server plays
RunPod's v2 and GraphQL APIs for the pod's key (tests/runpod_api_stub.py), where the runner checks the stop;
PODRECONCILE_PID1_ENVIRON feeds the pod's environment (what /proc/1/environ holds on a pod). Every
process a test starts is killed at teardown (found by its command line or working folder).
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podreconcile import remote
from podreconcile.core.run_observation import RunState, parse_probe
from podreconcile.remote import runner_archive
from podreconcile.remote.runner import checkpoints, redact, venv_setup
from podreconcile.remote.runner import launch as launch_json
from tests.helpers import lock_free
from tests.runpod_api_stub import PodApiStub

REMOTE = Path(remote.__file__).parent
RUNNER_SOURCES = sorted((REMOTE / "runner").glob("*.py"))
PROBE = REMOTE / "probe.py"
FOLLOW_HOLD = REMOTE / "follow_hold.py"
TINY = Path(__file__).resolve().parents[2] / "examples" / "tiny"
# The pod's python3; set it to e.g. python3.8 to check the stdlib-only files on an old interpreter.
POD_PYTHON = os.environ.get("PODRECONCILE_TEST_POD_PYTHON", sys.executable)
API_KEY = "rpa_TESTKEY_0123456789abcdef"
POD_ID = "pod-test-1"
RUN = "tiny_run"
HEADER_RE = re.compile(r"^=== podreconcile run (\S+) attempt (\d+) at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ): (.+) ===$")


class FakePod:
    """A pod's volume in a temp folder, with the tiny example as the synced code."""

    def __init__(self, root: Path):
        self.root = root
        self.mount = root / "pod volume"  # a space: every path we add to a command must be quoted
        self.code = self.mount / "tiny"
        self.run_dir = self.mount / ".podreconcile" / "runs" / RUN
        self.bin = root / "bin"
        self.home = root / "home"
        self.calls = root / "runpodctl-calls.txt"
        self.stopped_marker = root / "runpodctl-stopped"
        self.api = PodApiStub(POD_ID, API_KEY, self.stopped_marker)
        self.pid1 = root / "pid1-environ"
        self.runner = self.mount / ".podreconcile" / "bin" / "runner.pyz"
        for folder in (self.code, self.run_dir, self.bin, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(TINY / "scripts", self.code / "scripts")
        shutil.copy(TINY / "requirements.txt", self.code / "requirements.txt")
        (self.code / "configs").mkdir()
        self.write_config()
        (self.code / ".podreconcile-revision").write_text("rev-abc123\n")
        self.fake_runpodctl(exit_code=0)
        self.set_pod_env()
        self.runner.parent.mkdir(parents=True)
        self.runner.write_bytes(runner_archive())  # as apply uploads it

    # -- setup helpers

    def write_config(self, **values) -> None:
        config = {"output_dir": "outputs/tiny_run", "max_steps": 30, "save_steps": 10,
                  "step_seconds": 0.005, "logging_steps": 5, "logging_dir": "logs/tiny_run"}
        config.update(values)
        text = "".join("%s: %s\n" % (k, v) for k, v in config.items())
        (self.code / "configs" / "test.yaml").write_text(text)

    def fake_runpodctl(self, exit_code: int) -> None:
        script = self.bin / "runpodctl"
        script.write_text(
            "#!/bin/sh\n"
            'if [ "$RUNPOD_API_KEY" = %s ]; then key=ok; else key=missing; fi\n'
            'printf "%%s key=%%s\\n" "$*" "$key" >> %s\n'
            "%s"
            "exit %d\n" % (shlex.quote(API_KEY), shlex.quote(str(self.calls)),
                           "touch %s\n" % shlex.quote(str(self.stopped_marker)) if exit_code == 0 else "", exit_code))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def set_pod_env(self, **extra) -> None:
        env = {"RUNPOD_POD_ID": POD_ID, "RUNPOD_API_KEY": API_KEY, "HF_HOME": "/workspace/hf-cache"}
        env.update(extra)
        self.pid1.write_bytes(b"".join(("%s=%s" % kv).encode() + b"\0" for kv in env.items()))

    def launch(self, **overrides) -> Path:
        data = {
            "run_name": RUN, "mount": str(self.mount), "code_path": str(self.code),
            "output_dir": str(self.code / "outputs" / "tiny_run"),
            "command": "%s scripts/train.py --config configs/test.yaml" % shlex.quote(POD_PYTHON),
            "resume_args": "--resume_from_checkpoint {checkpoint}", "mode": "auto",
            "setup": None, "venv": None, "stop_pod_when_done": True, "max_runtime_s": 3600,
            "revision": "rev-abc123", "api_base_url": self.api.base, "launch_id": "launch-1",
            "stop_verify_s": 2,
            "kill_grace_s": 2,
        }
        data.update(overrides)
        path = self.run_dir / "launch.json"
        path.write_text(json.dumps(data))
        return path

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "PODRECONCILE_"))}
        env.update(PATH="%s:%s" % (self.bin, os.environ["PATH"]), HOME=str(self.home),
                   PODRECONCILE_PID1_ENVIRON=str(self.pid1))
        return env

    # -- running

    def start(self, launch: Path) -> subprocess.Popen:
        out = open(self.root / "runner-pane.txt", "ab")
        return subprocess.Popen([POD_PYTHON, str(self.runner), str(launch)], env=self.env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def run(self, launch: Path, timeout: float = 20) -> int:
        return self.start(launch).wait(timeout=timeout)

    def follow(self, launch_id: str = "") -> subprocess.Popen:
        """A follower as `podreconcile logs -f` runs on the pod: the log's tail under follow_hold.py."""
        lock = self.run_dir / "followers.lock"
        command = [POD_PYTHON, "-c", FOLLOW_HOLD.read_text(), str(lock), launch_id,
                   "tail", "-n", "+1", "-F", str(self.mount / "logs" / "current.log")]
        follower = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_for(lambda: not lock_free(lock, create=True), what="the follower's lock")
        return follower

    def probe(self) -> str:
        args = [str(self.mount), RUN, str(self.code / "outputs" / "tiny_run"), str(self.code)]
        done = subprocess.run([POD_PYTHON, "-", *args], input=PROBE.read_bytes(), capture_output=True,
                              env=self.env(), timeout=20, check=True)
        return done.stdout.decode()

    # -- reading

    def status(self) -> dict:
        return json.loads((self.run_dir / "status.json").read_text())

    def train_log(self) -> str:
        return (self.run_dir / "train.log").read_text()

    def current_log(self) -> str:
        return (self.mount / "logs" / "current.log").read_text()

    def stop_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def checkpoint(self, step: int, complete: bool = True) -> None:
        folder = self.code / "outputs" / "tiny_run" / ("checkpoint-%d" % step)
        folder.mkdir(parents=True)
        (folder / "model.json").write_text("{}")
        if complete:
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))

    def wait_for(self, predicate, timeout: float = 10, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except (FileNotFoundError, ValueError):
                pass  # not written yet
            time.sleep(0.02)
        raise AssertionError("timed out waiting for %s; pane:\n%s" % (
            what, (self.root / "runner-pane.txt").read_text(errors="replace")))




def _processes_under(root: Path) -> list[int]:
    """PIDs whose command line or working folder lies under `root`: the ones this test started."""
    found, mark = [], str(root).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
            cwd = os.readlink("/proc/%s/cwd" % entry).encode()
        except OSError:
            continue
        if mark in cmdline or cwd.startswith(mark):
            found.append(int(entry))
    return found


@pytest.fixture
def pod(tmp_path):
    fake = FakePod(tmp_path)
    yield fake
    fake.api.close()
    for pid in _processes_under(tmp_path):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def headers(text: str) -> list[re.Match]:
    return [m for m in map(HEADER_RE.match, text.splitlines()) if m]


# ------------------------------------------------------------------------------------------ tests


def test_fresh_run_succeeds_logs_and_stops_the_pod(pod):
    assert pod.run(pod.launch()) == 0

    status = pod.status()
    assert status["run"] == RUN and status["state"] == "succeeded" and status["exit_code"] == 0
    assert status["attempt"] == 1 and status["resumed_from"] is None and status["start"] == "fresh"
    assert status["revision"] == "rev-abc123" and status["launch_id"] == "launch-1"
    assert status["mode"] == "auto" and isinstance(status["pid"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["started_at"])
    assert status["ended_at"] >= status["started_at"] and status["pod_stop"] == "runpodctl"
    assert status["stop_wait"] == {"followers": "none", "waited_s": 0.0}  # nobody followed: no wait

    log = pod.train_log()
    (first,) = headers(log)
    assert first.group(1, 2, 4) == (RUN, "1", "fresh")
    assert "step 30 loss" in log and last_line(log) == "EXIT_CODE=0"
    assert pod.current_log() == log  # one attempt: both logs hold the same
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]
    assert all((pod.code / "outputs/tiny_run" / ("checkpoint-%d" % n) / "trainer_state.json").exists()
               for n in (10, 20, 30))


def test_resume_picks_the_numeric_latest_and_skips_incomplete(pod):
    for step, complete in ((3, True), (20, True), (30, False)):
        pod.checkpoint(step, complete)
    (pod.run_dir / "status.json").write_text(json.dumps({"run": RUN, "state": "failed", "attempt": 2}))
    (pod.run_dir / "train.log").write_text("old attempt\nEXIT_CODE=1\n")

    assert pod.run(pod.launch()) == 0

    log = pod.train_log()
    header = headers(log)[-1]
    assert header.group(2, 4) == ("3", "resume from checkpoint-20")
    assert "skipped incomplete checkpoint(s) (no trainer_state.json): checkpoint-30" in log
    resumed = str(pod.code / "outputs/tiny_run/checkpoint-20")
    assert "tiny: resuming from %s at step 20" % resumed in log  # the path with a space arrived whole
    assert "step 21 loss" in log and "step 20 loss" not in log
    assert log.startswith("old attempt\nEXIT_CODE=1\n")  # train.log is appended
    assert headers(pod.current_log())[0].group(2) == "3"  # current.log: this attempt only
    status = pod.status()
    assert (status["attempt"], status["resumed_from"], status["start"]) == (3, "checkpoint-20", "resume")
    assert status["skipped_checkpoints"] == ["checkpoint-30"]


def test_a_save_cut_short_is_skipped_by_the_next_attempt(pod):
    pod.set_pod_env(TINY_CUT_SAVE_AT_STEP="20")
    assert pod.run(pod.launch()) == 137  # SIGKILL halfway through saving checkpoint-20
    assert pod.status()["state"] == "failed"

    pod.set_pod_env()
    assert pod.run(pod.launch(launch_id="launch-2")) == 0

    log = pod.current_log()
    assert headers(log)[0].group(2, 4) == ("2", "resume from checkpoint-10")
    assert "skipped incomplete checkpoint(s) (no trainer_state.json): checkpoint-20" in log
    assert (pod.code / "outputs/tiny_run/checkpoint-20/trainer_state.json").exists()  # saved again
    assert pod.status()["state"] == "succeeded"


def test_force_restart_ignores_checkpoints(pod):
    pod.checkpoint(20)

    assert pod.run(pod.launch(mode="force_restart")) == 0

    log = pod.train_log()
    assert headers(log)[0].group(4) == "FORCE RESTART: checkpoints ignored"
    assert "tiny: starting fresh" in log and "step 1 loss" in log
    assert pod.status()["resumed_from"] is None and pod.status()["mode"] == "force_restart"


def test_failing_training_records_the_code_and_stops_the_pod(pod):
    pod.set_pod_env(TINY_FAIL_AT_STEP="5")  # pod env reaches the training through PID 1's environ

    assert pod.run(pod.launch()) == 1

    assert last_line(pod.train_log()) == "EXIT_CODE=1" and last_line(pod.current_log()) == "EXIT_CODE=1"
    status = pod.status()
    assert (status["state"], status["exit_code"], status["stopped_reason"]) == ("failed", 1, "training_failed")
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]


def test_setup_failure_skips_training_and_stops_the_pod(pod):
    assert pod.run(pod.launch(setup="echo installing; exit 3")) == 3

    log = pod.train_log()
    assert "installing" in log and "tiny:" not in log and last_line(log) == "EXIT_CODE=3"
    status = pod.status()
    assert (status["state"], status["exit_code"], status["stopped_reason"]) == ("failed", 3, "setup_failed")
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]


def test_venv_and_setup_rerun_only_when_requirements_change(pod):
    venv = pod.mount / "venv"
    launch = pod.launch(
        venv=str(venv), stop_pod_when_done=False,
        setup='echo "setup in $VIRTUAL_ENV" >> setup-runs.txt && cat requirements.txt',
        command='python -c "import sys; print(\'prefix=\' + sys.prefix)"')
    runs = pod.code / "setup-runs.txt"

    assert pod.run(launch, timeout=60) == 0
    assert runs.read_text() == "setup in %s\n" % venv
    assert "prefix=%s" % venv in pod.train_log()  # the venv's bin is first on PATH

    assert pod.run(launch) == 0
    assert runs.read_text().count("setup in") == 1
    assert "venv %s reused" % venv in pod.current_log() and "setup skipped" in pod.current_log()

    (pod.code / "requirements.txt").write_text("# changed\n")
    assert pod.run(launch) == 0
    assert runs.read_text().count("setup in") == 2 and "# changed" in pod.current_log()
    assert pod.stop_calls() == []  # stop_pod_when_done: false


def test_a_second_runner_exits_at_once_while_the_lock_is_held(pod):
    with open(pod.run_dir / "runner.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        assert pod.run(pod.launch()) == 0
        assert time.monotonic() - started < 3
    assert not (pod.run_dir / "status.json").exists() and not (pod.run_dir / "train.log").exists()


def test_sighup_ends_the_training_with_129_and_stops_the_pod(pod):
    pod.write_config(max_steps=100000, step_seconds=0.01)
    first = pod.start(pod.launch())
    pod.wait_for(lambda: "step 3 loss" in pod.train_log(), what="training progress")
    pgid = pod.status()["child_pgid"]

    facts = parse_probe(pod.probe())  # probing a live run neither disturbs nor stops it
    assert facts.runner_alive and facts.status.state is RunState.RUNNING and not facts.tmux_alive
    assert pod.run(pod.launch(launch_id="launch-2")) == 0  # a second runner leaves at once
    assert pod.status()["pid"] == first.pid

    first.send_signal(signal.SIGHUP)
    assert first.wait(timeout=15) == 129

    assert last_line(pod.train_log()) == "EXIT_CODE=129" and last_line(pod.current_log()) == "EXIT_CODE=129"
    status = pod.status()
    assert (status["state"], status["exit_code"], status["signal"]) == ("failed", 129, "SIGHUP")
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_a_training_that_ignores_sigterm_is_killed_after_the_grace(pod):
    pod.write_config(max_steps=100000, step_seconds=0.01)
    command = "trap '' TERM; %s scripts/train.py --config configs/test.yaml" % shlex.quote(POD_PYTHON)
    runner = pod.start(pod.launch(command=command, kill_grace_s=0.5))
    pod.wait_for(lambda: "step 3 loss" in pod.train_log(), what="training progress")

    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=15) == 143

    log = pod.train_log()
    assert "received SIGTERM" in log and "still running after the grace period; SIGKILL" in log
    assert last_line(log) == "EXIT_CODE=143" and pod.status()["signal"] == "SIGTERM"


def test_the_pod_stops_once_the_attached_follower_has_read_the_end(pod):
    follower = pod.follow("launch-1")
    runner = pod.start(pod.launch(expect_follower=True, follower_wait_cap_s=120))
    lines = []
    while not lines or lines[-1] != b"EXIT_CODE=0\n":
        lines.append(follower.stdout.readline())
        assert lines[-1], "the log ended without EXIT_CODE"
    assert pod.status()["state"] == "succeeded"  # what the follower confirms before it lets go
    assert pod.stop_calls() == [] and runner.poll() is None  # the runner waits for the follower
    follower.stdout.close()
    assert runner.wait(timeout=20) == 0
    assert pod.status()["stop_wait"]["followers"] == "read"
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]


def test_a_hung_follower_delays_the_stop_by_the_cap_at_most(pod):
    follower = pod.follow()  # attached, never reads on: its lock stays held
    assert pod.run(pod.launch(follower_wait_cap_s=0.5)) == 0
    wait = pod.status()["stop_wait"]
    assert wait["followers"] == "cap" and wait["waited_s"] >= 0.5
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID] and follower.poll() is None
    assert "had not read the attempt's end" in (pod.run_dir / "runner.log").read_text()


def test_an_expected_follower_that_never_comes_delays_the_stop_by_the_cap_at_most(pod):
    assert pod.run(pod.launch(expect_follower=True, follower_wait_cap_s=0.5)) == 0
    assert pod.status()["stop_wait"]["followers"] == "cap"
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]


def test_runpodctl_failure_falls_back_to_the_v2_api_with_the_pods_key(pod):
    pod.fake_runpodctl(exit_code=1)

    assert pod.run(pod.launch()) == 0

    assert len(pod.stop_calls()) == 1
    (request,) = pod.api.seen("v2-stop")
    assert request["auth"] == "Bearer " + API_KEY and request["body"] == {"action": "stop"}
    assert pod.status()["pod_stop"] == "api_v2" and pod.api.status == "EXITED"


def test_max_runtime_kills_the_training_with_124_and_stops_the_pod(pod):
    pod.write_config(max_steps=100000, step_seconds=0.01)
    started = time.monotonic()

    assert pod.run(pod.launch(max_runtime_s=1, stop_pod_when_done=False)) == 124

    assert time.monotonic() - started < 8
    assert last_line(pod.train_log()) == "EXIT_CODE=124"
    status = pod.status()
    assert (status["state"], status["exit_code"], status["stopped_reason"]) == ("failed", 124, "max_runtime")
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]  # max_runtime stops the pod regardless


def test_the_watchdog_ends_a_runnerless_attempt_and_stops_the_pod(pod):
    pod.write_config(max_steps=100000, step_seconds=0.01)
    runner = pod.start(pod.launch(max_runtime_s=1, watchdog_grace_s=0.5))
    pod.wait_for(lambda: "step 3 loss" in pod.train_log(), what="training progress")
    pgid = pod.status()["child_pgid"]
    runner.kill()  # the runner vanishes; only the detached watchdog is left
    runner.wait(timeout=5)

    pod.wait_for(lambda: pod.status()["state"] == "failed" and pod.stop_calls(), timeout=10, what="watchdog")

    assert pod.status()["exit_code"] == 124 and pod.status()["stopped_reason"] == "max_runtime"
    assert last_line(pod.train_log()) == "EXIT_CODE=124" and last_line(pod.current_log()) == "EXIT_CODE=124"
    assert pod.stop_calls()[0] == "stop pod %s key=ok" % POD_ID
    pod.wait_for(lambda: not _group_alive(pgid), timeout=5, what="the orphaned training to end")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path("/proc/%d/stat" % pid).read_text().split(") ")[1][0] != "Z"


def test_a_new_launch_replaces_the_runs_watchdog(pod):
    assert pod.run(pod.launch(stop_pod_when_done=False)) == 0
    first = json.loads((pod.run_dir / "watchdog.pid").read_text())["pid"]
    assert _alive(first)  # it outlives the runner: max_runtime holds whatever training does

    assert pod.run(pod.launch(stop_pod_when_done=False, launch_id="launch-2")) == 0

    second = json.loads((pod.run_dir / "watchdog.pid").read_text())["pid"]
    pod.wait_for(lambda: not _alive(first), timeout=5, what="the old watchdog to end")
    assert second != first and _alive(second)


def test_a_lost_attempt_is_closed_before_the_next_begins(pod):
    (pod.run_dir / "status.json").write_text(json.dumps({"run": RUN, "state": "running", "attempt": 4}))
    (pod.run_dir / "train.log").write_text("=== podreconcile run tiny_run attempt 4 at x: fresh ===\nstep 7 lo")

    assert pod.run(pod.launch()) == 0

    lines = pod.train_log().splitlines()
    assert lines[1] == "step 7 lo" and lines[3] == "EXIT_CODE=137"
    assert headers(pod.train_log())[-1].group(2) == "5"


def test_secrets_never_reach_logs_status_or_command_lines(pod):
    script = (
        "import os, sys, time\n"
        "key = os.environ['RUNPOD_API_KEY']\n"
        "sys.stdout.write('key=' + key[:7]); sys.stdout.flush(); time.sleep(0.3)\n"
        "sys.stdout.write(key[7:] + '\\n')\n"
        "print('hf_home=' + os.environ['HF_HOME'], 'pod=' + os.environ['RUNPOD_POD_ID'])\n")
    (pod.code / "leak.py").write_text(script)

    assert pod.run(pod.launch(command="%s leak.py" % shlex.quote(POD_PYTHON))) == 0

    log = pod.train_log()
    assert "key=[redacted]" in log and "hf_home=/workspace/hf-cache pod=%s" % POD_ID in log
    for path in (pod.run_dir / "train.log", pod.mount / "logs/current.log", pod.run_dir / "status.json",
                 pod.run_dir / "runner.log", pod.calls, pod.run_dir / "launch.json"):
        assert API_KEY not in path.read_text(), path
    assert pod.stop_calls() == ["stop pod %s key=ok" % POD_ID]  # the key went through the env


def test_probe_output_after_a_run_parses(pod):
    pod.checkpoint(40, complete=False)
    assert pod.run(pod.launch()) == 0

    facts = parse_probe(pod.probe())

    assert facts.status is not None and facts.status.state is RunState.SUCCEEDED
    assert facts.status.attempt == 1 and facts.status.exit_code == 0
    assert not facts.runner_alive and not facts.tmux_alive
    assert [c.step for c in facts.checkpoints] == [10, 20, 30, 40]
    assert facts.latest_complete_checkpoint.name == "checkpoint-30"
    assert [c.name for c in facts.incomplete_newer_than_latest] == ["checkpoint-40"]
    assert facts.revision == "rev-abc123" and facts.log_tail == "EXIT_CODE=0"
    assert facts.launch_id == "launch-1" and facts.venv_ok and facts.python


def test_probe_of_an_empty_volume(tmp_path):
    done = subprocess.run([POD_PYTHON, "-", str(tmp_path / "nothing"), RUN, str(tmp_path / "out"),
                           str(tmp_path / "code")], input=PROBE.read_bytes(), capture_output=True,
                          timeout=20, check=True)
    facts = parse_probe(done.stdout.decode())
    assert facts.status is None and facts.checkpoints == () and facts.revision is None
    assert facts.log_tail is None and not facts.runner_alive
    assert not (tmp_path / "nothing").exists()  # the probe never creates anything


# ---------------------------------------------------------------------------- pure runner helpers


def test_redactor_masks_a_secret_split_across_chunks():
    redactor = redact.Redactor(["SECRET-VALUE"])
    out = redactor.feed(b"a SECR") + redactor.feed(b"ET-VAL") + redactor.feed(b"UE b\n") + redactor.flush()
    assert out == b"a [redacted] b\n"
    assert redactor.feed(b"no secret here\n") == b"no secret here\n"  # nothing held back needlessly


def test_training_command_quotes_the_checkpoint_path(tmp_path):
    launch = launch_json.Launch("launch.json", {
        "run_name": "r", "mount": "/m", "code_path": str(tmp_path), "output_dir": "out",
        "command": "python train.py --config c.yaml"})
    start = checkpoints.Start("resume", "resume from checkpoint-2", "checkpoint-2", "/a b/$x/checkpoint-2")
    command = checkpoints.training_command(launch, start)
    assert command == "python train.py --config c.yaml --resume_from_checkpoint '/a b/$x/checkpoint-2'"
    assert launch.output_dir == str(tmp_path / "out")  # relative output_dir: under code_path


def test_setup_files_finds_the_requirement_files():
    names = venv_setup.setup_files("pip install -r requirements.txt -cconstraints.txt --requirement=dev.txt")
    assert {"requirements.txt", "constraints.txt", "dev.txt"} <= set(names)


def test_remote_files_parse_as_python_3_8():
    for path in (*RUNNER_SOURCES, PROBE, FOLLOW_HOLD, TINY / "scripts" / "train.py", TINY / "scripts" / "tb_events.py"):
        ast.parse(path.read_text(), feature_version=(3, 8))
        assert not re.search(r"^(from|import) podreconcile", path.read_text(), re.M), path


def test_resume_mode_starts_from_exactly_the_named_checkpoint(pod):
    pod.checkpoint(10)
    pod.checkpoint(20)

    assert pod.run(pod.launch(mode="resume", checkpoint="checkpoint-10")) == 0

    assert headers(pod.train_log())[0].group(4) == "resume from checkpoint-10"
    assert pod.status()["resumed_from"] == "checkpoint-10" and pod.status()["mode"] == "resume"


def test_resume_mode_refuses_a_checkpoint_that_is_no_longer_complete(pod):
    pod.checkpoint(10, complete=False)

    assert pod.run(pod.launch(mode="resume", checkpoint="checkpoint-10")) == 2

    log = pod.train_log()
    assert "cannot resume: checkpoint checkpoint-10 is incomplete (no trainer_state.json)" in log
    assert "tiny: starting fresh" not in log and last_line(log) == "EXIT_CODE=2"
    assert (pod.status()["state"], pod.status()["stopped_reason"]) == ("failed", "checkpoint_unavailable")
