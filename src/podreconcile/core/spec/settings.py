"""`.runpod.env` plus the real environment: the secrets and personal settings of one user.

The file is dotenv, read by python-dotenv's parser (`KEY=VALUE` lines, `#` comments, `export `,
quoted values that may span lines). Values are never expanded (`${X}` stays as written). Real
environment variables win over the file, even when empty, as in docker compose and direnv.

Every value is held as a `Secret`: it renders as `(secret)`, so no message, repr or log can show
it. The few settings podreconcile reads as configuration (SSH_KEY_PATH, NETWORK_VOLUME_ID, POD_ID)
are revealed by their properties; RUNPOD_API_KEY stays a Secret until it reaches the adapter.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

from podreconcile.core.secret import Secret
from podreconcile.core.spec.problems import InvalidSpec, Problem
from podreconcile.core.volume_s3 import DEFAULT_ENDPOINT_TEMPLATE, S3Credentials

ENV_FILE_NAME = ".runpod.env"
EXAMPLE_FILE_NAME = ".runpod.env.example"
#: The key `.runpod.env.example` ships with; sending it to RunPod only earns a confusing refusal.
PLACEHOLDER_API_KEY = "rpa_your_key_here"
COPY_EXAMPLE = f"cp {EXAMPLE_FILE_NAME} {ENV_FILE_NAME}"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, repr=False)
class Settings:
    """The merged settings: `.runpod.env` overlaid by the real environment.

    `values` holds every merged variable as a Secret; `env_file` is None when there is no
    `.runpod.env`. `repr()` and `str()` show how many values there are, never what they are.
    """

    values: Mapping[str, Secret]
    env_file: Path | None = None

    def __post_init__(self) -> None:
        # Plain text given here (the environment, tests) is wrapped at once.
        wrapped = {k: v if isinstance(v, Secret) else Secret(v) for k, v in self.values.items()}
        object.__setattr__(self, "values", wrapped)

    def get(self, name: str) -> Secret | None:
        """The value of `name`, or None when it is set nowhere."""
        return self.values.get(name)

    @property
    def api_key(self) -> Secret | None:
        """RUNPOD_API_KEY, or None when unset or empty."""
        return self.values.get("RUNPOD_API_KEY") or None

    @property
    def api_key_is_placeholder(self) -> bool:
        key = self.api_key
        return key is not None and key.reveal().strip() == PLACEHOLDER_API_KEY

    @property
    def ssh_key_path(self) -> Path | None:
        """SSH_KEY_PATH with a leading `~` expanded (using HOME from these settings), or None."""
        raw = self._plain("SSH_KEY_PATH")
        if raw is None:
            return None
        home = self._plain("HOME")
        if home and (raw == "~" or raw.startswith("~/")):
            return Path(home + raw[1:])
        return Path(raw).expanduser()

    @property
    def network_volume_id(self) -> str | None:
        """NETWORK_VOLUME_ID, or None when unset or empty."""
        return self._plain("NETWORK_VOLUME_ID")

    @property
    def pod_id(self) -> str | None:
        """POD_ID left by the original shell scripts; adopted when no state file exists."""
        return self._plain("POD_ID")

    @property
    def s3_credentials(self) -> S3Credentials | None:
        """RunPod's S3 key pair: RUNPOD_S3_ACCESS_KEY/RUNPOD_S3_SECRET_KEY, else the standard
        AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when that access key is a RunPod one (`user_...`,
        so real AWS keys are never sent to RunPod); None unless a pair is complete."""
        access, secret = self._plain("RUNPOD_S3_ACCESS_KEY"), self._plain("RUNPOD_S3_SECRET_KEY")
        if access and secret:
            return S3Credentials(access, secret)
        access, secret = self._plain("AWS_ACCESS_KEY_ID"), self._plain("AWS_SECRET_ACCESS_KEY")
        if access and secret and access.startswith("user_"):
            return S3Credentials(access, secret)
        return None

    @property
    def s3_endpoint_template(self) -> str:
        """RUNPOD_S3_ENDPOINT_URL, a URL with `{datacenter}` (default RunPod's `https://s3api-{datacenter}.runpod.io`)."""
        return self._plain("RUNPOD_S3_ENDPOINT_URL") or DEFAULT_ENDPOINT_TEMPLATE


    def missing(self, name: str) -> str:
        """The sentence for a setting that is not set: names a missing `.runpod.env` as such."""
        if self.env_file is None:
            return (f"{ENV_FILE_NAME} is missing next to podspec.yaml, so {name} is not set; create it with "
                    f"`{COPY_EXAMPLE}` and fill in your values (or set {name} in the environment).")
        return f"{name} is not set; put it in {self.env_file} or the environment."

    def _plain(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.reveal() if value else None

    def __repr__(self) -> str:
        where = f", env_file={str(self.env_file)!r}" if self.env_file else ""
        return f"Settings(<{len(self.values)} values hidden>{where})"

    __str__ = __repr__


def load_settings(project_dir: Path, environ: Mapping[str, str]) -> Settings:
    """Read `<project_dir>/.runpod.env` if present and overlay `environ` (which wins).

    Raises SpecError (located at `.runpod.env:line`) for a line that is not `KEY=VALUE`.
    """
    env_file = Path(project_dir) / ENV_FILE_NAME
    if not env_file.is_file():
        return Settings(dict(environ), None)
    try:
        text = env_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidSpec([Problem(str(env_file), None, None, "", (
            "is not UTF-8 text; save it as UTF-8 (KEY=VALUE lines)"
        ))]) from None
    return Settings({**parse_dotenv(text, str(env_file)), **environ}, env_file)


def parse_dotenv(text: str, file: str) -> dict[str, str]:
    """Parse dotenv text with python-dotenv; later assignments of a key win, as in a shell.

    python-dotenv skips what it cannot parse; here such a line is an error located at its line,
    and never quoted (it may hold a key).
    """
    result: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text.lstrip("\ufeff").replace("\r\n", "\n"))):
        line = binding.original.line
        if binding.error:
            _fail(file, line, "cannot be read as KEY=VALUE (is a quote left open?); fix or remove this line")
        if binding.key is None:
            continue  # a blank line or a comment
        if not _KEY.fullmatch(binding.key):
            _fail(file, line, "expected KEY=VALUE, where KEY is letters, digits and _; fix or remove this line")
        if binding.value is None:
            _fail(file, line, f"{binding.key}: expected '=' after the name; write {binding.key}=VALUE")
        result[binding.key] = binding.value
    return result


def _fail(file: str, line: int, message: str) -> None:
    raise InvalidSpec([Problem(file, line, 1, "", message)])
