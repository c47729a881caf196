"""The emulated network link of one sandbox pod: a TUN pair and netem's faults, in one process.

Why not `tc qdisc ... netem` on a veth pair: these machines' kernels are built without sch_netem
(`CONFIG_NET_SCH_NETEM` is not set and there are no modules to load), so `tc` answers "Specified
qdisc kind is unknown". This process does what netem would, between two TUN devices:

- `prl<N>` in the host's network namespace, address 10.233.x.y/30 (the pod's gateway);
- `eth0` in a network namespace of its own (made here with unshare(CLONE_NEWNET)), the pod's
  address in the same /30, a default route to the gateway, and `lo` up. PodHost then starts the
  pod inside this namespace (`nsenter --net=/proc/<this pid>/ns/net unshare ...`).

Every packet either way is read from one device and written to the other after the configured
one-way delay (plus a uniform jitter, without reordering), its serialization time at `rate`, and a
`loss` draw; while the link is down, every packet is dropped. A queue of more than 1000 packets
per direction drops the new one (netem's default limit).

The gateway also forwards TCP connections made to it on the sandbox API's port to the API on the
host's 127.0.0.1, so a pod reaches the API over its (emulated) link and the API server keeps
listening on the loopback only. Inside the pod, 127.0.0.1:<API port> is forwarded to the gateway
too (across the link): the API URL the laptop used (launch.json's `api_base_url`, the runner's
self-stop fallback) works in the pod as it does in a loopback pod, and as RunPod's does on RunPod.

Nothing here outlives the process: closing the TUN descriptors deletes both devices, the network
namespace goes with its last process, and the address block's lock (an inherited flock) is
released. Run with the system Python, stdlib only, as `link_emulator.py CONFIG_JSON`; SIGUSR1
re-reads the settings file, SIGTERM ends the link.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import heapq
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
IP = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") or "/usr/sbin/ip"
MTU = 1500
QUEUE_LIMIT = 1000  # packets per direction, as netem's default `limit`
READ_BATCH = 64  # packets read from one device before looking at the other
RELAY_BUFFER = 65536
POD_DEVICE = "eth0"


# --- the faults (pure: given the clock and a random source) ------------------------------------


@dataclass(frozen=True)
class Settings:
    """One direction's netem parameters; they apply to both directions alike."""

    delay: float = 0.0  # seconds, one way
    jitter: float = 0.0  # seconds, uniform in [-jitter, +jitter], never below zero in total
    loss: float = 0.0  # probability in [0, 1] that a packet is dropped
    rate: float = 0.0  # bits per second; 0 for unlimited
    down_until: float | None = None  # monotonic time the link comes back; inf for down for good

    @classmethod
    def from_json(cls, raw: dict, wall_now: float, mono_now: float) -> Settings:
        down = raw.get("down_until")  # wall clock in the file: the writer is another process
        if raw.get("down"):
            down_until = float("inf") if down is None else mono_now + (float(down) - wall_now)
        else:
            down_until = None
        return cls(
            delay=float(raw.get("delay_ms", 0)) / 1000,
            jitter=float(raw.get("jitter_ms", 0)) / 1000,
            loss=float(raw.get("loss_pct", 0)) / 100,
            rate=float(raw.get("rate_bps", 0)),
            down_until=down_until,
        )


class Lane:
    """One direction of the link: when each packet arrives at the far end, or that it is lost."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.last_arrival = 0.0  # packets leave in order: never earlier than the one before
        self.wire_free = 0.0  # when the previous packet has finished serializing at `rate`
        self.queued = 0

    def schedule(self, settings: Settings, size: int, now: float) -> float | None:
        """The arrival time of a packet of `size` bytes sent at `now`, or None if it is dropped."""
        if settings.down_until is not None and now < settings.down_until:
            return None
        if self.queued >= QUEUE_LIMIT or (settings.loss and self.rng.random() < settings.loss):
            return None
        sent = now
        if settings.rate:
            self.wire_free = max(self.wire_free, now) + size * 8 / settings.rate
            sent = self.wire_free
        jitter = self.rng.uniform(-settings.jitter, settings.jitter) if settings.jitter else 0.0
        arrival = max(sent + max(0.0, settings.delay + jitter), self.last_arrival)
        self.last_arrival = arrival
        return arrival


# --- devices and the namespace ------------------------------------------------------------------


def open_tun(name: str) -> int:
    """Create TUN device `name` in the current network namespace; it lives as long as the fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, stdin=subprocess.DEVNULL)


