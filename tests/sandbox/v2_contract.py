"""RunPod's REST v2 answers as we read the published OpenAPI document, and a validator for them.

The shapes below are our own reading of the document (runpod/docs `api-reference-v2/openapi.json`),
written as a small JSON Schema subset: every object is closed (a field the document does not name is
an error), `required` lists what the document requires. `test_v2_contract.py` compares these shapes
with the document itself when a copy is at hand, so a misreading shows up there.
"""

from __future__ import annotations

import re


def obj(required: dict, optional: dict | None = None) -> dict:
    """A closed object: `required` fields must be present, `optional` ones may be."""
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": sorted(required)}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> dict:
    return {"type": "string", "enum": list(values)}


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


STRING, INTEGER, NUMBER, BOOLEAN = ({"type": t} for t in ("string", "integer", "number", "boolean"))
DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_STRING = {"type": ["string", "null"]}
AVAILABILITY = enum("NONE", "LOW", "MEDIUM", "HIGH")

SSH_ENDPOINT = obj({"host": STRING, "port": INTEGER, "username": STRING, "command": STRING})
RUNTIME_PORT = obj({}, {"private": INTEGER, "public": {"type": ["integer", "null"]}, "type": STRING,
                        "ip": NULLABLE_STRING})  # fmt: skip
UTILIZATION = obj({}, {"util": INTEGER})
RUNTIME = obj({}, {"uptime": INTEGER, "gpus": array(obj({}, {"util": INTEGER, "memoryUtil": INTEGER})),
                   "cpu": UTILIZATION, "memory": UTILIZATION, "ports": array(RUNTIME_PORT)})  # fmt: skip
MOUNTS = obj({}, {
    "persistent": obj({"size": {"type": "integer", "minimum": 10}, "path": STRING}),
    "network": array(obj({"volumeId": STRING, "path": STRING}), maxItems=1),
})  # fmt: skip
POD = obj(
    {
        "id": STRING, "name": STRING, "status": enum("PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED"),
        "actions": array(enum("start", "stop", "restart", "terminate")), "image": STRING, "args": STRING,
        "disk": {"type": "integer", "minimum": 1}, "mounts": MOUNTS, "ports": array(STRING),
        "env": {"type": "object", "additionalProperties": STRING}, "registry": NULLABLE_STRING,
        "cloud": enum("SECURE", "COMMUNITY"), "dataCenterId": NULLABLE_STRING, "cudaVersion": NULLABLE_STRING,
        "ssh": obj({"proxy": nullable(SSH_ENDPOINT), "direct": nullable(SSH_ENDPOINT)}), "template": NULLABLE_STRING,
        "cost": NUMBER, "locked": BOOLEAN, "runtime": nullable(RUNTIME), "createdAt": DATE_TIME,
        "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "globalNetworking": obj({"enabled": BOOLEAN}, {"ip": STRING, "internalDns": STRING}),
    },
    {
        "gpu": obj({"id": STRING}, {"count": {"type": "integer", "minimum": 1}}),
        "cpu": obj({"id": STRING, "vcpuCount": {"type": "integer", "minimum": 2}, "memory": {"type": "integer", "minimum": 1}}),
        "cluster": {"type": "object"},
    },
)  # fmt: skip
NETWORK_VOLUME = obj({"id": STRING, "name": STRING, "size": {"type": "integer", "minimum": 10, "maximum": 4096},
                      "dataCenter": STRING, "type": enum("STANDARD", "HIGH_PERFORMANCE")})  # fmt: skip
GPU_TYPE = obj(
    {
        "id": STRING, "name": STRING, "pool": NULLABLE_STRING, "manufacturer": enum("NVIDIA", "AMD", "UNKNOWN"),
        "memory": INTEGER, "secure": BOOLEAN, "community": BOOLEAN,
        "price": obj({"secure": NUMBER, "community": NUMBER}, {"serverless": NUMBER}),
        "maxCount": obj({"secure": INTEGER, "community": INTEGER}),
    },
    {
        "availability": AVAILABILITY,
        "dataCenters": array(obj({"id": STRING, "name": STRING, "availability": AVAILABILITY})),
        "cudaVersions": array(obj({"version": {"type": "string", "pattern": r"^\d+\.\d+$"}, "available": BOOLEAN})),
    },
)  # fmt: skip
RESOURCE_AVAILABILITY = obj({"id": STRING, "name": STRING, "availability": AVAILABILITY})
DATA_CENTER = obj(
    {"id": STRING, "name": STRING, "globalNetwork": BOOLEAN,
     "region": enum("NORTH_AMERICA", "SOUTH_AMERICA", "EUROPE", "ASIA", "MIDDLE_EAST", "AFRICA", "OCEANIA",
                    "ANTARCTICA", "UNKNOWN"),
     "networkVolumeTypes": array(enum("STANDARD", "HIGH_PERFORMANCE")), "compliance": array(STRING)},
    {"gpuAvailability": array(RESOURCE_AVAILABILITY), "cpuAvailability": array(RESOURCE_AVAILABILITY)},
)  # fmt: skip
SSH_KEYS = obj({"keys": array(STRING)})
POD_AMOUNTS = {"totalAmount": NUMBER, "gpuAmount": NUMBER, "cpuAmount": NUMBER, "diskAmount": NUMBER}
POD_BILLING = obj({
    "records": array(obj({"startTime": DATE_TIME, "endTime": DATE_TIME, "podId": STRING, **POD_AMOUNTS})),
    "metadata": obj({
        "query": obj({"startTime": DATE_TIME, "endTime": DATE_TIME,
                      "bucketSize": enum("hour", "day", "week", "month", "year")}, {"podId": NULLABLE_STRING}),
        "recordCount": INTEGER, "uniquePodCount": INTEGER, "totals": obj(POD_AMOUNTS),
    }),
})  # fmt: skip
PROBLEM = obj({"title": STRING, "status": INTEGER, "detail": STRING}, {"errors": array(STRING)})

