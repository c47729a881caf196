"""Emulated links for sandbox pods, host side: netem settings, address blocks, the link process.

With `sandbox up --network emulated`, each pod runs in a network namespace of its own, joined to
the host by a link that `link_emulator.py` runs (see there why not `tc netem`). This module
allocates the link's addresses, starts and stops that process, and changes its settings:

    state_dir/<pod_id>/link.json       the link's addresses, device and process (pid, start time)
    state_dir/<pod_id>/netem.json      the settings the process applies (rewritten by `sandbox link`)
    state_dir/<pod_id>/netem.applied   the settings generation the process has applied

Addresses: one /30 per pod out of 10.233.0.0/16 (gateway .1, pod .2 of the block); a block is taken
by an exclusive flock on `/run/podreconcile/links/<block>.lock`, which the link process inherits and
holds while it lives, so two sandboxes side by side never share a block and a killed link frees its
block by itself. Blocks that overlap a route of the machine's own are never used.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import random
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import link_emulator

LINK_RANGE = ipaddress.ip_network("10.233.0.0/16")
PREFIX = 30
LOCK_DIR = Path("/run/podreconcile/links")
DEVICE_PREFIX = "prl"  # host-side devices: prl<block>, at most 8 characters
EMULATOR = Path(link_emulator.__file__)
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT = 10.0
APPLY_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
NETWORK_MODES = ("loopback", "emulated")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s)?$")
RATE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$", re.IGNORECASE)
DURATION_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, None: 1.0}  # to milliseconds; bare: ms
RATE_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


class LinkError(Exception):
    """A link that cannot be made or changed; the message says why and what to do."""


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Netem:
    """What `sandbox link` sets: one-way delay and jitter (both directions), loss, rate, down."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_bps: float = 0.0
    down: bool = False
    down_for: float | None = None  # seconds; None with down: until the next `sandbox link`

    def to_file(self, generation: int) -> dict:
        down_until = time.time() + self.down_for if self.down and self.down_for is not None else None
        return {"generation": generation, "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms,
                "loss_pct": self.loss_pct, "rate_bps": self.rate_bps, "down": self.down,
                "down_until": down_until}  # fmt: skip

    def describe(self) -> str:
        if self.down:
            return "down" + (f" for {self.down_for:g}s" if self.down_for is not None else " until cleared")
        parts = [f"delay {self.delay_ms:g}ms" if self.delay_ms else "",
                 f"jitter {self.jitter_ms:g}ms" if self.jitter_ms else "",
                 f"loss {self.loss_pct:g}%" if self.loss_pct else "",
                 f"rate {format_rate(self.rate_bps)}" if self.rate_bps else ""]  # fmt: skip
        return " ".join(p for p in parts if p) or "clear (no delay, no loss)"


def parse_duration_ms(text: str, what: str) -> float:
    """`25ms`, `0.5s`, `250us` or a bare number of milliseconds -> milliseconds."""
    match = DURATION.match(text.strip().lower())
    if not match:
        raise LinkError(f"{what} {text!r} is not a duration; write it like 25ms, 0.5s or 250us.")
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def parse_loss_pct(text: str) -> float:
    value = text.strip().removesuffix("%")
    try:
        pct = float(value)
    except ValueError:
        raise LinkError(f"loss {text!r} is not a percentage; write it like 5%.") from None
    if not 0 <= pct <= 100:
        raise LinkError(f"loss {text!r} must lie between 0% and 100%.")
    return pct


def parse_rate_bps(text: str) -> float:
    match = RATE.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise LinkError(f"rate {text!r} is not a rate; write it like 100mbit, 512kbit or 1gbit.")
    return float(match.group(1)) * RATE_UNITS[match.group(2).lower()]


def format_rate(bps: float) -> str:
    for unit in ("gbit", "mbit", "kbit"):
        if bps >= RATE_UNITS[unit]:
            return f"{bps / RATE_UNITS[unit]:g}{unit}"
    return f"{bps:g}bit"


