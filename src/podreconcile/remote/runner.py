#!/usr/bin/env python3
"""podreconcile's training supervisor. It runs ON the pod, in the tmux session `train`.

    python3 runner.py <mount>/.podreconcile/runs/<run>/launch.json
    python3 runner.py --watchdog <launch.json> <launch_id> <deadline_epoch>   (spawned by the runner)

One runner runs one attempt of one run: it takes the run's lock, decides how the attempt starts
(fresh, resume from the latest complete checkpoint, or force restart), prepares the venv and the
setup, runs the training in its own process group, writes the logs and status.json, and stops the
pod when the attempt ends (stop_pod_when_done) or when max_runtime passes.

The pod's system python3 runs this file: stdlib only, Python >= 3.8, nothing from podreconcile.
Secrets (RUNPOD_API_KEY and the like) reach children through their environment only; they are never
written to a log, to status.json, or to a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

try:
    import fcntl
except ImportError:  # pragma: no cover - pods are Linux
    fcntl = None  # type: ignore[assignment]

RUNNER_VERSION = 1
DEFAULT_API_URL = "https://api.runpod.io/graphql"
STOP_MUTATION = (
    "mutation stopPod($podId: String!) { podStop(input: {podId: $podId}) { id desiredStatus } }"
)
EXIT_MAX_RUNTIME = 124
EXIT_CANNOT_START = 127
EXIT_LOST = 137  # a previous attempt whose runner vanished: the pod stop kills with SIGKILL
PID1_ENVIRON_OVERRIDE = "PODRECONCILE_PID1_ENVIRON"  # tests only: a file standing in for /proc/1/environ
CHECKPOINT_RE = re.compile(r"^checkpoint-([0-9]+)$")
SECRET_NAME_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
NOT_SECRET = frozenset({"PUBLIC_KEY", "SSH_PUBLIC_KEY"})
# Variables that describe the SSH/tmux session rather than the container; the session's values win.
SESSION_ONLY = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "TERM", "TMUX", "TMUX_PANE"})
ACTIVE_STATES = ("setup", "running")


class LaunchError(Exception):
    """launch.json is missing, unreadable or lacks a required field."""


# --------------------------------------------------------------------------------------- basics


def utc_iso(epoch: float | None = None) -> str:
    """ISO-8601 UTC with a Z, to the second: the form used in headers and status.json."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


def fsync_dir(path: str) -> None:
    """Make a rename durable: a pod stop right after must not lose the new status.json."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str, data: dict) -> None:
    """Write JSON via temp file + fsync + rename, so readers never see half a file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def read_json(path: str) -> dict | None:
    """A JSON object from a file, or None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def killpg_quiet(pgid: int | None, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    if not pgid or pgid <= 1:
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def terminate_group(pgid: int | None, grace: float) -> bool:
    """SIGTERM a process group, SIGKILL it after `grace` seconds; True if it existed."""
    if not killpg_quiet(pgid, signal.SIGTERM):
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not killpg_quiet(pgid, 0):
            return True
        time.sleep(0.05)
    killpg_quiet(pgid, signal.SIGKILL)
    return True


def _whole(number: float):
    """3600.0 -> 3600 for status.json; fractions stay."""
    return int(number) if number == int(number) else number


def shell() -> str:
    """bash, as users write their command and setup for it; sh only on images without bash."""
    return shutil.which("bash") or "/bin/sh"


# --------------------------------------------------------------------------------------- launch


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
        self.setup = data.get("setup") or None
        self.venv = data.get("venv") or None
        self.stop_pod_when_done = bool(data.get("stop_pod_when_done", True))
        self.max_runtime_s = float(data.get("max_runtime_s") or 0)
        self.revision = data.get("revision")
        self.api_url_fallback = data.get("api_url_fallback") or None
        self.launch_id = str(data.get("launch_id") or "")
        self.kill_grace_s = float(data.get("kill_grace_s", 30))
        self.watchdog_grace_s = float(data.get("watchdog_grace_s", 60))
        # A follower (an attached apply, `logs --follow`) needs a moment to read EXIT_CODE before the stop cuts SSH.
        self.stop_delay_s = float(data.get("stop_delay_s", 5))
        self.venv_system_site_packages = bool(data.get("venv_system_site_packages", True))


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
        self.current_log = os.path.join(mount, "logs", "current.log")


def pane_write(data: bytes) -> None:
    """Echo to the tmux pane. Once the pane is gone (session killed) stdout becomes /dev/null:
    output left in its buffer would fail again at exit and turn the exit status into 120."""
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass


def note(paths: RunPaths, message: str) -> None:
    """The runner's own diary (runner.log and the pane): what happens outside an attempt's logs."""
    try:
        with open(paths.runner_log, "a", encoding="utf-8") as f:
            f.write("%s %s\n" % (utc_iso(), message))
    except OSError:
        pass
    pane_write(("podreconcile: %s\n" % message).encode("utf-8", "replace"))


# ------------------------------------------------------------------------------------------ lock


def acquire_lock(path: str, wait_s: float = 0.5) -> int | None:
    """Take the run's exclusive flock; None when another runner holds it.

    A probe holds the lock for microseconds to test it, so a short retry tells a probe apart from
    a live runner. The fd is not inheritable: children never keep the lock after the runner dies.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        return fd


