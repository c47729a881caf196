"""Request bodies of RunPod's REST v2 API, checked as RunPod's published contract states them.

Each body is a closed object: a field the contract does not name is refused by name, as RunPod
does (`422` with one line per violation in `errors`, e.g. `$.gpu: additional property 'bogus' not
allowed`). Only shapes and types are checked here; rules across fields are the handlers' (`400`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class Check:
    def errors(self, value, path: str) -> list[str]:
        raise NotImplementedError


@dataclass
class Str(Check):
    min_length: int = 0
    pattern: str | None = None

    def errors(self, value, path: str) -> list[str]:
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        if len(value) < self.min_length:
            return [f"{path}: must be at least {self.min_length} character(s) long"]
        if self.pattern and not re.search(self.pattern, value):
            return [f"{path}: does not match {self.pattern}"]
        return []


@dataclass
class Int(Check):
    minimum: int | None = None
    maximum: int | None = None

    def errors(self, value, path: str) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer"]
        if self.minimum is not None and value < self.minimum:
            return [f"{path}: must be >= {self.minimum}"]
        if self.maximum is not None and value > self.maximum:
            return [f"{path}: must be <= {self.maximum}"]
        return []


class Bool(Check):
    def errors(self, value, path: str) -> list[str]:
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]


@dataclass
class Enum(Check):
    values: tuple[str, ...]

    def errors(self, value, path: str) -> list[str]:
        return [] if value in self.values else [f"{path}: must be one of {', '.join(self.values)}"]


@dataclass
class Nullable(Check):
    inner: Check

    def errors(self, value, path: str) -> list[str]:
        return [] if value is None else self.inner.errors(value, path)


@dataclass
class List(Check):
    item: Check
    max_items: int | None = None

    def errors(self, value, path: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        if self.max_items is not None and len(value) > self.max_items:
            return [f"{path}: at most {self.max_items} item(s)"]
        return [e for i, item in enumerate(value) for e in self.item.errors(item, f"{path}[{i}]")]


@dataclass
class Map(Check):
    value: Check

    def errors(self, value, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        return [e for key, item in value.items() for e in self.value.errors(item, f"{path}.{key}")]


@dataclass
class Obj(Check):
    fields: dict[str, Check]
    required: tuple[str, ...] = ()
    min_properties: int = 0

    def errors(self, value, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        found = [f"{path}: additional property '{k}' not allowed" for k in value if k not in self.fields]
        found += [f"{path}: missing property '{k}'" for k in self.required if k not in value]
        if len(value) < self.min_properties:
            found.append(f"{path}: at least {self.min_properties} property required")
        for key, check in self.fields.items():
            if key in value:
                found += check.errors(value[key], f"{path}.{key}")
        return found


CUDA = r"^\d+\.\d+$"
CLOUDS = ("SECURE", "COMMUNITY")
VOLUME_TYPES = ("STANDARD", "HIGH_PERFORMANCE")
MOUNTS = Obj({
    "persistent": Obj({"size": Int(10), "path": Str()}, required=("size", "path")),
    "network": List(Obj({"volumeId": Str(), "path": Str()}, required=("volumeId", "path")), max_items=1),
})  # fmt: skip
CONTAINER = {
    "args": Str(),
    "disk": Int(1),
    "env": Map(Str()),
    "image": Str(),
    "ports": List(Str()),
    "registry": Nullable(Str()),
}
CREATE_POD = Obj({
    **CONTAINER,
    "name": Str(1),
    "cloud": Enum(CLOUDS),
    "cpu": Obj({"id": Str(1), "vcpuCount": Int(2)}, required=("id", "vcpuCount")),
    "dataCenterIds": List(Str()),
    "globalNetworking": Bool(),
    "gpu": Obj({"id": Str(), "count": Int(1), "allowedCudaVersions": List(Str(pattern=CUDA)),
                "minCudaVersion": Str(pattern=CUDA)}, required=("id",)),
    "mounts": MOUNTS,
    "startJupyter": Bool(),
    "startSsh": Bool(),
    "templateId": Str(1),
}, required=("name",))  # fmt: skip
UPDATE_POD = Obj({
    **CONTAINER,
    "globalNetworking": Bool(),
    "locked": Bool(),
    "mounts": MOUNTS,
    "name": Str(1),
    "templateId": Str(),
})  # fmt: skip
POD_ACTION = Obj({"action": Enum(("start", "stop", "restart", "terminate"))}, required=("action",))
SSH_KEYS = Obj({"keys": List(Str(pattern=r"^(ssh|ecdsa|sk)-\S+ \S+([ \t][^\n\r]*)?$"))}, required=("keys",))
CREATE_VOLUME = Obj(
    {"dataCenter": Str(1), "name": Str(1), "size": Int(10, 4096), "type": Enum(VOLUME_TYPES)},
    required=("name", "size", "dataCenter"),
)
UPDATE_VOLUME = Obj({"name": Str(1), "size": Int(10, 4096)}, min_properties=1)


def body_errors(check: Check, body) -> list[str]:
    """Every violation of the contract in a request body, `$` being the body itself."""
    return check.errors(body, "$")
