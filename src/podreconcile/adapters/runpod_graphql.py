"""RunPod, through the runpod SDK's GraphQL transport. The only module that imports `runpod`.

Queries are built here, not with the SDK's helpers: those paste values unescaped into the query text
(a `"` in an env value breaks the call, a crafted one adds fields) and make extra calls (create_pod
asks for the GPU and the user first). Every value goes in as a JSON string literal, which is a valid
GraphQL string literal, so it arrives byte-identical; each operation is one call.

The SDK's exceptions are translated once, in `_call`, into temporary, permanent and user errors.
Messages never include the query text (it holds env values) or the key.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys

from podreconcile.adapters.runpod_wording import (
    KEY_PERMISSIONS_FIX,
    classify,
    generic_error,
    is_generic,
    is_unauthorized,
)
from podreconcile.core.errors import PermanentError, TemporaryError, UserError
from podreconcile.core.observation import PodFacts, VolumeFacts
from podreconcile.core.ports import ApiRetiredError, CreateRequest, NotFoundError

__all__ = ["RunPod", "classify", "gql"]

POD_FIELDS = """
  id name desiredStatus lastStatusChange imageName gpuCount podType costPerHr uptimeSeconds
  lastStartedAt networkVolumeId volumeMountPath volumeInGb containerDiskInGb ports env
  runtime { ports { ip isIpPublic privatePort publicPort type } }
  machine { gpuDisplayName gpuTypeId dataCenterId }