def netem_from_options(delay: str | None = None, jitter: str | None = None, loss: str | None = None,
                       rate: str | None = None, down: bool = False, down_for: str | None = None) -> Netem:  # fmt: skip
    """The settings of `sandbox link` options; `--for` only with `--down`, jitter only with a delay."""
    if down_for is not None and not down:
        raise LinkError("--for only goes with --down (the link comes back after that long).")
    if down and any(v is not None for v in (delay, jitter, loss, rate)):
        raise LinkError("--down drops every packet; give it alone (with --for), not with --delay/--loss/--rate.")
    delay_ms = parse_duration_ms(delay, "delay") if delay is not None else 0.0
    jitter_ms = parse_duration_ms(jitter, "jitter") if jitter is not None else 0.0
    if jitter_ms and not delay_ms:
        raise LinkError("--jitter varies a delay: give --delay too.")
    seconds = parse_duration_ms(down_for, "--for") / 1000 if down_for is not None else None
    return Netem(delay_ms=delay_ms, jitter_ms=jitter_ms,
                 loss_pct=parse_loss_pct(loss) if loss is not None else 0.0,
                 rate_bps=parse_rate_bps(rate) if rate is not None else 0.0,
                 down=down, down_for=seconds)  # fmt: skip


def parse_netem(text: str) -> Netem:
    """`sandbox up --netem "delay 25ms jitter 5ms loss 5% rate 100mbit"` (tc netem's words)."""
    words = text.split()
    if len(words) % 2:
        raise LinkError(f"--netem {text!r}: write pairs like \"delay 25ms loss 5%\".")
    options: dict[str, str] = {}
    for name, value in zip(words[::2], words[1::2]):
        if name not in ("delay", "jitter", "loss", "rate"):
            raise LinkError(f"--netem {text!r}: {name!r} is not one of delay, jitter, loss, rate.")
        options[name] = value
    return netem_from_options(**options)


def netem_from_dict(raw: dict) -> Netem:
    return Netem(**{k: v for k, v in raw.items() if k in Netem.__dataclass_fields__})


# --- what the machine can do ------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Why this machine cannot run emulated links, or None when it can."""
    if os.geteuid() != 0:
        return "emulated links need root (network namespaces and TUN devices)"
    if not os.path.exists("/dev/net/tun"):
        return "emulated links need /dev/net/tun (the kernel's TUN driver)"
    if not os.path.exists(link_emulator.IP):
        return "emulated links need iproute2's `ip` (apt-get install iproute2, or run scripts/setup)"
    if not os.path.exists(SYSTEM_PYTHON):
        return f"emulated links need {SYSTEM_PYTHON}"
    return None


