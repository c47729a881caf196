"""Our reading of RunPod's v2 contract (v2_contract.py, rest_checks.py) against the document itself.

The OpenAPI document is RunPod's (runpod/docs `api-reference-v2/openapi.json`) and is not kept in
this repository: point RUNPOD_OPENAPI_V2 at a copy to run these checks (skipped without one). The
validator's own behaviour is tested without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from podreconcile.sandbox import rest_checks
from podreconcile.sandbox.rest import ROUTES
from tests.sandbox import v2_contract as ours

DOCUMENT = Path(os.environ.get("RUNPOD_OPENAPI_V2", "/work/wt/runpod-openapi-v2.json"))
# Our schema -> the document's component of the same object.
PAIRS = {
    "POD": "Pod", "NETWORK_VOLUME": "NetworkVolume", "GPU_TYPE": "GpuType", "DATA_CENTER": "DataCenter",
    "SSH_KEYS": "SshKeys", "PROBLEM": "ErrorResponse", "POD_BILLING": "ListPodBillingResponse",
    "RUNTIME": "PodRuntime", "RUNTIME_PORT": "PodRuntimePort", "SSH_ENDPOINT": "PodSshEndpoint", "MOUNTS": "Mounts",
}  # fmt: skip
REQUESTS = {"CREATE_POD": "CreatePodRequest", "UPDATE_POD": "UpdatePodRequest", "POD_ACTION": "PodActionRequest",
            "SSH_KEYS": "UpdateSshKeysRequest", "CREATE_VOLUME": "CreateNetworkVolumeRequest",
            "UPDATE_VOLUME": "UpdateNetworkVolumeRequest"}  # fmt: skip
OPERATION_IDS = {
    "v2.pods.list": "listPods", "v2.pods.create": "createPod", "v2.pods.get": "getPod", "v2.pods.update": "updatePod",
    "v2.pods.delete": "deletePod", "v2.pods.action": "podAction", "v2.network-volumes.list": "listNetworkVolumes",
    "v2.network-volumes.create": "createNetworkVolume", "v2.network-volumes.get": "getNetworkVolume",
    "v2.network-volumes.update": "updateNetworkVolume", "v2.network-volumes.delete": "deleteNetworkVolume",
    "v2.catalog.gpus": "listGpuTypes", "v2.catalog.gpus.get": "getGpuType", "v2.catalog.datacenters": "listDataCenters",
    "v2.catalog.datacenters.get": "getDataCenter", "v2.account.ssh-keys.get": "getSshKeys",
    "v2.account.ssh-keys.put": "updateSshKeys", "v2.billing.pods": "listPodBilling",
}  # fmt: skip


@pytest.fixture(scope="module")
def document() -> dict:
    if not DOCUMENT.is_file():
        pytest.skip(f"no copy of RunPod's OpenAPI document at {DOCUMENT} (set RUNPOD_OPENAPI_V2)")
    return json.loads(DOCUMENT.read_text())


def flatten(document: dict, schema: dict) -> dict:
    """A component with its $refs and allOf merged: {properties, required}."""
    if "$ref" in schema:
        return flatten(document, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    merged = {"properties": dict(schema.get("properties", {})), "required": set(schema.get("required", []))}
    for part in schema.get("allOf", []):
        inner = flatten(document, part)
        merged["properties"].update(inner["properties"])
        merged["required"] |= inner["required"]
    return merged


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_our_answer_shapes_name_the_documents_fields(document, name):
    theirs = flatten(document, {"$ref": f"#/components/schemas/{PAIRS[name]}"})
    mine = getattr(ours, name)
    assert set(mine["properties"]) == set(theirs["properties"])
    assert set(mine["required"]) == theirs["required"]


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_sandbox_takes_exactly_the_documents_request_fields(document, name):
    theirs = flatten(document, {"$ref": f"#/components/schemas/{REQUESTS[name]}"})
    check = getattr(rest_checks, name)
    assert set(check.fields) == set(theirs["properties"])
    assert set(check.required) == theirs["required"]


def test_operations_paths_and_success_codes_match_the_document(document):
    documented = {
        operation["operationId"]: (method.upper(), path, {int(c) for c in operation["responses"] if c.startswith("2")})
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for method, pattern, name, _, _ in ROUTES:
        doc_method, doc_path, codes = documented[OPERATION_IDS[name]]
        assert (method, pattern.replace("(?P<id>[^/]+)", "{id}")) == (doc_method, doc_path)
        assert set(ours.SUCCESS[name]) == codes, name


def test_the_pod_status_and_action_enums_match(document):
    schemas = document["components"]["schemas"]
    assert ours.POD["properties"]["status"]["enum"] == schemas["PodStatus"]["enum"]
    assert ours.POD["properties"]["actions"]["items"]["enum"] == schemas["PodAction"]["enum"]


def test_the_validator_rejects_what_the_contract_forbids():
    volume = {"id": "v", "name": "n", "size": 10, "dataCenter": "EU-RO-1", "type": "STANDARD"}
    assert ours.violations(volume, ours.NETWORK_VOLUME) == []
    assert ours.violations({**volume, "extra": 1}, ours.NETWORK_VOLUME) == ["$: unknown field 'extra'"]
    assert ours.violations({**volume, "size": 5}, ours.NETWORK_VOLUME) == ["$.size: 5 < 10"]
    assert ours.violations({**volume, "size": True}, ours.NETWORK_VOLUME) == ["$.size: True is not of type integer"]
    assert ours.violations({"keys": ["a", 1]}, ours.SSH_KEYS) == ["$.keys[1]: 1 is not of type string"]
    assert ours.violations({"title": "t", "status": 400}, ours.PROBLEM) == ["$: missing required 'detail'"]
    assert ours.violations({"direct": None, "proxy": {"host": "h"}}, ours.POD["properties"]["ssh"]) != []
