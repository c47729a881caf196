"""`.runpod.env` plus the real environment: the secrets and personal settings of one user.

The file is dotenv: `KEY=VALUE` lines, `#` comments, an optional `export ` prefix, values bare,
'single-quoted' (taken literally) or "double-quoted" (\\n, \\t, \\", \\\\ and \\$ decoded). Quoted values
may span lines, which private keys need. Values are never expanded (`${X}` stays as written).
Real environment variables win over the file, even when empty, as in docker compose and direnv.

Nothing here ever puts a value into a message or a repr: they are API keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from podreconcile.core.spec.problems import InvalidSpec, Problem
from podreconcile.core.volume_s3 import DEFAULT_ENDPOINT_TEMPLATE, S3Credentials

ENV_FILE_NAME = ".runpod.env"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True, repr=False)
class Settings:
    """The merged settings: `.runpod.env` overlaid by the real environment.

    `values` holds every merged variable; the properties give the ones podreconcile itself uses,
    with empty strings read as unset. `repr()` and `str()` show how many values there are, never
    what they are.
    """

    values: Mapping[str, str]
    env_file: Path | None = None

    def get(self, name: str) -> str | None:
        """The value of `name`, or None when it is set nowhere."""
        return self.values.get(name)

    @property
    def api_key(self) -> str | None:
        """RUNPOD_API_KEY, or None when unset or empty."""
        return self._non_empty("RUNPOD_API_KEY")

    @property
    def ssh_key_path(self) -> Path | None:
        """SSH_KEY_PATH with a leading `~` expanded (using HOME from these settings), or None."""
        raw = self._non_empty("SSH_KEY_PATH")
        if raw is None:
            return None
        home = self._non_empty("HOME")
        if home and (raw == "~" or raw.startswith("~/")):
            return Path(home + raw[1:])
        return Path(raw).expanduser()

    @property
    def network_volume_id(self) -> str | None:
        """NETWORK_VOLUME_ID, or None when unset or empty."""
        return self._non_empty("NETWORK_VOLUME_ID")

    @property
    def pod_id(self) -> str | None:
        """POD_ID left by the original shell scripts; adopted when no state file exists."""
        return self._non_empty("POD_ID")

    @property
    def s3_credentials(self) -> S3Credentials | None:
        """RunPod's S3 key pair: RUNPOD_S3_ACCESS_KEY/RUNPOD_S3_SECRET_KEY, else the standard
        AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when that access key is a RunPod one (`user_...`,
        so real AWS keys are never sent to RunPod); None unless a pair is complete."""
        access, secret = self._non_empty("RUNPOD_S3_ACCESS_KEY"), self._non_empty("RUNPOD_S3_SECRET_KEY")
        if access and secret:
            return S3Credentials(access, secret)
        access, secret = self._non_empty("AWS_ACCESS_KEY_ID"), self._non_empty("AWS_SECRET_ACCESS_KEY")
        if access and secret and access.startswith("user_"):
            return S3Credentials(access, secret)
        return None

    @property
    def s3_endpoint_template(self) -> str:
        """RUNPOD_S3_ENDPOINT_URL, a URL with `{datacenter}` (default RunPod's `https://s3api-{datacenter}.runpod.io`)."""
        return self._non_empty("RUNPOD_S3_ENDPOINT_URL") or DEFAULT_ENDPOINT_TEMPLATE

    def _non_empty(self, name: str) -> str | None:
        return self.values.get(name) or None

    def __repr__(self) -> str:
        where = f", env_file={str(self.env_file)!r}" if self.env_file else ""
        return f"Settings(<{len(self.values)} values hidden>{where})"

    __str__ = __repr__


def load_settings(project_dir: Path, environ: Mapping[str, str]) -> Settings:
    """Read `<project_dir>/.runpod.env` if present and overlay `environ` (which wins).

    Raises SpecError (located at `.runpod.env:line:col`) for a line that is not `KEY=VALUE`.
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
    """Parse dotenv text; later assignments of a key win, as in a shell."""
    return _DotenvReader(text.lstrip("\ufeff").replace("\r\n", "\n"), file).read()


class _DotenvReader:
    """A one-pass scanner: quoted values may cross lines, so reading line by line is not enough."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file, self.pos = text, file, 0

    def read(self) -> dict[str, str]:
        result: dict[str, str] = {}
        while self.pos < len(self.text):
            self._skip(" \t")
            if self._at_line_end_or_comment():
                self._skip_line()
                continue
            key = self._key()
            result[key] = self._value()
        return result

    def _key(self) -> str:
        export = _EXPORT.match(self.text, self.pos)
        # `export=1` assigns a variable named export; only `export NAME` is the prefix.
        if export and _KEY.match(self.text, export.end()):
            self.pos = export.end()
        found = _KEY.match(self.text, self.pos)
        if not found:
            self._fail("expected KEY=VALUE, where KEY is letters, digits and _; fix or remove this line")
        self.pos = found.end()
        self._skip(" \t")
        if self._peek() != "=":
            self._fail(f"{found.group()}: expected '=' after the name; write {found.group()}=VALUE")
        self.pos += 1
        return found.group()

    def _value(self) -> str:
        # Whitespace is kept in view: `KEY= # note` is empty, while `KEY=#abc` is "#abc".
        bare_start = self.pos
        self._skip(" \t")
        quote = self._peek()
        if quote in ("'", '"'):
            value = self._quoted(quote)
            self._skip(" \t")
            if not self._at_line_end_or_comment():
                self._fail("unexpected text after the closing quote; put a '#' before a comment")
        else:
            end = self.text.find("\n", self.pos)
            end = len(self.text) if end < 0 else end
            value = re.split(r"[ \t]+#", self.text[bare_start:end], maxsplit=1)[0].strip(" \t")
            self.pos = end
        self._skip_line()
        return value

    def _quoted(self, quote: str) -> str:
        start, self.pos = self.pos, self.pos + 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars)
            if char == "\\" and quote == '"' and self.pos + 1 < len(self.text):
                following = self.text[self.pos + 1]
                chars.append(_ESCAPES.get(following, "\\" + following))
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        self.pos = start
        self._fail(f"the value's {quote} quote is never closed; add the closing {quote}")

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip(self, chars: str) -> None:
        while self._peek() and self._peek() in chars:
            self.pos += 1

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def _at_line_end_or_comment(self) -> bool:
        return self._peek() in ("", "\n", "#")

    def _fail(self, message: str) -> None:
        line = self.text.count("\n", 0, self.pos) + 1
        col = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        raise InvalidSpec([Problem(self.file, line, col, "", message)])
