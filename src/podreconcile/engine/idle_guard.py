"""Arming the pod-side idle guard (remote/runner/idle_guard.py) on a fresh SSH connection.

One short command per connection, no extra round trip of its own beyond it: the guard archive
travels on its stdin, is written under /run (fresh at every pod start) and `arm` starts the guard
unless one already runs. Arming again is harmless and carries a changed `pod.idle_timeout` over.
"""

from __future__ import annotations

import shlex

from podreconcile.core.ports import PodShell
from podreconcile.core.run_observation import GuardSettings, RunFacts
from podreconcile.remote import guard_archive

GUARD_DIR = "/run/podreconcile"
GUARD_PROGRAM = f"{GUARD_DIR}/idleguard.pyz"


def arm_command(timeout_s: int, mount: str, api_base_url: str | None = None) -> str:
    """Write the archive from stdin (atomically: a running guard keeps its own copy), then arm."""
    tmp = GUARD_PROGRAM + ".tmp"
    return (f"mkdir -p {GUARD_DIR} && cat > {tmp} && mv -f {tmp} {GUARD_PROGRAM} && "
            f"python3 {GUARD_PROGRAM} arm {int(timeout_s)} {shlex.quote(mount)}"
            + (f" {shlex.quote(api_base_url)}" if api_base_url else ""))


def arm(session: PodShell, timeout_s: int, mount: str, api_base_url: str | None = None) -> str | None:
    """Arm the guard; None when it is armed (or switched off), else a note saying why not."""
    result = session.run(arm_command(timeout_s, mount, api_base_url), what="arming the pod's idle guard",
                         stdin=guard_archive(), check=False, timeout=30)
    if result.exit_code == 0:
        return None
    detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return (f"the pod's idle guard could not be armed ({detail[:200]}); an interrupted apply may leave "
            "this pod running until you stop it")


def settings(timeout_s: int, mount: str, api_base_url: str | None) -> GuardSettings:
    """What `arm` records for these values, to compare with what the probe read."""
    return GuardSettings(float(int(timeout_s)), mount, api_base_url or None)


def armed(run: RunFacts, wanted: GuardSettings) -> bool:
    """The probe saw the guard armed with these settings: running, or switched off as asked."""
    return run.guard_settings == wanted and (run.guard_running or wanted.timeout_s <= 0)
