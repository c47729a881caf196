"""How data sync calls its pod-side script (remote/datasync_pod.py)."""

from __future__ import annotations

import shlex
from functools import cache
from importlib import resources

from podreconcile.engine.datasync.model import PART_SUFFIX, RSYNC_PARTIAL_DIR


def _script_command(mode: str) -> str:
    args = (_remote_script(), mode, PART_SUFFIX, RSYNC_PARTIAL_DIR)
    return "python3 -c " + " ".join(shlex.quote(arg) for arg in args)


@cache
def _remote_script() -> str:
    return resources.files("podreconcile.remote").joinpath("datasync_pod.py").read_text()