# operation -> {success status: schema of its body (None: no body)}
SUCCESS = {
    "v2.pods.list": {200: obj({"pods": array(POD)})},
    "v2.pods.create": {201: POD},
    "v2.pods.get": {200: POD},
    "v2.pods.update": {200: POD},
    "v2.pods.delete": {204: None},
    "v2.pods.action": {200: POD, 204: None},
    "v2.network-volumes.list": {200: obj({"networkVolumes": array(NETWORK_VOLUME)})},
    "v2.network-volumes.create": {201: NETWORK_VOLUME},
    "v2.network-volumes.get": {200: NETWORK_VOLUME},
    "v2.network-volumes.update": {200: NETWORK_VOLUME},
    "v2.network-volumes.delete": {204: None},
    "v2.catalog.gpus": {200: obj({"gpus": array(GPU_TYPE)})},
    "v2.catalog.gpus.get": {200: GPU_TYPE},
    "v2.catalog.datacenters": {200: obj({"dataCenters": array(DATA_CENTER)})},
    "v2.catalog.datacenters.get": {200: DATA_CENTER},
    "v2.account.ssh-keys.get": {200: SSH_KEYS},
    "v2.account.ssh-keys.put": {200: SSH_KEYS},
    "v2.billing.pods": {200: POD_BILLING},
}
ROUTES = [
    ("GET", r"/v2/pods", "v2.pods.list"), ("POST", r"/v2/pods", "v2.pods.create"),
    ("GET", r"/v2/pods/[^/]+", "v2.pods.get"), ("PATCH", r"/v2/pods/[^/]+", "v2.pods.update"),
    ("DELETE", r"/v2/pods/[^/]+", "v2.pods.delete"), ("POST", r"/v2/pods/[^/]+/action", "v2.pods.action"),
    ("GET", r"/v2/network-volumes", "v2.network-volumes.list"),
    ("POST", r"/v2/network-volumes", "v2.network-volumes.create"),
    ("GET", r"/v2/network-volumes/[^/]+", "v2.network-volumes.get"),
    ("PATCH", r"/v2/network-volumes/[^/]+", "v2.network-volumes.update"),
    ("DELETE", r"/v2/network-volumes/[^/]+", "v2.network-volumes.delete"),
    ("GET", r"/v2/catalog/gpus", "v2.catalog.gpus"), ("GET", r"/v2/catalog/gpus/[^/]+", "v2.catalog.gpus.get"),
    ("GET", r"/v2/catalog/datacenters", "v2.catalog.datacenters"),
    ("GET", r"/v2/catalog/datacenters/[^/]+", "v2.catalog.datacenters.get"),
    ("GET", r"/v2/account/ssh-keys", "v2.account.ssh-keys.get"),
    ("PUT", r"/v2/account/ssh-keys", "v2.account.ssh-keys.put"),
    ("GET", r"/v2/billing/pods", "v2.billing.pods"),
]  # fmt: skip
DATE_TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
         "array": list, "null": type(None)}  # fmt: skip


def operation(method: str, path: str) -> str | None:
    return next((op for m, pattern, op in ROUTES if m == method and re.fullmatch(pattern, path)), None)


def violations(value, schema: dict, path: str = "$") -> list[str]:
    """Where `value` breaks `schema` (our subset of JSON Schema; objects are closed)."""
    if "anyOf" in schema:
        options = [violations(value, option, path) for option in schema["anyOf"]]
        return [] if any(not o for o in options) else min(options, key=len)
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, name) for name in names):
            return [f"{path}: {value!r} is not of type {types}"]
    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time" and not DATE_TIME_TEXT.match(value):
            found.append(f"{path}: {value!r} is not an RFC 3339 date-time")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            found += violations(item, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict):
        found += _object_violations(value, schema, path)
    return found


def _object_violations(value: dict, schema: dict, path: str) -> list[str]:
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    found = [f"{path}: missing required '{k}'" for k in schema.get("required", []) if k not in value]
    for key, item in value.items():
        if properties is not None and key in properties:
            found += violations(item, properties[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            found += violations(item, extra, f"{path}.{key}")
        elif properties is not None:
            found.append(f"{path}: unknown field '{key}'")
    return found


def _is(value, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, TYPES[name])
