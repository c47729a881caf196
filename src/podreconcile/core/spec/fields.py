"""Field types of the podspec models: each a plain type plus a check whose message states the fix.

Checks raise ValueError with `what is wrong; what to write instead`; the loader puts the location
and the field path in front.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from podreconcile.core.spec.duration import EXAMPLES as DURATION_EXAMPLES
from podreconcile.core.spec.duration import parse_duration

POD_NAME_PREFIX = "podreconcile-"
#: No RunPod limit on pod names is documented; 64 keeps `podreconcile-<name>` a sane label.
POD_NAME_MAX = 64

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_PORT = re.compile(r"(\d+)/(tcp|http)")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty; write a value or remove the key")
    return value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "my-run"
        raise ValueError(
            f"{value!r} is not a valid name; use lowercase letters, digits and '-', "
            f"starting with a letter or digit, e.g. {suggestion!r}"
        )
    longest = POD_NAME_MAX - len(POD_NAME_PREFIX)
    if len(value) > longest:
        raise ValueError(
            f"is {len(value)} characters, but the pod name {POD_NAME_PREFIX}<name> must fit in "
            f"{POD_NAME_MAX}; shorten it to at most {longest} characters"
        )
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(
            f"must be an absolute path on the pod, got {value!r}; start it with '/', "
            "e.g. /workspace/..."
        )
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"must not contain '..', got {value!r}; write the path without it")
    # Normalised so that "is this under the volume?" is a plain prefix comparison.
    return "/" + "/".join(parts)


def _relative(value: str) -> str:
    if value.startswith(("/", "~")):
        raise ValueError(
            f"must be relative to the project folder (where podspec.yaml is), got {value!r}; "
            "write it without the leading '/' or '~'"
        )
    return value


def _inside_project(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError(
            f"must stay inside the project (it is synced with the code), got {value!r}; "
            "move the file into the project and name it relative to it"
        )
    return value


def _port(value: str) -> str:
    found = _PORT.fullmatch(value)
    if not found or not 1 <= int(found.group(1)) <= 65535:
        raise ValueError(
            f"expected a port like '22/tcp' or '6006/http' (1 to 65535), got {value!r}; "
            "write the number, '/', then tcp or http"
        )
    return value


def _env_key(value: str) -> str:
    if not _ENV_KEY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid variable name; use letters, digits and _, "
            "not starting with a digit"
        )
    if value.startswith("RUNPOD_") or value == "PUBLIC_KEY":
        raise ValueError(
            f"{value} is set by RunPod itself (RUNPOD_* and PUBLIC_KEY are reserved); "
            "rename the variable"
        )
    return value


def _duration(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if not (info.context and info.context.get("from_file")):
        return value  # seconds from Python callers; strict int validation follows
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A bare 90 could mean seconds, minutes or hours; a unit makes the file say which.
        raise ValueError(
            f"expected a duration like {DURATION_EXAMPLES}, got {value} without a unit; "
            f"add one, e.g. {value}m or {value}h"
        )
    found = "nothing" if value is None else str(value)
    raise ValueError(f"expected a duration like {DURATION_EXAMPLES}, got {found}; write e.g. 24h")


#: What `pod.idle_timeout` (and any duration that may be switched off) accepts to mean "never".
OFF = "off"


def _duration_or_off(value: Any, info: ValidationInfo) -> Any:
    """A duration, or `off` (0 seconds: the feature is switched off)."""
    if isinstance(value, str) and value.strip().lower() == OFF:
        return 0
    if isinstance(value, bool) and value is False and info.context and info.context.get("from_file"):
        return 0  # YAML 1.1 readers turn a bare `off` into false
    return _duration(value, info)


def placeholders(*, required: str | None, allowed: frozenset[str], example: str) -> AfterValidator:
    """A check that `required` (if any) is present; a `{name}` close to an allowed placeholder is a
    typo. Any other brace is left as written (`awk '{print $0}'`): placeholders are filled literally."""

    def check(value: str) -> str:
        for used in _PLACEHOLDER.findall(value):
            if used not in allowed and difflib.get_close_matches(used, sorted(allowed), n=1, cutoff=0.75):
                raise ValueError(_unknown_placeholder(used, allowed))
        if required and "{" + required + "}" not in value:
            raise ValueError(
                f"must contain {{{required}}}, where podreconcile puts it; e.g. {example!r}"
            )
        return value

    return AfterValidator(check)


def _unknown_placeholder(used: str, allowed: frozenset[str]) -> str:
    close = difflib.get_close_matches(used, sorted(allowed), n=1, cutoff=0.75)
    return f"unknown placeholder {{{used}}}; did you mean {{{close[0]}}}?"


Text = Annotated[str, AfterValidator(_text)]
Name = Annotated[str, AfterValidator(_name)]
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
def _no_parent(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError(
            f"must stay inside the project (where podspec.yaml is), got {value!r}; copy the data into "
            "the project and name it relative to it (a symlink that leads outside is refused too)"
        )
    return value


ProjectPath = Annotated[str, AfterValidator(_relative), AfterValidator(_no_parent)]
SyncedProjectPath = Annotated[str, AfterValidator(_relative), AfterValidator(_inside_project)]
Port = Annotated[str, AfterValidator(_port)]
EnvKey = Annotated[str, AfterValidator(_env_key)]
Seconds = Annotated[int, BeforeValidator(_duration)]
SecondsOrOff = Annotated[int, BeforeValidator(_duration_or_off)]