# --- address blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    number: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"{LINK_RANGE.network_address + 4 * self.number}/{PREFIX}")

    @property
    def host_ip(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def pod_ip(self) -> str:
        return str(self.network.network_address + 2)

    @property
    def device(self) -> str:
        return f"{DEVICE_PREFIX}{self.number}"


def foreign_routes() -> list[ipaddress.IPv4Network]:
    """IPv4 routes of the main table not made by a link of ours (from /proc/net/route)."""
    routes = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or re.fullmatch(rf"{DEVICE_PREFIX}\d+", fields[0]):
            continue
        destination, mask = (ipaddress.IPv4Address(bytes.fromhex(f)[::-1]) for f in (fields[1], fields[7]))
        if int(mask):  # the default route covers everything and conflicts with nothing
            routes.append(ipaddress.ip_network(f"{destination}/{mask}", strict=False))
    return routes


def allocate() -> tuple[Block, int]:
    """Take a free block: returns it and the fd holding its lock (pass it on, then close it)."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    taken = [r for r in foreign_routes() if r.overlaps(LINK_RANGE)]
    count = LINK_RANGE.num_addresses // 4
    start = random.randrange(count)  # spread sandboxes side by side over the range
    for offset in range(count):
        block = Block((start + offset) % count)
        if any(block.network.overlaps(r) for r in taken) or Path("/sys/class/net", block.device).exists():
            continue
        fd = os.open(LOCK_DIR / f"{block.number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return block, fd
    raise LinkError(f"no free /30 block left in {LINK_RANGE} for an emulated link; stop some pods.")


# --- the link process -------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkInfo:
    """A running link: where the pod is, its gateway, and the process (pid + start time)."""

    block: int
    host_ip: str
    pod_ip: str
    device: str
    pid: int
    started: str

    @property
    def netns(self) -> str:
        return f"/proc/{self.pid}/ns/net"


def open_link(pod_dir: Path, api_port: int, netem: Netem) -> LinkInfo:
    """Start the pod's link process with `netem` applied; returns once both devices are up."""
    pod_dir.mkdir(parents=True, exist_ok=True)
    close_link(pod_dir)  # a link left by a crashed server: its block and namespace are stale
    block, lock_fd = allocate()
    write_settings(pod_dir, netem, generation=1)
    ready_read, ready_write = os.pipe()
    config = {"host_device": block.device, "host_ip": block.host_ip, "pod_ip": block.pod_ip, "prefix": PREFIX,
              "api_port": api_port, "ready_fd": ready_write, "settings_file": str(pod_dir / "netem.json"),
              "applied_file": str(pod_dir / "netem.applied")}  # fmt: skip
    write_json(pod_dir / "link-launch.json", config)
    try:
        with open(pod_dir / "link.log", "ab") as log:
            process = subprocess.Popen(
                [SYSTEM_PYTHON, "-I", "-u", str(EMULATOR), str(pod_dir / "link-launch.json")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
                start_new_session=True, pass_fds=(lock_fd, ready_write),
            )  # fmt: skip
    finally:
        os.close(lock_fd)  # the child holds the lock now (or nobody, if it failed to start)
        os.close(ready_write)
    info = LinkInfo(block.number, block.host_ip, block.pod_ip, block.device, process.pid, _start_time(process.pid) or "-")
    write_json(pod_dir / "link.json", info.__dict__)
    answer = _read_ready(ready_read, READY_TIMEOUT)
    if answer != "ready":
        close_link(pod_dir)
        raise LinkError(f"the emulated link did not come up ({answer}); see {pod_dir / 'link.log'}.")
    return info


def _read_ready(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return f"no answer within {timeout:.0f} s"
            chunk = os.read(fd, 4096)
            if not chunk:
                return "the link process exited"
            data += chunk
    finally:
        os.close(fd)
    return data.decode(errors="replace").strip()


def link_info(pod_dir: Path) -> LinkInfo | None:
    """The pod's link if its process is alive (and is still that process)."""
    try:
        info = LinkInfo(**json.loads((pod_dir / "link.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if _start_time(info.pid) == info.started else None


def close_link(pod_dir: Path) -> None:
    """End the link process (its devices and lock go with it). Idempotent."""
    info = link_info(pod_dir)
    if info is not None:
        _signal(info, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _start_time(info.pid) == info.started and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.02)
        if _start_time(info.pid) == info.started:
            _signal(info, signal.SIGKILL)
            while _start_time(info.pid) == info.started and time.monotonic() < deadline + STOP_TIMEOUT:
                _reap(info.pid)
                time.sleep(0.02)
        # The kernel deletes the host's device just after the process is gone: wait for that too.
        while Path("/sys/class/net", info.device).exists() and time.monotonic() < deadline + STOP_TIMEOUT:
            time.sleep(0.02)
    (pod_dir / "link.json").unlink(missing_ok=True)


def apply(pod_dir: Path, netem: Netem) -> None:
    """Give the running link new settings; returns once the link process has applied them."""
    info = link_info(pod_dir)
    if info is None:
        raise LinkError("the pod has no running emulated link (is it running?).")
    # Numbered after the last settings written, not the last applied: the process may not have
    # applied its first settings yet, and an equal number would count as applied already.
    generation = _written_generation(pod_dir) + 1
    write_settings(pod_dir, netem, generation)
    _signal(info, signal.SIGUSR1)
    deadline = time.monotonic() + APPLY_TIMEOUT
    while _applied_generation(pod_dir) < generation:
        if time.monotonic() > deadline:
            raise LinkError(f"the link process did not apply the settings within {APPLY_TIMEOUT:.0f} s.")
        time.sleep(0.01)


def current(pod_dir: Path) -> Netem:
    """The settings last written for the pod's link (clear when there are none)."""
    try:
        raw = json.loads((pod_dir / "netem.json").read_text())
    except (OSError, ValueError):
        return Netem()
    down_until = raw.get("down_until")
    if raw["down"] and down_until is not None and down_until <= time.time():
        return Netem()  # a cut with --for that has ended: the link is plain again
    down_for = None if down_until is None else down_until - time.time()
    return Netem(raw["delay_ms"], raw["jitter_ms"], raw["loss_pct"], raw["rate_bps"], raw["down"], down_for)


def write_settings(pod_dir: Path, netem: Netem, generation: int) -> None:
    write_json(pod_dir / "netem.json", netem.to_file(generation))


def _applied_generation(pod_dir: Path) -> int:
    return _generation(pod_dir / "netem.applied")


def _written_generation(pod_dir: Path) -> int:
    return _generation(pod_dir / "netem.json")


def _generation(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def write_json(path: Path, content: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _signal(info: LinkInfo, signum: int) -> None:
    if _start_time(info.pid) == info.started:
        try:
            os.kill(info.pid, signum)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    """Collect the link process if it is our child (else it would linger as a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks; None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]
