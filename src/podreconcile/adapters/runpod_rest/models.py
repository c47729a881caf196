"""The bodies podreconcile sends to RunPod's REST v2 API and the ones it reads, as pydantic models.

Written from RunPod's published OpenAPI document (api-reference-v2/openapi.json). Requests are
strict (`extra="forbid"`, as RunPod rejects unknown fields by name): a typo here fails in our tests,
not at RunPod. Answers are typed but tolerant: new fields are ignored, and enums RunPod may extend
(status, actions, availability) stay strings that core maps with an explicit unknown value.
Fields that may hold secrets (env) are kept out of every repr.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    def body(self) -> dict:
        """The JSON object to send: camelCase names, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


# ---- requests ----

class GpuRequest(_Request):
    id: str = Field(min_length=1)
    count: int = Field(ge=1)


class PersistentMount(_Request):
    size: int = Field(ge=10)  # GB; RunPod's floor for a pod's own volume disk
    path: str


class NetworkMount(_Request):
    volume_id: str = Field(min_length=1)
    path: str


class Mounts(_Request):
    """At most one kind: a pod's own volume disk, or one network volume."""

    persistent: PersistentMount | None = None
    network: list[NetworkMount] | None = Field(None, max_length=1)


class CreatePod(_Request):
    name: str = Field(min_length=1)
    image: str = Field(min_length=1)
    gpu: GpuRequest
    cloud: Literal["SECURE", "COMMUNITY"] | None = None  # RunPod's default is SECURE
    disk: int | None = Field(None, ge=1)  # container disk, GB
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    ports: list[str] = Field(default_factory=list)
    mounts: Mounts | None = None
    data_center_ids: list[str] | None = None
    start_ssh: bool = True


class PatchPod(_Request):
    image: str | None = None
    env: dict[str, str] | None = Field(None, repr=False)
    args: str | None = None
    ports: list[str] | None = None
    disk: int | None = Field(None, ge=1)


class PodActionRequest(_Request):
    action: Literal["start", "stop", "restart", "terminate"]


# ---- answers ----

class SshEndpoint(_Answer):
    host: str
    port: int
    username: str | None = None


class PodSsh(_Answer):
    proxy: SshEndpoint | None = None
    direct: SshEndpoint | None = None  # sshd on the published 22/tcp; null unless running


class GpuConfig(_Answer):
    id: str
    count: int = 1


class AnswerNetworkMount(_Answer):
    volume_id: str
    path: str | None = None


class AnswerPersistentMount(_Answer):
    size: int | None = None
    path: str | None = None


class AnswerMounts(_Answer):
    persistent: AnswerPersistentMount | None = None
    network: list[AnswerNetworkMount] | None = None


class PodRuntime(_Answer):
    uptime: int | None = None


class Pod(_Answer):
    id: str
    name: str = ""
    status: str
    actions: list[str] = Field(default_factory=list)
    image: str | None = None
    args: str | None = None
    disk: int | None = None
    env: dict[str, str] | None = Field(None, repr=False)
    ports: list[str] | None = None
    mounts: AnswerMounts | None = None
    gpu: GpuConfig | None = None
    cloud: str | None = None
    data_center_id: str | None = None
    ssh: PodSsh | None = None
    cost: float | None = None
    runtime: PodRuntime | None = None
    created_at: str | None = None
    started_at: str | None = None


class PodList(_Answer):
    pods: list[Pod]


class NetworkVolume(_Answer):
    id: str
    name: str = ""
    size: int = 0
    data_center: str = ""


class NetworkVolumeList(_Answer):
    network_volumes: list[NetworkVolume]


class CloudPrices(_Answer):
    secure: float | None = None
    community: float | None = None


class CloudCounts(_Answer):
    secure: int | None = None
    community: int | None = None


class DataCenterStock(_Answer):
    id: str
    availability: str


class GpuType(_Answer):
    id: str
    name: str = ""
    memory: int = 0
    secure: bool = False
    community: bool = False
    price: CloudPrices = Field(default_factory=CloudPrices)
    max_count: CloudCounts = Field(default_factory=CloudCounts)
    availability: str | None = None  # only with include=AVAILABILITY
    data_centers: list[DataCenterStock] | None = None  # absent when unavailable everywhere


class GpuTypeList(_Answer):
    gpus: list[GpuType]


class Problem(_Answer):
    """An RFC 9457 problem document (`application/problem+json`)."""

    title: str = ""
    status: int | None = None
    detail: str = ""
    errors: list[str] = Field(default_factory=list)
