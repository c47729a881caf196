"""PID 1 of a sandbox pod: what a RunPod container's start script does, inside a namespace.

`PodHost` runs this file with the system `/usr/bin/python3` (stdlib only: once the pod's root is
in place the host's /root, and any Python installed there, is gone) as the first process of a new
PID, mount and UTS namespace, with RunPod's variables as its environment and the path of a JSON
launch file as its only argument.

It then:

1. builds the pod's root on the container disk and pivots into it: the host's system folders
   (/etc, /usr, /var, /opt, /home, ...) as overlays whose writes land in `container_dir`, fresh
   /root, /tmp and /run, the host's /dev and /sys, a private devpts, and the volume on its mount
   path. Nothing the pod writes reaches the host, except on the volume.
2. does what RunPod's start.sh does: appends PUBLIC_KEY to /root/.ssh/authorized_keys, makes new
   host keys, writes /etc/rp_environment and sources it from /root/.bashrc, and installs
   `runpodctl` in /usr/local/bin.
3. after the boot delay, starts sshd as its child (only when PUBLIC_KEY is set and 22/tcp is
   exposed), then reaps orphans until SIGTERM, when it stops every process and exits; the kernel
   then kills whatever is left in the namespace.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

MOUNT = "/bin/mount"
UMOUNT = "/bin/umount"
PIVOT_ROOT = "/sbin/pivot_root"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
SSHD = "/usr/sbin/sshd"

# Host folders seen through an overlay: the pod reads the host's files and writes its own copies.
SYSTEM_DIRS = (
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "usr", "var", "opt", "home", "srv",
)  # fmt: skip
# Folders that start empty at each boot, as in a fresh container.
FRESH_DIRS = {
    "root": 0o700, "tmp": 0o1777, "run": 0o755, "mnt": 0o755, "media": 0o755, "boot": 0o755,
}  # fmt: skip
# Kernel file systems shared with the host (/proc is the namespace's own, mounted by unshare).
KERNEL_DIRS = ("dev", "sys", "proc")
# Only ed25519 and ecdsa: RSA generation costs about half a second, which readiness would pay.
HOST_KEY_TYPES = ("ed25519", "ecdsa")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
STAGED_VOLUME = ".podreconcile-volume"
OLD_ROOT = ".podreconcile-oldroot"
SHUTDOWN_GRACE = 1.5

SSHD_CONFIG = """\
# Written by the sandbox's pod_init at boot; this pod's own sshd.
Port {port}
ListenAddress {address}
{host_keys}
AuthorizedKeysFile /root/.ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
"""


def log(message: str) -> None:
    """One line in the pod's log (stdout is the log file PodHost opened)."""
    print(f"{time.strftime('%H:%M:%S')} pod_init: {message}", flush=True)


def run(argv: list[str]) -> None:
    """Run a helper to completion; its output goes to the pod's log."""
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


# --- the root file system -------------------------------------------------------------------


def build_root(container_dir: Path, volume_dir: Path) -> Path:
    """Assemble the pod's root under `container_dir/rootfs` (still seen from the host's root)."""
    run([MOUNT, "--make-rprivate", "/"])
    rootfs = container_dir / "rootfs"
    rootfs.mkdir(parents=True, exist_ok=True)
    # pivot_root needs the new root to be a mount point.
    run([MOUNT, "--bind", str(rootfs), str(rootfs)])
    for name in SYSTEM_DIRS:
        add_system_dir(rootfs, container_dir / "layers", name)
    for name, mode in FRESH_DIRS.items():
        make_dir(rootfs / name, mode)
    for name in KERNEL_DIRS:
        make_dir(rootfs / name, 0o755)
        run([MOUNT, "--rbind", f"/{name}", str(rootfs / name)])
    # A devpts of its own, so the pod's terminals are not the host's (/dev/ptmx follows it).
    devpts_options = "newinstance,ptmxmode=0666,mode=0620"
    run([MOUNT, "-t", "devpts", "-o", devpts_options, "devpts", str(rootfs / "dev/pts")])
    # Staged now, moved to its mount path after the pivot, so the path resolves in the pod's view.
    make_dir(rootfs / STAGED_VOLUME, 0o755)
    run([MOUNT, "--bind", str(volume_dir), str(rootfs / STAGED_VOLUME)])
    return rootfs


