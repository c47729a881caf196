"""The venv (created when absent or broken) and the setup (run only when its inputs changed)."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys

from .basics import read_text, shell
from .child import Child
from .env import with_venv
from .launch import Launch


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
        digest = _file_digest(os.path.join(code_path, name))
        if digest is not None:
            h.update(b"\0file\0" + name.encode("utf-8") + b"\0" + digest.encode("ascii"))
    return h.hexdigest()


def _file_digest(path: str) -> str | None:
    """sha256 of a file; None when it is not a readable regular file."""
    if not os.path.isfile(path):
        return None
    file_hash = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                file_hash.update(block)
    except OSError:
        return None
    return file_hash.hexdigest()


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


class Preparation:
    """Prepares an attempt before its training; its messages go to the attempt's logs."""

    def __init__(self, launch: Launch, child: Child, write_status):
        self.launch = launch
        self.child = child
        self.tee = child.tee
        self.write_status = write_status  # merges fields into the attempt's status.json

    def run(self, env: dict) -> tuple:
        """(exit code, reason, the children's environment): the venv first, then the setup."""
        if self.launch.venv:
            code, reason = self._ensure_venv(env)
            if code != 0:
                return code, reason, env
            env = with_venv(env, self.launch.venv)
        if not self.launch.setup or self.child.signals.received:
            return 0, None, env
        code, reason = self._setup(env)
        return code, reason, env

    def _setup(self, env: dict) -> tuple:
        hash_path = setup_hash_path(self.launch)
        if read_text(hash_path) == setup_hash(self.launch.setup, self.launch.code_path, self.launch.venv):
            self.tee.line("podreconcile: setup skipped: unchanged since it last succeeded")
            self.write_status({"setup": "skipped"})
            return 0, None
        self.tee.line("podreconcile: setup: running (its inputs changed or it never succeeded here)")
        code, reason = self.child.run([shell(), "-c", self.launch.setup], self.launch.code_path, env)
        self.tee.line("podreconcile: setup exited with %d" % code)
        self.write_status({"setup": "ran" if code == 0 else "failed"})
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

    def _ensure_venv(self, env: dict) -> tuple:
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
        code, reason = self.child.run(argv + [venv], "/", env)
        if code == 0 and not venv_usable(venv):
            code = 1
        if code != 0:
            self.tee.line("podreconcile: creating the venv failed (%d)" % code)
        return code, reason
