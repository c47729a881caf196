"""One HTTP connection to RunPod's REST v2 API (httpx), with the key as a Bearer header.

A command run makes one `Client`, so every call reuses the same connection. The key lives only in
the client's default headers: never in a URL, a repr or an exception. Every answer passes through
here: a 2xx body is validated against its model, anything else becomes one of core's errors
(errors.translate). Nothing is retried here; the engine's one retry policy does that.
"""

from __future__ import annotations

import json
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from podreconcile import __version__
from podreconcile.adapters import tls
from podreconcile.adapters.runpod_rest import errors
from podreconcile.core.errors import TemporaryError

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "https://api.runpod.io"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def segment(value: str) -> str:
    """A value as one path segment (an id with `/` or `?` cannot change the path)."""
    return quote(value, safe="")


class Client:
    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *,
                 transport: httpx.BaseTransport | None = None, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/v2", transport=transport, timeout=timeout, follow_redirects=False,
            verify=tls.context(),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                     "User-Agent": f"podreconcile/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key=<hidden>)"

    def close(self) -> None:
        self._http.close()

    def call(self, operation: str, method: str, path: str, *, params: dict | None = None,
             body: dict | None = None) -> httpx.Response:
        """Send one request; a 2xx answer is returned, anything else raised as core's error."""
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as error:
            raise errors.transport_error(operation, self.base_url, error) from None
        if not response.is_success:
            raise errors.translate(operation, response)
        return response

    def read(self, operation: str, method: str, path: str, model: type[M], *, params: dict | None = None,
             body: dict | None = None) -> M:
        """Send one request and validate the 2xx answer's body as `model`."""
        response = self.call(operation, method, path, params=params, body=body)
        try:
            data = json.loads(response.content)
        except ValueError:
            # A 2xx that is not JSON came from something in front of RunPod, not from the API.
            raise TemporaryError(f"RunPod {operation}: HTTP {response.status_code} but the answer is not JSON") from None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise errors.shape_error(operation, error) from None
