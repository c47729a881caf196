"""Sandbox pods as processes: one PID + mount + UTS namespace per pod, with pod_init as PID 1.

`PodHost` is the seam between the sandbox's API server and the pods. A pod is
`unshare --pid --fork --kill-child --mount --uts --mount-proc /usr/bin/python3 pod_init.py`,
started in its own session so it outlives the caller. pod_init builds the pod's root (overlays
over the host's system folders, writes kept in `container_dir`; the volume bound on its mount
path), then runs sshd on `127.0.0.1:<ssh_port>` as RunPod's start script would. A pod on an
emulated link (links.py) runs in that link's network namespace instead, sshd on the pod's address. Nothing of a pod
is visible on the host but its process, `container_dir`, `volume_dir` and its files in
`state_dir`:

    state_dir/<pod_id>/launch.json   what pod_init needs besides the environment (no secrets)
    state_dir/<pod_id>/pid           "<pid of unshare> <its start time>", while the pod runs
    state_dir/<pod_id>/pod.log       pod_init's and sshd's output, appended at every start
    state_dir/<pod_id>/link*.json    the pod's emulated link, if it has one (links.py)

A stop signals the namespace's PID 1, which stops every process of the pod; SIGKILL follows after
a short grace, and the kernel then kills whatever is left in the namespace and takes its mounts
down with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from podreconcile.sandbox import links, pod_init
from podreconcile.sandbox.private import private_dir, write_private

POD_INIT = Path(pod_init.__file__)
RUNPODCTL = Path(__file__).with_name("bin") / "runpodctl"
# The pod's root hides the host's /root, so only the system interpreter works inside.
SYSTEM_PYTHON = "/usr/bin/python3"
UNSHARE = "/usr/bin/unshare"
NSENTER = "/usr/bin/nsenter"
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE = 2.0
SIGTERM_INTERVAL = 0.1
KILL_TIMEOUT = 5.0
FIND_INIT_TIMEOUT = 1.0
LOOPBACK_PROBE_TIMEOUT = 0.5
LINK_PROBE_TIMEOUT = 3.0
POD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KERNEL_DIRS = ("/proc", "/dev", "/sys")


class PodHostError(Exception):
    """A launch the pod host cannot run (bad paths, pod already running)."""


@dataclass(frozen=True)
class PodLaunch:
    """Everything needed to boot one pod; the API server builds it at create and resume."""

    pod_id: str
    env: dict[str, str]  # PID 1's environment: RUNPOD_*, PUBLIC_KEY, the pod's user env
    volume_dir: Path  # host folder bound on volume_mount_path (network volume or volume disk)
    volume_mount_path: str  # absolute path in the pod, e.g. /workspace; created in the pod's view
    container_dir: Path  # host folder for the container disk; wiped at every start and stop
    ssh_port: int | None  # public port of sshd on 127.0.0.1; None: 22/tcp not exposed, no sshd
    boot_delay: float  # seconds before sshd listens (image pull, boot)
    link: links.LinkInfo | None = None  # the emulated link to run in (open_link); None: loopback

    @property
    def ssh_host(self) -> str:
        """Where sshd listens: the pod's address on its link, or the host's loopback."""
        return self.link.pod_ip if self.link else "127.0.0.1"


class PodHost:
    """Starts, watches and stops pods. Safe to call from the API server's threads.

    Pods survive the PodHost (and its process): a restarted server finds them from their pid
    files, and `stop_all` stops them (the server does so at start: their ports and keys are stale).
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = private_dir(Path(state_dir))
        self._children: dict[str, subprocess.Popen] = {}  # pods started here, to reap them
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # --- the seam -----------------------------------------------------------------------------

    def start(self, launch: PodLaunch) -> None:
        """Boot a pod in the background and return at once. The container disk starts empty.

        Raises PodHostError if the launch is invalid or the pod is running already.
        """
        validate(launch)
        with self._lock(launch.pod_id):
            if self._running_pid(launch.pod_id) is not None:
                raise PodHostError(f"pod {launch.pod_id} is already running")
            if launch.link is not None and links.link_info(self._pod_dir(launch.pod_id)) != launch.link:
                raise PodHostError(f"pod {launch.pod_id}'s emulated link is not running")
            pod_dir = private_dir(self._pod_dir(launch.pod_id))
            wipe(Path(launch.container_dir))
            Path(launch.volume_dir).mkdir(parents=True, exist_ok=True)
            launch_file = write_launch_file(pod_dir, launch)
            process = spawn(launch, launch_file, pod_dir / "pod.log")
            self._children[launch.pod_id] = process
            write_atomically(pod_dir / "pid", f"{process.pid} {start_time(process.pid) or '-'}\n")

    def stop(self, pod_id: str) -> None:
        """SIGTERM the pod's PID 1, SIGKILL after a short grace; returns once the pod is gone.

        The container disk is then emptied (RunPod clears it on stop); the volume stays.
        Idempotent: a pod that is unknown or already dead is left as it is, without error.
        """
        if not POD_ID.match(pod_id):
            return  # no such pod can exist
        with self._lock(pod_id):
            pid = self._running_pid(pod_id)
            if pid is not None:
                self._terminate(pod_id, pid)
            self._forget(pod_id)
            links.close_link(self._pod_dir(pod_id))
            container_dir = self._launch_info(pod_id).get("container_dir")
            if container_dir:
                shutil.rmtree(container_dir, ignore_errors=True)

    def is_running(self, pod_id: str) -> bool:
        """Whether the pod's namespace is alive (booting or up)."""
        return self._running_pid(pod_id) is not None

    def ssh_ready(self, pod_id: str) -> bool:
        """Whether the pod's sshd accepts TCP connections on its port and sends an SSH banner."""
        if not self.is_running(pod_id):
            return False
        info = self._launch_info(pod_id)
        port = info.get("ssh_port")
        host = info.get("ssh_host", "127.0.0.1")
        # An emulated link may add hundreds of milliseconds each way to the connect and the banner.
        timeout = LOOPBACK_PROBE_TIMEOUT if host == "127.0.0.1" else LINK_PROBE_TIMEOUT
        return port is not None and speaks_ssh(host, port, timeout)

    def stop_all(self) -> None:
        """Stop every pod this state folder knows, including pods adopted from a former server."""
        for pod_id in sorted(set(self._children) | self._pod_ids_with_pid_file()):
            self.stop(pod_id)

    # --- emulated links -----------------------------------------------------------------------

    def open_link(self, pod_id: str, api_port: int, netem: links.Netem) -> links.LinkInfo:
        """Start the pod's emulated link (before `start`, whose launch then names it).

        Raises links.LinkError when the link cannot be made.
        """
        with self._lock(pod_id):
            return links.open_link(self._pod_dir(pod_id), api_port, netem)

    def link(self, pod_id: str) -> links.LinkInfo | None:
        """The pod's running emulated link, or None (a loopback pod, or a stopped one)."""
        return links.link_info(self._pod_dir(pod_id)) if POD_ID.match(pod_id) else None

    def link_settings(self, pod_id: str) -> links.Netem:
        """The settings the pod's link was last given."""
        return links.current(self._pod_dir(pod_id))

    def set_link(self, pod_id: str, netem: links.Netem) -> None:
        """Change the running link's delay, loss, rate or state; raises links.LinkError."""
        with self._lock(pod_id):
            links.apply(self._pod_dir(pod_id), netem)

    # --- for debugging and tests --------------------------------------------------------------

    def init_pid(self, pod_id: str) -> int | None:
        """Host pid of the pod's PID 1 (pod_init), or None if the pod is not running."""
        pid = self._running_pid(pod_id)
        return None if pid is None else find_child(pid, FIND_INIT_TIMEOUT)

    def log_path(self, pod_id: str) -> Path:
        """The file where pod_init and sshd of this pod write their output."""
        return self._pod_dir(pod_id) / "pod.log"

    # --- internals ----------------------------------------------------------------------------

    def _lock(self, pod_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(pod_id, threading.Lock())

    def _pod_dir(self, pod_id: str) -> Path:
        if not POD_ID.match(pod_id):
            raise PodHostError(f"invalid pod id {pod_id!r}")
        return self.state_dir / pod_id

    def _pod_ids_with_pid_file(self) -> set[str]:
        # A link without a pod (a start that failed half-way, a crashed server) is stopped too.
        return {path.parent.name for pattern in ("*/pid", "*/link.json") for path in self.state_dir.glob(pattern)}

    def _launch_info(self, pod_id: str) -> dict:
        try:
            return json.loads((self._pod_dir(pod_id) / "launch.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _running_pid(self, pod_id: str) -> int | None:
        """The pid of the pod's unshare process if it is alive and really that process."""
        if not POD_ID.match(pod_id):
            return None
        child = self._children.get(pod_id)
        if child is not None and child.poll() is not None:
            self._children.pop(pod_id, None)  # reaped: a zombie would still look alive in /proc
        try:
            pid_text, recorded_start = (self._pod_dir(pod_id) / "pid").read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_text)
        return pid if start_time(pid) == recorded_start else None

    def _terminate(self, pod_id: str, pid: int) -> None:
        """SIGTERM to PID 1 (pod_init stops the pod's processes), then SIGKILL if it lingers."""
        init = find_child(pid, FIND_INIT_TIMEOUT)
        init_start = None if init is None else start_time(init)
        deadline = time.monotonic() + (STOP_GRACE if init_start is not None else 0)
        while time.monotonic() < deadline:
            # Repeated: the kernel drops a SIGTERM that reaches a namespace's init before
            # pod_init has installed its handler (a stop right after start).
            signal_process(init, init_start, signal.SIGTERM)
            if self._wait_gone(pod_id, pid, SIGTERM_INTERVAL):
                return
        # SIGKILL to PID 1 empties the namespace; to unshare, it covers a PID 1 not yet forked
        # (--kill-child passes it on).
        signal_process(init, init_start, signal.SIGKILL)
        signal_process(pid, start_time(pid), signal.SIGKILL)
        if not self._wait_gone(pod_id, pid, KILL_TIMEOUT):
            raise PodHostError(f"pod {pod_id} (pid {pid}) survived SIGKILL")

    def _wait_gone(self, pod_id: str, pid: int, timeout: float) -> bool:
        """Wait for the unshare process to exit, which it does only once its namespace is empty."""
        child = self._children.get(pod_id)
        if child is not None:
            try:
                child.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        recorded = start_time(pid)
        deadline = time.monotonic() + timeout
        while recorded is not None and start_time(pid) == recorded:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)  # not our child: no wait() to block on
        return True

    def _forget(self, pod_id: str) -> None:
        self._children.pop(pod_id, None)
        (self._pod_dir(pod_id) / "pid").unlink(missing_ok=True)


# --- launching --------------------------------------------------------------------------------


def validate(launch: PodLaunch) -> None:
    """Refuse launches that would touch the host outside the pod's own folders."""
    if not POD_ID.match(launch.pod_id):
        raise PodHostError(f"invalid pod id {launch.pod_id!r}")
    mount_path = launch.volume_mount_path
    normalized = mount_path.startswith("/") and os.path.normpath(mount_path) == mount_path
    if not normalized or mount_path == "/":
        raise PodHostError(f"volume_mount_path {mount_path!r} is not a normalized absolute path")
    if any(mount_path == d or mount_path.startswith(d + "/") for d in KERNEL_DIRS):
        raise PodHostError(f"volume_mount_path {mount_path} is inside a kernel file system")
    container = Path(launch.container_dir).resolve()
    # The container disk is wiped at every start: never a top-level folder, nor the volume's parent.
    if len(container.parts) < 3 or Path(launch.volume_dir).resolve().is_relative_to(container):
        raise PodHostError(f"container_dir {container} is too close to / or holds the volume")
    if any(char in str(container) for char in ",:\\"):
        raise PodHostError(f"container_dir {container} holds ',', ':' or '\\' (overlayfs options)")
    for name in pod_init.SYSTEM_DIRS:
        system_dir = (Path("/") / name).resolve()
        # overlayfs refuses an upper layer inside its own lower layer.
        if container.is_relative_to(system_dir):
            raise PodHostError(f"container_dir {container} must not lie under {system_dir}")
    if launch.ssh_port is not None and not 0 < launch.ssh_port < 65536:
        raise PodHostError(f"invalid ssh port {launch.ssh_port}")


def wipe(container_dir: Path) -> None:
    """Empty the container disk: a started pod finds none of its former writes."""
    if container_dir.exists():
        shutil.rmtree(container_dir)
    container_dir.mkdir(parents=True)


def write_launch_file(pod_dir: Path, launch: PodLaunch) -> Path:
    """What pod_init reads besides its environment; no secrets (those stay in the environment)."""
    path = pod_dir / "launch.json"
    content = {
        "pod_id": launch.pod_id,
        "container_dir": str(Path(launch.container_dir).resolve()),
        "volume_dir": str(Path(launch.volume_dir).resolve()),
        "volume_mount_path": launch.volume_mount_path,
        "ssh_port": launch.ssh_port,
        "ssh_host": launch.ssh_host,
        "boot_at": time.time() + max(0.0, launch.boot_delay),
        "runpodctl": str(RUNPODCTL),
    }
    write_atomically(path, json.dumps(content, indent=2) + "\n")
    return path


def spawn(launch: PodLaunch, launch_file: Path, log_file: Path) -> subprocess.Popen:
    """Start unshare + pod_init in a session of its own, its output appended to the pod's log."""
    argv = [
        UNSHARE, "--pid", "--fork", "--kill-child", "--mount", "--uts", "--mount-proc",
        SYSTEM_PYTHON, "-I", "-u", str(POD_INIT), str(launch_file),
    ]  # fmt: skip
    if launch.link is not None:
        # nsenter execs unshare: the pid PodHost records stays unshare's.
        argv = [NSENTER, f"--net={launch.link.netns}", "--", *argv]
    env = {"PATH": STANDARD_PATH, "HOME": "/root", **launch.env}
    with open(log_file, "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {launch.pod_id}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv, env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )  # fmt: skip


def write_atomically(path: Path, text: str) -> None:
    write_private(path, text.encode("utf-8"))


# --- processes --------------------------------------------------------------------------------


def read_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields after the command name (field 3 onwards), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: with the pid, it names one process for good.

    None for a process that is gone or a zombie (dead, only waiting to be reaped).
    """
    fields = read_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def find_child(parent: int, timeout: float) -> int | None:
    """The one child of `parent` (unshare's forked PID 1), waiting briefly for the fork."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = read_stat(int(entry))
                if fields is not None and fields[1] == str(parent):
                    return int(entry)
        if time.monotonic() >= deadline or start_time(parent) is None:
            return None
        time.sleep(0.01)


def signal_process(pid: int | None, recorded_start: str | None, signum: int) -> None:
    """Signal `pid` only if it is still the process that started at `recorded_start`."""
    if pid is None or recorded_start is None or start_time(pid) != recorded_start:
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def speaks_ssh(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something on host:port accepts a connection and greets with `SSH-`."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            greeting = b""
            while len(greeting) < 4:
                chunk = connection.recv(4 - len(greeting))
                if not chunk:
                    return False
                greeting += chunk
            return greeting == b"SSH-"
    except OSError:
        return False
