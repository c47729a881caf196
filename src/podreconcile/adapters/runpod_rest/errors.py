"""RunPod v2's failures translated once into core's errors.

RunPod answers errors as RFC 9457 problem documents (`application/problem+json`: title, status,
detail, errors). A gateway in front of it may answer an HTML page instead; the status code decides
what either means, never whether the body parsed. Messages are built from the operation, the status
and RunPod's `detail`: never from the request (env values) or its headers (the key).
"""

from __future__ import annotations

import email.utils
import json
import time

import httpx
from pydantic import ValidationError

from podreconcile.adapters.runpod_rest.models import Problem
from podreconcile.adapters.runpod_wording import (
    KEY_PERMISSIONS_FIX,
    generic_error,
    is_capacity,
    is_generic,
    is_host_busy,
)
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.ports import (
    ActionConflictError,
    HostGpusBusyError,
    NoCapacityError,
    NotFoundError,
)

MAX_DETAIL = 300


def problem_of(response: httpx.Response) -> Problem:
    """The problem document of an error answer; an empty one when the body is not one (HTML, text)."""
    try:
        data = json.loads(response.content or b"null")
        return Problem.model_validate(data) if isinstance(data, dict) else Problem()
    except (ValueError, ValidationError):
        return Problem()


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date), or None when absent or unreadable."""
    raw = (response.headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def translate(operation: str, response: httpx.Response) -> Exception:
    """The error for a non-2xx answer to `operation` (e.g. "stop pod abc123")."""
    status = response.status_code
    problem = problem_of(response)
    detail = _detail(problem, response)
    said = f"RunPod {operation}: HTTP {status}" + (f", {detail}" if detail else "")
    if status == 429:
        wait = retry_after(response)
        asked = f"; RunPod asks to wait {wait:.0f} s" if wait is not None else ""
        return TemporaryError(f"{said} (rate limited{asked})", retry_after=wait)
    if status >= 500 and is_generic(detail):
        return generic_error(said)
    if status >= 500 or status == 408:
        return TemporaryError(said)
    if status == 401:
        return UserError("RunPod refused the API key (HTTP 401); set a valid RUNPOD_API_KEY in the environment "
                         "or .runpod.env.")
    if status == 403:
        return UserError(f"RunPod's API key may not {operation} (HTTP 403{', ' + detail if detail else ''}); "
                         + KEY_PERMISSIONS_FIX)
    if status == 402:
        return UserError(f"RunPod {operation}: the account's balance is too low (HTTP 402); add credit in the "
                         "RunPod console, then apply again.")
    return _client_error(status, said, problem)


def _client_error(status: int, said: str, problem: Problem) -> Exception:
    if status == 404:
        return NotFoundError(said)
    if status == 409:
        return ActionConflictError(said)
    if is_host_busy(problem.detail):
        return HostGpusBusyError(said)
    if is_capacity(problem.detail):
        return NoCapacityError(said)
    if status == 422 and problem.errors:
        return PermanentError(f"{said}: {'; '.join(problem.errors)[:MAX_DETAIL]}")
    return PermanentError(said)


def _detail(problem: Problem, response: httpx.Response) -> str:
    if problem.detail or problem.title:
        return (problem.detail or problem.title).strip()[:MAX_DETAIL]
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if "html" in kind:
        return "an HTML page (a gateway or proxy answered, not the API)"
    return ""


def transport_error(operation: str, base_url: str, error: httpx.TransportError) -> TemporaryError:
    """A timeout or network failure: RunPod may or may not have acted on the request."""
    if isinstance(error, httpx.TimeoutException):
        return TemporaryError(f"RunPod {operation}: no answer in time ({type(error).__name__}); it may still "
                              "have taken effect")
    return TemporaryError(f"could not reach the RunPod API at {base_url} ({type(error).__name__}); check the "
                          "network, or for the sandbox run `eval \"$(podreconcile sandbox up)\"`")


def shape_error(operation: str, error: ValidationError) -> PermanentError:
    """An answer that does not have the documented shape; names the fields, never their values."""
    where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                      for e in error.errors(include_input=False, include_url=False)[:5])
    return PermanentError(f"RunPod {operation}: the answer does not have the documented shape ({where})")