def no_ipv6(device: str) -> None:
    """No IPv6 on the link: its router solicitations would only be noise on an emulated link."""
    try:
        Path(f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6").write_text("1")
    except OSError:
        pass  # IPv6 disabled on the host: nothing to silence


def configure(device: str, address: str, prefix: int) -> None:
    no_ipv6(device)
    ip("link", "set", "dev", device, "mtu", str(MTU))
    ip("addr", "add", f"{address}/{prefix}", "dev", device)
    ip("link", "set", "dev", device, "up")


def enter_new_netns() -> None:
    """unshare(CLONE_NEWNET) for this thread (the main one); Python 3.11 has no os.unshare."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")


# --- the API relays -------------------------------------------------------------------------------
# A thread's sockets belong to the network namespace the thread is in, and a thread starts in its
# creator's: the gateway's relay is started before unshare (host side), the pod's after (pod side).


def relay(listener: socket.socket, target: tuple[str, int]) -> None:
    """Accept connections on `listener` and join each to `target`."""
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=join, args=(client, target), daemon=True).start()


def join(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
    pump(client, upstream)


def pump(source: socket.socket, target: socket.socket) -> None:
    """Copy until end of file, then pass the half-close on (HTTP/1.1 keep-alive ends either way)."""
    try:
        while True:
            data = source.recv(RELAY_BUFFER)
            if not data:
                target.shutdown(socket.SHUT_WR)
                return
            target.sendall(data)
    except OSError:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --- the link ----------------------------------------------------------------------------------


class Link:
    """Moves packets between the two devices through two Lanes; SIGUSR1 reloads the settings."""

    def __init__(self, host_fd: int, pod_fd: int, settings_file: Path, applied_file: Path) -> None:
        self.fds = (host_fd, pod_fd)
        self.lanes = {host_fd: Lane(random.Random()), pod_fd: Lane(random.Random())}
        self.settings_file = settings_file
        self.applied_file = applied_file
        self.settings = Settings()
        self.queue: list[tuple[float, int, int, bytes]] = []  # (arrival, seq, target fd, packet)
        self.seq = 0
        self.reload_wanted = True
        self.terminating = False
        self.wakeup_read, wakeup_write = os.pipe()
        for fd in (self.wakeup_read, wakeup_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wakeup_write)
        signal.signal(signal.SIGUSR1, self.on_reload)
        signal.signal(signal.SIGTERM, self.on_terminate)
        signal.signal(signal.SIGINT, self.on_terminate)

    def on_reload(self, *_: object) -> None:
        self.reload_wanted = True

    def on_terminate(self, *_: object) -> None:
        self.terminating = True

    def reload(self) -> None:
        self.reload_wanted = False
        try:
            raw = json.loads(self.settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"link: settings not read ({error}); keeping the current ones", flush=True)
            return
        self.settings = Settings.from_json(raw, time.time(), time.monotonic())
        temporary = self.applied_file.with_name(self.applied_file.name + ".tmp")
        temporary.write_text(json.dumps({"generation": raw.get("generation", 0)}))
        os.replace(temporary, self.applied_file)

    def serve(self) -> None:
        while not self.terminating:
            if self.reload_wanted:
                self.reload()
            self.deliver(time.monotonic())
            timeout = max(0.0, self.queue[0][0] - time.monotonic()) if self.queue else None
            ready, _, _ = select.select([*self.fds, self.wakeup_read], [], [], timeout)
            for fd in ready:
                if fd == self.wakeup_read:
                    drain(fd)
                else:
                    self.receive(fd)

    def receive(self, source: int) -> None:
        target = self.fds[1] if source == self.fds[0] else self.fds[0]
        lane = self.lanes[source]
        for _ in range(READ_BATCH):
            try:
                packet = os.read(source, 65536)
            except BlockingIOError:
                return
            now = time.monotonic()
            arrival = lane.schedule(self.settings, len(packet), now)
            if arrival is None:
                continue
            if arrival <= now and not self.queue:
                write_packet(target, packet)  # nothing to wait for: no queue, no delay
                continue
            lane.queued += 1
            self.seq += 1
            heapq.heappush(self.queue, (arrival, self.seq, target, packet))

    def deliver(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            _, _, target, packet = heapq.heappop(self.queue)
            source = self.fds[1] if target == self.fds[0] else self.fds[0]
            self.lanes[source].queued -= 1
            write_packet(target, packet)


def write_packet(fd: int, packet: bytes) -> None:
    try:
        os.write(fd, packet)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EIO, errno.EINVAL):
            raise


def drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def main(argv: list[str]) -> int:
    """`link_emulator.py CONFIG_JSON`: set the link up, tell the parent on `ready_fd`, then serve."""
    config = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    ready = os.fdopen(config["ready_fd"], "w")
    try:
        link = Link(*setup(config), Path(config["settings_file"]), Path(config["applied_file"]))
    except Exception as error:  # the parent reports it as the pod's start failure
        ready.write(f"error: {error}\n")
        ready.close()
        raise
    ready.write("ready\n")
    ready.close()
    link.serve()
    return 0


def setup(config: dict) -> tuple[int, int]:
    """Both devices, the gateway's API relay, and the pod's namespace; returns the TUN fds."""
    prefix, api_port, gateway = int(config["prefix"]), int(config["api_port"]), config["host_ip"]
    host_fd = open_tun(config["host_device"])
    configure(config["host_device"], gateway, prefix)
    start_relay((gateway, api_port), ("127.0.0.1", api_port))  # before unshare: the host's side
    enter_new_netns()
    ip("link", "set", "dev", "lo", "up")
    pod_fd = open_tun(POD_DEVICE)
    configure(POD_DEVICE, config["pod_ip"], prefix)
    ip("route", "add", "default", "via", gateway, "dev", POD_DEVICE)
    start_relay(("127.0.0.1", api_port), (gateway, api_port))  # after: the pod's side
    return host_fd, pod_fd


def start_relay(listen: tuple[str, int], target: tuple[str, int]) -> None:
    listener = socket.create_server(listen)
    threading.Thread(target=relay, args=(listener, target), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
