"""Code sync `git`: the pod clones `code.repo` once, then `git pull --ff-only` at every sync.

The pod needs access to the repository itself (a public URL, a deploy key on the volume, or a path
on the volume); podreconcile never sends credentials. The revision the pod ends up on is recorded
like a pushed sync's, so plan compares it with the local HEAD.
"""

from __future__ import annotations

import re
import shlex

from podreconcile.core.errors import UserError
from podreconcile.core.ports import PodShell
from podreconcile.engine.codesync import REVISION_NAME

_SHA = re.compile(r"[0-9a-f]{4,64}")


def remote_revision(session: PodShell, code_path: str) -> str | None:
    """The pod's checked-out commit (short sha), or None when there is no clone yet."""
    result = session.run(f"git -C {shlex.quote(code_path)} rev-parse --short HEAD 2>/dev/null",
                         what="reading the pod's git revision", check=False, timeout=60)
    revision = result.stdout.strip()
    # Whatever else the pod prints is not a commit (and would be shown to the user).
    return revision if result.exit_code == 0 and _SHA.fullmatch(revision) else None


def pull(session: PodShell, code_path: str, repo: str | None) -> str:
    """Clone (the first time) or fast-forward the pod's checkout; returns the revision it is on."""
    q, path = shlex.quote, shlex.quote(code_path)
    if remote_revision(session, code_path) is None:
        if not repo:
            raise UserError(f"code.sync is git but {code_path} on the pod is not a clone and code.repo is not set; "
                            "set code.repo in podspec.yaml to the URL the pod should clone.")
        command = f"mkdir -p {q(code_path.rsplit('/', 1)[0] or '/')} && git clone --quiet {q(repo)} {path}"
    else:
        command = f"git -C {path} pull --ff-only --quiet"
    result = session.run(command, what="updating the code with git on the pod", check=False, timeout=600)
    if result.exit_code != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"git on the pod failed ({detail[0]}); check code.repo and that the pod can reach it.")
    revision = remote_revision(session, code_path) or ""
    session.run(f"printf %s {q(revision)} > {path}/{REVISION_NAME}", what="recording the revision", timeout=30)
    return revision
