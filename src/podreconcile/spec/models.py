"""The podspec.yaml models: strict about what a user writes, frozen once loaded.

Every model forbids unknown keys and does not coerce types (`gpu_count: "2"` is an error, not 2).
Field `examples` feed the fixes in error messages. Checks across fields (RunPod's rules) live in
`rules.py`, so each model states only what one field may hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from podreconcile.spec.fields import (
    POD_NAME_PREFIX,
    AbsolutePath,
    EnvKey,
    Name,
    Port,
    ProjectPath,
    Seconds,
    SyncedProjectPath,
    Text,
    placeholders,
)
from podreconcile.spec.problems import Problem, format_path
from podreconcile.spec.source import SourceMap

SSH_PORT = "22/tcp"
#: RunPod accepts at most this many user environment variables on a pod.
MAX_ENV_VARS = 50

DEFAULT_COMMAND = "python scripts/train.py --config {config}"
DEFAULT_RESUME_ARGS = "--resume_from_checkpoint {checkpoint}"


class _Model(BaseModel):
    # No populate_by_name: the file must say `from:`, never the Python spelling `from_`.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _ports(ports: list[str]) -> list[str]:
    seen: set[str] = set()
    for port in ports:
        if port in seen:
            raise ValueError(f"{port} is listed twice; list each port once")
        seen.add(port)
    if SSH_PORT not in ports:
        raise ValueError(f"podreconcile reaches the pod over SSH; add {SSH_PORT} to pod.ports")
    return ports


def _env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV_VARS:
        raise ValueError(
            f"has {len(env)} variables, but RunPod allows {MAX_ENV_VARS}; "
            "move some into a file the training reads"
        )
    return env


def _unique(items: list[str]) -> list[str]:
    doubles = sorted({item for item in items if items.count(item) > 1})
    if doubles:
        raise ValueError(f"{doubles[0]!r} is listed twice; list each once")
    return items


class PodSpec(_Model):
    """The pod to run on: hardware, image, storage, ports and environment."""

    gpu_types: Annotated[list[Text], AfterValidator(_unique)] = Field(
        min_length=1, examples=["[NVIDIA GeForce RTX 4090, NVIDIA RTX A6000]"]
    )
    gpu_count: int = Field(1, ge=1, le=8, examples=["1"])
    image: Text = Field(examples=["runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"])
    cloud: Literal["secure", "community", "all"] = Field("secure", examples=["secure"])
    interruptible: bool = Field(False, examples=["false"])
    bid_per_gpu: float | None = Field(None, gt=0, examples=["0.2"])
    container_disk_gb: int = Field(30, ge=1, examples=["30"])
    network_volume: Text | None = Field(None, examples=["${NETWORK_VOLUME_ID}"])
    volume_mount_path: AbsolutePath = Field("/workspace", examples=["/workspace"])
    volume_gb: int | None = Field(20, ge=1, examples=["20"])
    ports: Annotated[list[Port], AfterValidator(_ports)] = Field(
        default_factory=lambda: [SSH_PORT], examples=["[22/tcp, 6006/http]"]
    )
    env: Annotated[dict[EnvKey, str], AfterValidator(_env)] = Field(
        default_factory=dict, examples=['{HF_HOME: /workspace/hf-cache}']
    )


class CodeSpec(_Model):
    """Where the code lives on the pod and how it gets there."""

    path: AbsolutePath = Field(examples=["/workspace/my-project"])
    sync: Literal["push", "git"] = Field("push", examples=["push"])
    exclude: list[Text] = Field(default_factory=list, examples=["[data/]"])
    repo: Text | None = Field(None, examples=["https://github.com/me/my-project.git"])


class DataItem(_Model):
    """One file or folder uploaded from the project to the pod.

    Built from Python as `DataItem.model_validate({"from": ..., "to": ...})`; read as `item.from_`.
    """

    from_: ProjectPath = Field(alias="from", examples=["data/audio_0"])
    to: AbsolutePath = Field(examples=["/workspace/data/audio_0"])


class RunSpec(_Model):
    """The training run: which config, which command, how to resume, when to give up."""

    config: SyncedProjectPath = Field(examples=["configs/baseline_whisper_small.yaml"])
    command: Annotated[
        Text,
        placeholders(required="config", allowed=frozenset({"config"}), example=DEFAULT_COMMAND),
    ] = Field(DEFAULT_COMMAND, examples=[DEFAULT_COMMAND])
    resume_args: Annotated[
        Text,
        placeholders(
            required="checkpoint", allowed=frozenset({"checkpoint"}), example=DEFAULT_RESUME_ARGS
        ),
    ] = Field(DEFAULT_RESUME_ARGS, examples=[DEFAULT_RESUME_ARGS])
    output_dir: Text | None = Field(None, examples=["outputs/baseline_whisper_small"])
    setup: Text | None = Field(None, examples=["pip install -r requirements.txt"])
    venv: AbsolutePath | None = Field(None, examples=["/workspace/venv"])
    stop_pod_when_done: bool = Field(True, examples=["true"])
    max_runtime: Seconds = Field(86400, gt=0, examples=["24h"])


class TensorboardSpec(_Model):
    """Where training writes TensorBoard logs (relative to code.path) and the port it serves."""

    logdir: Annotated[
        Text, placeholders(required=None, allowed=frozenset({"run_name"}), example="logs/{run_name}")
    ] = Field("logs/{run_name}", examples=["logs/{run_name}"])
    port: int = Field(6006, ge=1, le=65535, examples=["6006"])


class SourceInfo:
    """Where a Spec came from, for messages that point back into the file after loading.

    All SourceInfo compare equal, so the same spec loaded from two places is still the same spec.
    """

    def __init__(self, file: str, source_map: SourceMap | None = None) -> None:
        self.file = file
        self._map = source_map

    def where(self, *path: str | int) -> str:
        """`file:line:col` of the value at `path` (e.g. `where("run", "config")`)."""
        return self._map.where(tuple(path)) if self._map else self.file

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        """A Problem located at the value of `path` in this file."""
        if self._map:
            return self._map.problem(path, message)
        return Problem(self.file, None, None, format_path(path), message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourceInfo)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"SourceInfo({self.file!r})"


class Spec(_Model):
    """A validated podspec.yaml. Plain values only; `source` tells where it was read from."""

    version: Literal[1] = Field(examples=["1"])
    name: Name = Field(examples=["whisper-small-baseline"])
    pod: PodSpec
    code: CodeSpec
    data: list[DataItem] = Field(default_factory=list)
    run: RunSpec
    tensorboard: TensorboardSpec = Field(default_factory=TensorboardSpec)

    _source: SourceInfo = PrivateAttr(default_factory=lambda: SourceInfo("podspec.yaml"))

    @property
    def pod_name(self) -> str:
        """The RunPod pod name, `podreconcile-<name>`; the pod is found again by it."""
        return POD_NAME_PREFIX + self.name

    @property
    def source(self) -> SourceInfo:
        """The file this spec was loaded from, with `where(*path)` for located messages."""
        return self._source


#: Pod fields that RunPod cannot change on an existing pod; a change means a new pod.
IMMUTABLE_POD_FIELDS = (
    "gpu_types", "gpu_count", "image", "cloud", "interruptible", "network_volume",
    "volume_mount_path", "container_disk_gb", "ports", "env",
)


def immutable_fields(spec: Spec) -> dict[str, object]:
    """The pod fields that force a replacement when they change, by field name (copies).

    `env` is among them: editing a pod's env makes RunPod reset it, wiping the container disk.
    """
    dumped = spec.pod.model_dump()
    return {name: dumped[name] for name in IMMUTABLE_POD_FIELDS}