"""


def gql(value) -> str:
    """A Python value as a GraphQL literal (strings escaped as JSON, which GraphQL accepts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(gql(v) for v in value) + "]"
    if isinstance(value, Enum_):
        return value.name
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {gql(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no GraphQL literal for {type(value).__name__}")


class Enum_:
    """A GraphQL enum value (written bare, not quoted)."""

    def __init__(self, name: str) -> None:
        self.name = name


class RunPod:
    """The RunPod operations podreconcile uses, each a single GraphQL call."""

    def __init__(self, api_key: str, api_base_url: str = "https://api.runpod.io") -> None:
        # The SDK itself reads RUNPOD_API_BASE_URL per call; wiring passes the same value here.
        self._api_key = api_key
        self.api_base_url = api_base_url

    def __repr__(self) -> str:
        return "RunPod(api_key=<hidden>)"

    def account(self) -> tuple[list[PodFacts], list[VolumeFacts]]:
        """Every pod and network volume of the account, in one call."""
        query = f"query {{ myself {{ pods {{ {POD_FIELDS} }} networkVolumes {{ id name size dataCenterId }} }} }}"
        data = self._call("myself", query) or {}
        volumes = [VolumeFacts(v["id"], v.get("name") or "", v.get("size") or 0, v.get("dataCenterId") or "")
                   for v in (data.get("networkVolumes") or [])]
        return [PodFacts.parse(p) for p in (data.get("pods") or [])], volumes

    def list_pods(self) -> list[PodFacts]:
        return self.account()[0]

    def get_pod(self, pod_id: str) -> PodFacts | None:
        data = self._call("pod", f"query {{ pod(input: {{podId: {gql(pod_id)}}}) {{ {POD_FIELDS} }} }}")
        return PodFacts.parse(data) if data else None

    def create_pod(self, req: CreateRequest) -> str:
        fields = {
            "name": req.name, "imageName": req.image, "gpuTypeId": req.gpu_type_id, "gpuCount": req.gpu_count,
            "cloudType": Enum_(req.cloud.upper()), "startSsh": True, "supportPublicIp": True,
            "containerDiskInGb": req.container_disk_gb, "volumeInGb": 0 if req.network_volume_id else req.volume_gb,
            "volumeMountPath": req.volume_mount_path, "ports": req.ports, "dockerArgs": "",
            "env": [{"key": k, "value": v} for k, v in req.env.items()],
        }
        if req.network_volume_id:
            fields["networkVolumeId"] = req.network_volume_id
        if req.data_center_id:
            fields["dataCenterId"] = req.data_center_id
        operation = "podFindAndDeployOnDemand"
        if req.interruptible:
            operation, fields = "podRentInterruptable", {"bidPerGpu": req.bid_per_gpu, **fields}
        data = self._call(operation, f"mutation {{ {operation}(input: {gql(fields)}) {{ id }} }}")
        if not data or not data.get("id"):
            raise PermanentError(f"RunPod accepted {operation} but returned no pod id.")
        return data["id"]

    def resume_pod(self, pod_id: str, gpu_count: int, bid_per_gpu: float | None = None) -> None:
        if bid_per_gpu is not None:
            args = {"podId": pod_id, "bidPerGpu": bid_per_gpu, "gpuCount": gpu_count}
            self._call("podBidResume", f"mutation {{ podBidResume(input: {gql(args)}) {{ id desiredStatus }} }}")
        else:
            args = {"podId": pod_id, "gpuCount": gpu_count}
            self._call("podResume", f"mutation {{ podResume(input: {gql(args)}) {{ id desiredStatus }} }}")

    def stop_pod(self, pod_id: str) -> None:
        self._call("podStop", f"mutation {{ podStop(input: {{podId: {gql(pod_id)}}}) {{ id desiredStatus }} }}")

    def terminate_pod(self, pod_id: str) -> None:
        """Terminate; a pod that is already gone is not an error."""
        try:
            self._call("podTerminate", f"mutation {{ podTerminate(input: {{podId: {gql(pod_id)}}}) }}")
        except NotFoundError:
            pass

    def gpu_prices(self, cloud: str, interruptible: bool) -> dict[str, float]:
        """Price per GPU-hour of every GPU type, for this cloud and pod type: one call."""
        query = "query { gpuTypes { id securePrice communityPrice secureSpotPrice communitySpotPrice } }"
        field = ("community" if cloud == "community" else "secure") + ("SpotPrice" if interruptible else "Price")
        return {g["id"]: g[field] for g in (self._call("gpuTypes", query) or []) if g.get(field) is not None}

    def _call(self, operation: str, query: str):
        from requests import exceptions as http

        run_graphql_query, sdk_error = _transport()

        try:
            response = run_graphql_query(query, api_key=self._api_key)
        except sdk_error.AuthenticationError:
            raise UserError("RunPod refused the API key; set a valid RUNPOD_API_KEY in the environment or .runpod.env.") from None
        except sdk_error.QueryError as error:
            message = str(error.args[0]) if error.args else "unknown error"
            if is_unauthorized(message):
                raise UserError(f"RunPod refused {operation} to this API key (Unauthorized: the key lacks the "
                                f"permission); {KEY_PERMISSIONS_FIX}") from None
            if is_generic(message):
                raise generic_error(f"RunPod {operation}: {message}") from None
            raise classify(message)(f"RunPod {operation}: {message}") from None
        except http.JSONDecodeError:
            raise TemporaryError(f"RunPod {operation}: the answer was not JSON (a gateway error or rate limit).") from None
        except (http.Timeout, http.ConnectionError) as error:
            where = os.environ.get("RUNPOD_API_BASE_URL", "https://api.runpod.io")
            raise TemporaryError(f"could not reach the RunPod API at {where} ({type(error).__name__}); check the "
                                 "network, or for the sandbox run `eval \"$(podreconcile sandbox up)\"`") from None
        if isinstance(response, dict) and response.get("status") == 410:
            # A retired API answers 410 Gone with a problem body, which the SDK hands back as data.
            raise ApiRetiredError(f"RunPod {operation}: RunPod's GraphQL API answered 410 Gone (it is retired)")
        try:
            return response["data"][operation]
        except (KeyError, TypeError):
            # JSON with neither data nor errors: a gateway or load balancer answered, not the API.
            raise TemporaryError(f"RunPod {operation}: an answer without data.") from None


def _transport():
    """The SDK's GraphQL transport and errors, without running `runpod/__init__` unless needed.

    `runpod/__init__` imports the serverless worker, whose debugger probes the CPU in a subprocess at
    import time: 1.1 s of a 1.4 s import, paid by every command. Until some code asks the package for
    more than its submodules and `api_key`, a stand-in holds its place; the first such request runs
    the real `__init__` in it, so the full SDK still works for anyone who imports it.
    """
    if "runpod" not in sys.modules:
        spec = importlib.util.find_spec("runpod")
        package = importlib.util.module_from_spec(spec)
        package.api_key = None

        def __getattr__(name: str):
            if importlib.util.find_spec(f"runpod.{name}") is not None:
                return importlib.import_module(f"runpod.{name}")
            del package.__getattr__
            key = package.api_key  # set on the stand-in (runpod.api_key = ...): the real __init__ resets it
            spec.loader.exec_module(package)
            if key is not None:
                package.api_key = key
            return getattr(package, name)

        package.__getattr__ = __getattr__
        sys.modules["runpod"] = package
    from runpod import error
    from runpod.api.graphql import run_graphql_query

    return run_graphql_query, error