# ----------------------------------------------------------------------------------- environment


def read_pid1_env() -> dict:
    """PID 1's environment: where RunPod puts RUNPOD_POD_ID, RUNPOD_API_KEY and the pod's env.

    SSH sessions (and the tmux started from one) do not inherit it.
    """
    path = os.environ.get(PID1_ENVIRON_OVERRIDE) or "/proc/1/environ"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            env[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
    return env


def build_env(pid1: dict) -> dict:
    """The session's environment overlaid with the container's (PID 1 wins, except session vars)."""
    env = dict(os.environ)
    for name, value in pid1.items():
        if name not in SESSION_ONLY:
            env[name] = value
    env.pop(PID1_ENVIRON_OVERRIDE, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def with_venv(env: dict, venv: str) -> dict:
    """The environment an activated venv gives: its bin first on PATH, VIRTUAL_ENV set."""
    env = dict(env)
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", os.defpath)
    env.pop("PYTHONHOME", None)
    return env


def secret_values(env: dict) -> list:
    """Values to mask in logs: anything named like a key, token or password."""
    return [
        v for k, v in env.items()
        if SECRET_NAME_RE.search(k) and k not in NOT_SECRET and len(v) >= 6
    ]


class Redactor:
    """Masks secret values in a byte stream, also when a value is split across two chunks."""

    MASK = b"[redacted]"

    def __init__(self, secrets: list):
        encoded = {s.encode("utf-8", "surrogateescape") for s in secrets}
        self.secrets = sorted(encoded, key=len, reverse=True)
        self.carry = b""

    def feed(self, data: bytes) -> bytes:
        """Redacted bytes safe to write now; a tail that may start a secret is held back."""
        if not self.secrets:
            return data
        buf = self.carry + data
        for secret in self.secrets:
            buf = buf.replace(secret, self.MASK)
        keep = self._partial_tail(buf)
        self.carry = buf[len(buf) - keep:] if keep else b""
        return buf[:len(buf) - keep]

    def flush(self) -> bytes:
        out, self.carry = self.carry, b""
        return out

    def _partial_tail(self, buf: bytes) -> int:
        """Length of the longest tail of `buf` that is a proper prefix of some secret."""
        best = 0
        for secret in self.secrets:
            for n in range(min(len(secret) - 1, len(buf)), best, -1):
                if buf.endswith(secret[:n]):
                    best = n
                    break
        return best


# ------------------------------------------------------------------------------------------ logs


def _ends_with_newline(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return True


class Tee:
    """An attempt's output: appended to train.log, written to a fresh current.log, echoed to the pane.

    Unbuffered, so `tail -f` shows progress as it happens. Thread-safe: the output pump and the
    runner's own messages share it.
    """

    def __init__(self, paths: RunPaths, redactor: Redactor):
        os.makedirs(os.path.dirname(paths.current_log), exist_ok=True)
        # A previous attempt cut mid-line must not swallow this attempt's header.
        torn = not _ends_with_newline(paths.train_log)
        self._files = [open(paths.train_log, "ab", buffering=0), open(paths.current_log, "wb", buffering=0)]
        if torn:
            self._write_file(self._files[0], b"\n")
        self._redactor = redactor
        self._lock = threading.Lock()
        self._line_start = True

    def output(self, data: bytes, gate: "Gate") -> None:
        """Bytes from a child, redacted; dropped once the child's gate is shut."""
        with self._lock:
            if gate.open:
                self._write(self._redactor.feed(data))

    def shut(self, gate: "Gate") -> None:
        """A child is done: later bytes from whatever still holds its pipe never reach the logs."""
        with self._lock:
            gate.open = False

    def end_output(self) -> None:
        """A child is done: release the bytes held back by the redactor."""
        with self._lock:
            self._write(self._redactor.flush())

    def line(self, text: str) -> None:
        """A whole line of the runner's own, always starting at a line start."""
        with self._lock:
            if not self._line_start:
                self._write(b"\n")
            self._write((text + "\n").encode("utf-8", "replace"))

    def close(self) -> None:
        """Flushed to disk before the pod stop, which may come within the second."""
        with self._lock:
            for f in self._files:
                try:
                    os.fsync(f.fileno())
                except OSError:
                    pass
                f.close()

    def _write(self, data: bytes) -> None:
        if not data:
            return
        for f in self._files:
            self._write_file(f, data)
        pane_write(data)
        self._line_start = data.endswith(b"\n")

    @staticmethod
    def _write_file(f, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[f.write(view):]
        except OSError:
            pass  # a full disk must not kill the supervision of a running training


def header(run: str, attempt: int, when: str, how: str) -> str:
    return "=== podreconcile run %s attempt %d at %s: %s ===" % (run, attempt, when, how)


# ----------------------------------------------------------------------------------- checkpoints


class Start:
    """How an attempt starts: `how` is the header wording; `checkpoint` is set when resuming."""

    def __init__(self, kind: str, how: str, checkpoint: str | None = None,
                 path: str | None = None, skipped: list | None = None):
        self.kind = kind
        self.how = how
        self.checkpoint = checkpoint
        self.path = path
        self.skipped = skipped or []


def scan_checkpoints(output_dir: str) -> list:
    """(step, name, complete) for every checkpoint-<N> folder, by step as a number."""
    try:
        names = os.listdir(output_dir)
    except OSError:
        return []
    found = []
    for name in names:
        match = CHECKPOINT_RE.match(name)
        path = os.path.join(output_dir, name)
        if match and os.path.isdir(path):
            complete = os.path.isfile(os.path.join(path, "trainer_state.json"))
            found.append((int(match.group(1)), name, complete))
    return sorted(found)


def decide_start(launch: Launch) -> Start:
    """force_restart ignores checkpoints; otherwise the latest complete one, else fresh."""
    if launch.mode == "force_restart":
        return Start("force_restart", "FORCE RESTART: checkpoints ignored")
    found = scan_checkpoints(launch.output_dir)
    skipped = [name for _, name, complete in found if not complete]
    complete = [name for _, name, ok in found if ok]
    if not complete:
        return Start("fresh", "fresh", skipped=skipped)
    latest = complete[-1]
    path = os.path.join(launch.output_dir, latest)
    return Start("resume", "resume from " + latest, latest, path, skipped)


def training_command(launch: Launch, start: Start) -> str:
    """The user's command as written, plus the resume args with our (quoted) checkpoint path."""
    if start.path is None:
        return launch.command
    quoted = shlex.quote(start.path)
    if "{checkpoint}" in launch.resume_args:
        args = launch.resume_args.replace("{checkpoint}", quoted)
    else:
        args = "%s %s" % (launch.resume_args, quoted)
    return "%s %s" % (launch.command, args)


# ----------------------------------------------------------------------------------- venv, setup


def setup_files(setup: str) -> list:
    """Words of the setup string that may name input files (requirements.txt, -rfile, --x=file)."""
    try:
        words = shlex.split(setup, comments=True)
    except ValueError:
        words = setup.split()
    names = set()
    for word in words:
        names.add(word)
        if "=" in word:
            names.add(word.split("=", 1)[1])
        if word.startswith("-") and not word.startswith("--") and len(word) > 2:
            names.add(word[2:])
    return sorted(n for n in names if n)


def setup_hash(setup: str, code_path: str, venv: str | None) -> str:
    """Hash of what setup depends on: its text, the venv, and the files it names in code_path."""
    h = hashlib.sha256()
    h.update(b"setup\0" + setup.encode("utf-8") + b"\0venv\0" + (venv or "").encode("utf-8"))
    for name in setup_files(setup):
        path = os.path.join(code_path, name)
        if not os.path.isfile(path):
            continue
        file_hash = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    file_hash.update(block)
        except OSError:
            continue
        digest = file_hash.hexdigest()
        h.update(b"\0file\0" + name.encode("utf-8") + b"\0" + digest.encode("ascii"))
    return h.hexdigest()


def setup_hash_path(launch: Launch) -> str:
    """Kept with what setup changed: in the venv, else on the container disk (wiped with it)."""
    if launch.venv:
        return os.path.join(launch.venv, ".podreconcile-setup.sha256")
    return os.path.join(os.path.expanduser("~"), ".cache", "podreconcile", "setup-%s.sha256" % launch.run_name)


def venv_usable(venv: str) -> bool:
    """The venv's python exists and runs (a venv moved to another image can point nowhere)."""
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        return False
    try:
        return subprocess.run([python, "-c", "pass"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# ------------------------------------------------------------------------------------ supervision


class Signals:
    """Signals received by the runner. The handler forwards them at once to the child's group."""

    def __init__(self):
        self.received = []
        self.first_at = None
        self.child_pgid = None
        self.finalizing = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        self.received.append(signum)
        if self.first_at is None:
            self.first_at = now
        if self.finalizing:
            return  # logs and status are being finished and the pod stopped: do not die now
        # Asking again (a second Ctrl+C) means "now". A killed tmux session sends SIGHUP twice at
        # once (pty hangup and tmux itself); that is one request and keeps the grace period.
        again = now - self.first_at >= 1.0
        killpg_quiet(self.child_pgid, signal.SIGKILL if again else signum)

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


class Gate:
    """Whether a child's output still belongs to the attempt's logs."""

    def __init__(self):
        self.open = True


class Child:
    """Runs one child (venv creation, setup, training) in its own process group, output to a Tee."""

    def __init__(self, tee: Tee, signals: Signals, deadline: float | None, grace: float):
        self.tee = tee
        self.signals = signals
        self.deadline = deadline  # time.monotonic() value, None: no limit
        self.grace = grace

    def run(self, argv: list, cwd: str, env: dict, on_start=None) -> tuple:
        """(exit code, reason) where reason is None, "signal", "max_runtime" or "cannot_start"."""
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            self.tee.line("podreconcile: cannot start %s in %s: %s" % (argv[0], cwd, exc.strerror))
            return EXIT_CANNOT_START, "cannot_start"
        self.signals.child_pgid = proc.pid
        if self.signals.received:  # a signal raced the start
            killpg_quiet(proc.pid, self.signals.first)
        if on_start is not None:
            on_start(proc.pid)
        gate = Gate()
        pump = threading.Thread(target=self._pump, args=(proc.stdout, gate), daemon=True)
        pump.start()
        reason = self._wait(proc)
        self.signals.child_pgid = None
        if reason is None and self.signals.received:
            reason = "signal"  # the forwarded signal ended the child before the loop saw it
        self._reap_group(proc.pid, pump)
        self.tee.shut(gate)  # a daemon in another session may keep the pipe open forever
        self.tee.end_output()
        return self._exit_code(proc.returncode, reason), reason

    def _pump(self, stream, gate: Gate) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.tee.output(chunk, gate)

    def _wait(self, proc) -> str | None:
        """Wait for the child, enforcing the deadline and the grace after a forwarded signal."""
        reason, kill_at = None, None
        while True:
            try:
                proc.wait(timeout=0.1)
                return reason
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if reason is None and self.signals.received:
                reason, kill_at = "signal", now + self.grace
                self.tee.line("podreconcile: received %s; forwarded to the process group, SIGKILL in %gs"
                              % (signal_name(self.signals.first), self.grace))
            elif reason is None and self.deadline is not None and now >= self.deadline:
                reason, kill_at = "max_runtime", now + self.grace
                self.tee.line("podreconcile: max_runtime reached; SIGTERM to the process group, SIGKILL in %gs"
                              % self.grace)
                killpg_quiet(proc.pid, signal.SIGTERM)
            if kill_at is not None and now >= kill_at:
                kill_at = None
                self.tee.line("podreconcile: still running after the grace period; SIGKILL")
                killpg_quiet(proc.pid, signal.SIGKILL)

    def _reap_group(self, pgid: int, pump: threading.Thread) -> None:
        """The attempt is over: end what the child left behind (workers holding the pipe open)."""
        pump.join(timeout=1.0)
        if terminate_group(pgid, 3.0) and pump.is_alive():
            pump.join(timeout=2.0)

    def _exit_code(self, returncode: int, reason: str | None) -> int:
        if reason == "max_runtime":
            return EXIT_MAX_RUNTIME
        if reason == "signal":
            return 128 + self.signals.first
        if returncode < 0:
            return 128 - returncode
        return returncode


# -------------------------------------------------------------------------------------- pod stop


def graphql_urls(env: dict, launch: Launch) -> list:
    """Where to POST podStop: the pod's own API URLs first, then launch.json's fallback."""
    urls = [env.get("RUNPOD_GRAPHQL_URL"), env.get("RUNPOD_API_URL"),
            launch.api_url_fallback or DEFAULT_API_URL]
    out = []
    for url in urls:
        if url and url not in out:
            out.append(url)
    return out


def _stop_with_runpodctl(pod_id: str, env: dict, log) -> bool:
    """`runpodctl stop pod <id>` (the legacy CLI RunPod injects); the key travels in env."""
    try:
        done = subprocess.run(["runpodctl", "stop", "pod", pod_id], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                              start_new_session=True)
    except FileNotFoundError:
        log("runpodctl not found; using the API")
        return False
    except (OSError, subprocess.SubprocessError) as exc:
        log("runpodctl failed (%s); using the API" % exc.__class__.__name__)
        return False
    if done.returncode == 0:
        log("pod %s stop requested with runpodctl" % pod_id)
        return True
    log("runpodctl exited with %d; using the API" % done.returncode)
    return False


def _url_for_log(url: str) -> str:
    """Scheme, host, port and path only: a query string or user info could carry a key."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = ":%d" % parts.port if parts.port else ""
        return "%s://%s%s%s" % (parts.scheme, parts.hostname or "", port, parts.path)
    except ValueError:
        return "(unparsable URL)"


def _stop_with_api(url: str, pod_id: str, api_key: str, log, attempts: int = 3) -> bool:
    """POST the podStop mutation with a Bearer key; a few tries, 10 s each."""
    body = json.dumps({"query": STOP_MUTATION, "variables": {"podId": pod_id}}).encode("utf-8")
    attempt = 0
    while attempt < attempts:
        attempt += 1
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + api_key,
            "User-Agent": "podreconcile-runner/%d" % RUNNER_VERSION,
        })
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read(1 << 20).decode("utf-8") or "{}")
            problem = _stop_answer_problem(answer)
        except urllib.error.HTTPError as exc:
            problem = "HTTP %d" % exc.code
            if 400 <= exc.code < 500 and exc.code != 429:
                attempts = attempt  # a refused key or request stays refused: next URL
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = exc.__class__.__name__
        if problem is None:
            log("pod %s stop requested via %s" % (pod_id, _url_for_log(url)))
            return True
        log("stop via %s failed (%s), try %d of %d" % (_url_for_log(url), problem, attempt, attempts))
        if attempt < attempts:
            time.sleep(attempt)
    return False


def _stop_answer_problem(answer) -> str | None:
    """None when the GraphQL answer confirms the stop, else what is wrong with it."""
    if not isinstance(answer, dict):
        return "not a JSON object"
    if answer.get("errors"):
        return "GraphQL errors"
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get("podStop"):
        return "no podStop in the answer"
    return None


def stop_pod(env: dict, launch: Launch, log) -> str:
    """Stop this pod; returns how: "runpodctl", "api", "no_pod_id" or "failed"."""
    pod_id = env.get("RUNPOD_POD_ID")
    if not pod_id:
        log("RUNPOD_POD_ID is not in PID 1's environment; cannot stop the pod")
        return "no_pod_id"
    if _stop_with_runpodctl(pod_id, env, log):
        return "runpodctl"
    api_key = env.get("RUNPOD_API_KEY")
    if not api_key:
        log("RUNPOD_API_KEY is not in PID 1's environment; cannot call the API")
        return "failed"
    for url in graphql_urls(env, launch):
        if _stop_with_api(url, pod_id, api_key, log):
            return "api"
    return "failed"


# -------------------------------------------------------------------------------------- watchdog


def kill_previous_watchdog(paths: RunPaths) -> None:
    """A new launch replaces the run's watchdog; only a process that is our watchdog is killed."""
    info = read_json(paths.watchdog_pid) or {}
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except OSError:
        return  # gone (or not Linux): nothing to kill
    if b"--watchdog" in cmdline and paths.run_dir.encode() in cmdline:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def spawn_watchdog(paths: RunPaths, launch: Launch, deadline_epoch: float) -> None:
    """A detached process (own session) that stops the pod at deadline + grace, runner or not."""
    argv = [sys.executable, os.path.abspath(__file__), "--watchdog", launch.path,
            launch.launch_id, "%.3f" % deadline_epoch]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
    write_json_atomic(paths.watchdog_pid, {"pid": proc.pid, "launch_id": launch.launch_id,
                                           "fires_at": utc_iso(deadline_epoch + launch.watchdog_grace_s)})


def close_lost_attempt(paths: RunPaths, status: dict, code: int, message: str, current_too: bool) -> None:
    """End an attempt whose runner is gone: its logs get the note and EXIT_CODE, status is final."""
    text = ("podreconcile: %s\nEXIT_CODE=%d\n" % (message, code)).encode("utf-8")
    logs = [paths.train_log]
    prefix = "=== podreconcile run %s attempt %s " % (status.get("run"), status.get("attempt"))
    if current_too and (read_first_line(paths.current_log) or "").startswith(prefix):
        logs.append(paths.current_log)
    for path in logs:
        lead = b"" if _ends_with_newline(path) else b"\n"
        try:
            with open(path, "ab") as f:
                f.write(lead + text)
        except OSError:
            pass
    reason = "max_runtime" if code == EXIT_MAX_RUNTIME else "lost"
    status = dict(status, state="failed", exit_code=code, ended_at=utc_iso(), child_pgid=None,
                  stopped_reason=reason, updated_at=utc_iso())
    write_json_atomic(paths.status, status)


def read_first_line(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.readline().decode("utf-8", "replace")
    except OSError:
        return None


def watchdog_main(args: list) -> int:
    """Sleep until deadline + grace, then end a runner-less attempt and stop the pod.

    A new launch replaces this process (and kills it); should that kill have missed, the pid file
    no longer naming this process tells it to stand down.
    """
    if len(args) != 3:
        return 2
    launch_path, launch_id, deadline = args[0], args[1], float(args[2])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        launch = load_launch(launch_path)
    except LaunchError:
        return 2
    paths = RunPaths(launch.mount, launch.run_name)
    fire_at = deadline + launch.watchdog_grace_s
    while time.time() < fire_at:
        time.sleep(min(30.0, max(0.05, fire_at - time.time())))
    if (read_json(paths.watchdog_pid) or {}).get("pid") != os.getpid():
        return 0
    log = lambda message: note(paths, "watchdog: " + message)  # noqa: E731
    lock_fd = acquire_lock(paths.lock, wait_s=0.0)
    status = read_json(paths.status) or {}
    if lock_fd is not None and status.get("launch_id") == launch_id and status.get("state") in ACTIVE_STATES:
        terminate_group(status.get("child_pgid"), 5.0)
        close_lost_attempt(paths, status, EXIT_MAX_RUNTIME,
                           "max_runtime passed and the runner is gone; the watchdog ended the attempt",
                           current_too=True)
    log("max_runtime (%gs) passed; stopping the pod" % launch.max_runtime_s)
    stop_pod(build_env(read_pid1_env()), launch, log)
    return 0


# ---------------------------------------------------------------------------------------- runner


class Runner:
    """One attempt of one run, from header to EXIT_CODE and the pod stop."""

    def __init__(self, launch: Launch, paths: RunPaths, signals: Signals):
        self.launch = launch
        self.paths = paths
        self.signals = signals
        self.env = build_env(read_pid1_env())
        self.child_env = self.env
        self.tee = None
        self.status = {}

    def run(self) -> int:
        """Run the attempt; the return value is its EXIT_CODE."""
        previous = read_json(self.paths.status) or {}
        self._end_orphans(previous)
        attempt = self._previous_attempt(previous) + 1
        start = decide_start(self.launch)
        started = time.time()
        self.tee = Tee(self.paths, Redactor(secret_values(self.env)))
        self.tee.line(header(self.launch.run_name, attempt, utc_iso(started), start.how))
        self._announce(start)
        self._write_status(self._initial_status(attempt, start, started))
        deadline = self._arm_deadline(started)
        child = Child(self.tee, self.signals, deadline, self.launch.kill_grace_s)
        try:
            code, reason = self._prepare(child)
            if code == 0 and self.signals.received:
                code, reason = 128 + self.signals.first, "signal"
            elif code == 0:
                code, reason = self._train(child, start, attempt)
            elif reason is None:
                reason = "setup_failed"
        except Exception:  # a runner bug must still end the attempt properly
            note(self.paths, "runner error:\n" + traceback.format_exc())
            self.tee.line("podreconcile: runner error (details in %s)" % self.paths.runner_log)
            code, reason = 1, "runner_error"
        self._finish(code, reason, started)
        return code

    # -- start

    @staticmethod
    def _previous_attempt(previous: dict) -> int:
        attempt = previous.get("attempt")
        return attempt if isinstance(attempt, int) and attempt > 0 else 0

    def _end_orphans(self, previous: dict) -> None:
        """The last attempt lost its runner (we hold the lock): end its training, close its log."""
        if previous.get("state") not in ACTIVE_STATES:
            return
        if terminate_group(previous.get("child_pgid"), self.launch.kill_grace_s):
            note(self.paths, "ended the training of attempt %s, left running without its runner"
                 % previous.get("attempt"))
        close_lost_attempt(self.paths, previous, EXIT_LOST,
                           "attempt %s ended without its runner (pod stopped, preempted or runner "
                           "killed); exit code unknown" % previous.get("attempt"), current_too=False)

    def _announce(self, start: Start) -> None:
        if start.skipped:
            self.tee.line("podreconcile: skipped incomplete checkpoint(s) (no trainer_state.json): "
                          + ", ".join(start.skipped))
        if self.launch.mode not in ("auto", "force_restart"):
            self.tee.line("podreconcile: unknown mode %r, treated as auto" % self.launch.mode)
        self.tee.line("podreconcile: revision %s, launch %s, runner pid %d"
                      % (self.launch.revision, self.launch.launch_id, os.getpid()))

    def _initial_status(self, attempt: int, start: Start, started: float) -> dict:
        limit = self.launch.max_runtime_s
        return {
            "run": self.launch.run_name, "state": "setup", "attempt": attempt, "exit_code": None,
            "started_at": utc_iso(started), "ended_at": None, "resumed_from": start.checkpoint,
            "start": start.kind, "skipped_checkpoints": start.skipped,
            "revision": self.launch.revision, "launch_id": self.launch.launch_id,
            "mode": self.launch.mode, "pid": os.getpid(), "child_pgid": None,
            "max_runtime_s": _whole(limit) if limit > 0 else None,
            "deadline_at": utc_iso(started + limit) if limit > 0 else None,
            "stop_pod_when_done": self.launch.stop_pod_when_done, "setup": None,
            "stopped_reason": None, "signal": None, "pod_stop": None, "runner_version": RUNNER_VERSION,
        }

    def _write_status(self, fields: dict) -> None:
        """Merge `fields` into this attempt's status.json (atomically rewritten)."""
        self.status.update(fields)
        self.status["updated_at"] = utc_iso()
        try:
            write_json_atomic(self.paths.status, self.status)
        except OSError as exc:  # a full volume must not leave the training unsupervised
            note(self.paths, "cannot write status.json: %s" % exc.strerror)

    def _arm_deadline(self, started: float) -> float | None:
        """Replace the run's watchdog; the monotonic deadline the runner itself enforces."""
        kill_previous_watchdog(self.paths)
        limit = self.launch.max_runtime_s
        if limit <= 0:
            return None
        try:
            spawn_watchdog(self.paths, self.launch, started + limit)
        except OSError as exc:
            self.tee.line("podreconcile: cannot start the max_runtime watchdog: %s" % exc.strerror)
        return time.monotonic() + limit - (time.time() - started)

    # -- venv and setup

    def _prepare(self, child: Child) -> tuple:
        """Venv (created when absent or broken) and setup (only when its inputs changed)."""
        if self.launch.venv:
            code, reason = self._ensure_venv(child)
            if code != 0:
                return code, reason
            self.child_env = with_venv(self.env, self.launch.venv)
        if not self.launch.setup or self.signals.received:
            return 0, None
        hash_path = setup_hash_path(self.launch)
        if read_text(hash_path) == setup_hash(self.launch.setup, self.launch.code_path, self.launch.venv):
            self.tee.line("podreconcile: setup skipped: unchanged since it last succeeded")
            self._write_status({"setup": "skipped"})
            return 0, None
        self.tee.line("podreconcile: setup: running (its inputs changed or it never succeeded here)")
        code, reason = child.run([shell(), "-c", self.launch.setup], self.launch.code_path, self.child_env)
        self.tee.line("podreconcile: setup exited with %d" % code)
        self._write_status({"setup": "ran" if code == 0 else "failed"})
        if code == 0:
            self._record_setup(hash_path)
        return code, reason

    def _record_setup(self, hash_path: str) -> None:
        """Remember a successful setup. Hashed after the run: files setup itself writes (a lock
        file, a log) must not make the next launch rerun it."""
        digest = setup_hash(self.launch.setup, self.launch.code_path, self.launch.venv)
        try:
            os.makedirs(os.path.dirname(hash_path), exist_ok=True)
            with open(hash_path, "w", encoding="utf-8") as f:
                f.write(digest + "\n")
        except OSError as exc:
            self.tee.line("podreconcile: cannot record the setup (%s); it will run again" % exc.strerror)

    def _ensure_venv(self, child: Child) -> tuple:
        venv = self.launch.venv
        if venv_usable(venv):
            self.tee.line("podreconcile: venv %s reused" % venv)
            return 0, None
        broken = os.path.exists(venv)
        self.tee.line("podreconcile: venv %s %s" % (venv, "is broken; recreating it" if broken else "created"))
        argv = [sys.executable, "-m", "venv"]
        if self.launch.venv_system_site_packages:
            argv.append("--system-site-packages")  # keep the image's torch/CUDA packages visible
        if broken:
            argv.append("--clear")
        code, reason = child.run(argv + [venv], "/", self.env)
        if code == 0 and not venv_usable(venv):
            code = 1
        if code != 0:
            self.tee.line("podreconcile: creating the venv failed (%d)" % code)
        return code, reason

    # -- training

    def _train(self, child: Child, start: Start, attempt: int) -> tuple:
        env = dict(self.child_env, PODRECONCILE_RUN=self.launch.run_name,
                   PODRECONCILE_ATTEMPT=str(attempt), PODRECONCILE_RESUME_FROM=start.path or "")
        command = training_command(self.launch, start)
        on_start = lambda pgid: self._write_status({"state": "running", "child_pgid": pgid})  # noqa: E731
        code, reason = child.run([shell(), "-c", command], self.launch.code_path, env, on_start)
        if reason is None:
            reason = "completed" if code == 0 else "training_failed"
        return code, reason

    # -- end

    def _finish(self, code: int, reason: str, started: float) -> None:
        """Logs, then status, then the pod stop: the stop kills this process, so all is flushed."""
        self.signals.finalizing = True
        stop = self.launch.stop_pod_when_done or reason == "max_runtime"
        elapsed = int(time.time() - started)
        sig = signal_name(self.signals.first) if reason == "signal" else None
        self.tee.line("podreconcile: attempt ended: %s, exit code %d, after %dh%02dm%02ds"
                      % (reason + (" " + sig if sig else ""), code,
                         elapsed // 3600, elapsed // 60 % 60, elapsed % 60))
        if stop:
            why = "max_runtime" if reason == "max_runtime" else "stop_pod_when_done"
            self.tee.line("podreconcile: stopping the pod (%s)" % why)
        self.tee.line("EXIT_CODE=%d" % code)
        self.tee.close()
        self._write_status({
            "state": "succeeded" if code == 0 else "failed", "exit_code": code, "ended_at": utc_iso(),
            "stopped_reason": reason, "signal": sig, "child_pgid": None,
            "pod_stop": "requested" if stop else "not_requested",
        })
        if stop:
            time.sleep(max(0.0, self.launch.stop_delay_s))
            result = stop_pod(self.env, self.launch, lambda message: note(self.paths, message))
            self._write_status({"pod_stop": result})


def main(argv: list) -> int:
    if len(argv) >= 2 and argv[1] == "--watchdog":
        return watchdog_main(argv[2:])
    if len(argv) != 2:
        sys.stderr.write("usage: runner.py <launch.json>\n")
        return 2
    try:
        launch = load_launch(argv[1])
    except (LaunchError, ValueError, TypeError) as exc:
        sys.stderr.write("podreconcile runner: %s\n" % exc)
        return 2
    paths = RunPaths(launch.mount, launch.run_name)
    os.makedirs(paths.run_dir, exist_ok=True)
    lock_fd = acquire_lock(paths.lock)
    if lock_fd is None:
        return 0  # another runner of this run is alive: never two trainings of one run
    signals = Signals()
    signals.install()
    try:
        code = Runner(launch, paths, signals).run()
    except Exception:  # nothing could be logged properly; at least do not leave a paid pod idle
        note(paths, "runner failed before the attempt could end:\n" + traceback.format_exc())
        signals.finalizing = True
        if launch.stop_pod_when_done:
            stop_pod(build_env(read_pid1_env()), launch, lambda message: note(paths, message))
        code = 1
    os.close(lock_fd)
    return code & 0xFF


if __name__ == "__main__":
    sys.exit(main(sys.argv))