def add_system_dir(rootfs: Path, layers: Path, name: str) -> None:
    """Mirror one host folder: a symlink as the same symlink, a folder as a writable overlay."""
    host = Path("/") / name
    if host.is_symlink():
        os.symlink(os.readlink(host), rootfs / name)
    elif host.is_dir():
        upper, work = layers / name / "upper", layers / name / "work"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        make_dir(rootfs / name, 0o755)
        options = f"lowerdir={host},upperdir={upper},workdir={work}"
        run([MOUNT, "-t", "overlay", "overlay", "-o", options, str(rootfs / name)])


def make_dir(path: Path, mode: int) -> None:
    """mkdir -p; a folder it creates gets exactly `mode` (the umask would trim 1777)."""
    if not path.is_dir():
        path.mkdir(parents=True)
        os.chmod(path, mode)


def pivot_into(rootfs: Path) -> None:
    """Make `rootfs` the root of every process in this mount namespace and drop the host's."""
    make_dir(rootfs / OLD_ROOT, 0o700)
    os.chdir(rootfs)
    run([PIVOT_ROOT, ".", OLD_ROOT])
    os.chdir("/")
    run([UMOUNT, "--lazy", f"/{OLD_ROOT}"])
    os.rmdir(f"/{OLD_ROOT}")


def mount_volume(mount_path: str) -> None:
    """Move the staged volume onto its mount path, creating the mount point in the pod's view."""
    make_dir(Path(mount_path), 0o755)
    run([MOUNT, "--move", f"/{STAGED_VOLUME}", mount_path])
    os.rmdir(f"/{STAGED_VOLUME}")


# --- what RunPod's start.sh does --------------------------------------------------------------


def setup_home() -> None:
    """Seed the fresh /root as an image would: the skeleton dotfiles, then rp_environment."""
    for name in (".bashrc", ".profile"):
        skeleton = Path("/etc/skel") / name
        if skeleton.is_file():
            Path("/root", name).write_bytes(skeleton.read_bytes())
    with open("/root/.bashrc", "a", encoding="utf-8") as bashrc:
        bashrc.write("source /etc/rp_environment\n")


def write_rp_environment(env: dict[str, str]) -> None:
    """/etc/rp_environment: `export K="V"` for each variable RunPod lists, PUBLIC_KEY excepted."""
    lines = [
        f'export {name}="{shell_double_quote(value)}"\n'
        for name, value in sorted(env.items())
        if ENV_NAME.match(name) and name != "PUBLIC_KEY"
    ]
    rp_environment = Path("/etc/rp_environment")
    rp_environment.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")


def initial_environ() -> dict[str, str]:
    """The environment this process was started with (Python adds LC_CTYPE to os.environ)."""
    raw = Path("/proc/self/environ").read_bytes()
    items = (item.decode(errors="surrogateescape") for item in raw.split(b"\0") if item)
    return dict(item.split("=", 1) for item in items if "=" in item)


def shell_double_quote(value: str) -> str:
    """Escape what stays special inside double quotes, so `source` yields the value unchanged."""
    return re.sub(r'([\\"$`])', r"\\\1", value)


def authorize_key(public_key: str) -> None:
    """Append PUBLIC_KEY to root's authorized_keys, as start.sh does."""
    ssh_dir = Path("/root/.ssh")
    make_dir(ssh_dir, 0o700)
    keys = ssh_dir / "authorized_keys"
    with open(keys, "a", encoding="utf-8") as handle:
        handle.write(public_key.rstrip("\n") + "\n")
    os.chmod(keys, 0o600)


