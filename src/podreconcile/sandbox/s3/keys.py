"""The sandbox's S3 key pair and the export lines a client needs: what `sandbox up` and `status` print.

Apart from the server (service.py), so that a `sandbox` command reads them without importing the S3
server, its XML documents and http.server (CLI start-up, docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import string
from pathlib import Path


def load_keys(home: Path) -> tuple[str, str]:
    """The sandbox's S3 key pair, made on first use and kept owner-readable only."""
    path = home / "s3-keys.json"
    try:
        raw = json.loads(path.read_text())
        return raw["access_key"], raw["secret_key"]
    except (OSError, ValueError, KeyError):
        pass
    alphabet = string.ascii_letters + string.digits
    access = "user_" + "".join(secrets.choice(alphabet) for _ in range(27))
    secret = "rps_" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(40))
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"access_key": access, "secret_key": secret}, f)
    os.replace(tmp, path)
    return access, secret


def exports(home: Path, url: str | None) -> list[str]:
    """The export lines a client needs: the key pair and the endpoint template with `{datacenter}`."""
    if not url:
        return []
    access, secret = load_keys(home)
    return [
        f"export RUNPOD_S3_ACCESS_KEY={shlex.quote(access)}",
        f"export RUNPOD_S3_SECRET_KEY={shlex.quote(secret)}",
        f"export RUNPOD_S3_ENDPOINT_URL={shlex.quote(url + '/{datacenter}')}",
    ]