def make_host_keys(pod_id: str) -> list[str]:
    """Replace the image's host keys with new ones: a restarted pod is a new host to clients."""
    ssh_etc = Path("/etc/ssh")
    for old in ssh_etc.glob("ssh_host_*"):
        old.unlink()
    paths = []
    for key_type in HOST_KEY_TYPES:
        path = str(ssh_etc / f"ssh_host_{key_type}_key")
        run([SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", f"root@{pod_id}", "-f", path])
        paths.append(path)
    return paths


def write_sshd_config(port: int, address: str, host_keys: list[str]) -> Path:
    """This pod's sshd_config, replacing the image's one in the pod's /etc."""
    make_dir(Path("/run/sshd"), 0o755)  # privilege separation folder; sshd refuses to start without
    config = Path("/etc/ssh/sshd_config")
    keys = "\n".join(f"HostKey {path}" for path in host_keys)
    config.write_text(SSHD_CONFIG.format(port=port, address=address, host_keys=keys), encoding="utf-8")
    return config


def install_runpodctl(content: bytes) -> None:
    """Put runpodctl on the default PATH of SSH sessions, as RunPod injects it at runtime."""
    target = Path("/usr/local/bin/runpodctl")
    make_dir(target.parent, 0o755)
    target.write_bytes(content)
    os.chmod(target, 0o755)


def set_hostname(pod_id: str) -> None:
    """RunPod's hostname is the pod ID; the UTS namespace keeps it from the host."""
    try:
        socket.sethostname(pod_id)
        Path("/etc/hostname").write_text(pod_id + "\n", encoding="utf-8")
    except OSError as error:
        log(f"hostname not set: {error}")


def boot(config: dict) -> list[str] | None:
    """Everything before sshd; returns sshd's argv, or None when this pod runs no sshd."""
    runpodctl = Path(config["runpodctl"]).read_bytes()  # read before the host's files vanish
    rootfs = build_root(Path(config["container_dir"]), Path(config["volume_dir"]))
    pivot_into(rootfs)
    mount_volume(config["volume_mount_path"])
    set_hostname(config["pod_id"])
    setup_home()
    write_rp_environment(initial_environ())
    install_runpodctl(runpodctl)
    public_key = os.environ.get("PUBLIC_KEY", "")
    if not public_key.strip():
        log("no PUBLIC_KEY: sshd is not started (as on RunPod)")
        return None
    authorize_key(public_key)
    host_keys = make_host_keys(config["pod_id"])
    if config["ssh_port"] is None:
        log("22/tcp is not exposed: sshd is not started")
        return None
    sshd_config = write_sshd_config(config["ssh_port"], config.get("ssh_host", "127.0.0.1"), host_keys)
    return [SSHD, "-D", "-e", "-f", str(sshd_config)]


# --- PID 1 ----------------------------------------------------------------------------------


class Init:
    """The init loop: start sshd when the boot delay ends, reap orphans, stop on SIGTERM.

    Signals only set flags; `signal.set_wakeup_fd` wakes the select, so nothing polls.
    """

    def __init__(self) -> None:
        self.terminating = False
        self.sshd: subprocess.Popen | None = None
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(wakeup_write, False)
        signal.set_wakeup_fd(wakeup_write)
        signal.signal(signal.SIGTERM, self.on_terminate)
        signal.signal(signal.SIGINT, self.on_terminate)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def on_terminate(self, signum: int, _frame: object) -> None:
        self.terminating = True

    def serve(self, sshd_argv: list[str] | None, boot_at: float) -> None:
        """Run until SIGTERM; sshd starts at `boot_at` (wall clock) if there is one."""
        while not self.terminating:
            self.reap()
            timeout = None
            if sshd_argv is not None and self.sshd is None:
                timeout = boot_at - time.time()
                if timeout <= 0:
                    self.start_sshd(sshd_argv)
                    timeout = None
            select.select([self.wakeup_read], [], [], timeout)
            self.drain_wakeups()
        self.shutdown()

    def start_sshd(self, argv: list[str]) -> None:
        # `service ssh start` runs sshd with a clean environment; so does this.
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
        self.sshd = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env)
        log(f"sshd started (pid {self.sshd.pid})")

    def reap(self) -> None:
        """Collect every exited child: orphans (tmux servers, daemons) are reparented to us."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.sshd is not None and pid == self.sshd.pid:
                self.sshd.returncode = os.waitstatus_to_exitcode(status)
                log(f"sshd exited with {self.sshd.returncode}")

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wakeup_read, 512):
                pass
        except BlockingIOError:
            pass

    def shutdown(self) -> None:
        """SIGTERM to every process of the pod and a short grace; the kernel kills what is left."""
        log("SIGTERM: stopping every process")
        try:
            os.kill(-1, signal.SIGTERM)  # from PID 1: every process of the namespace but itself
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while time.monotonic() < deadline:
            self.reap()
            if not has_children():
                break
            select.select([self.wakeup_read], [], [], 0.05)
            self.drain_wakeups()
        log("exit")


def has_children() -> bool:
    """Whether any process other than PID 1 is left in the namespace."""
    return any(entry.isdigit() and entry != "1" for entry in os.listdir("/proc"))


def main(argv: list[str]) -> int:
    """Entry point: `pod_init.py LAUNCH_JSON`; PodHost provides both and the environment."""
    os.umask(0o022)
    init = Init()  # handlers first: a stop during boot must not be lost
    config = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    log(f"booting pod {config['pod_id']} (pid {os.getpid()})")
    try:
        sshd_argv = boot(config)
    except Exception:  # a pod whose boot fails dies, as a container whose entrypoint fails
        log("boot failed:\n" + traceback.format_exc())
        return 1
    log("boot done")
    init.serve(sshd_argv, float(config["boot_at"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
