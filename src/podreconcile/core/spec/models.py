"""The podspec.yaml models: strict about what a user writes, frozen once loaded.

Every model forbids unknown keys and does not coerce types (`gpu_count: "2"` is an error, not 2).
Field `examples` feed the fixes in error messages. Checks across fields (RunPod's rules) live in
`rules.py`, so each model states only what one field may hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from podreconcile.core.spec.fields import (
    POD_NAME_PREFIX,
    AbsolutePath,
    EnvKey,
    Name,
    Port,
    ProjectPath,
    Seconds,
    SecondsOrOff,
    SyncedProjectPath,
    Text,
    placeholders,
)
from podreconcile.core.spec.problems import Problem, format_path
from podreconcile.core.spec.source import SourceMap

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
        min_length=1, examples=["[NVIDIA GeForce RTX 4090, NVIDIA RTX A6000]"],
        description=(
            "RunPod GPU type IDs in order of preference. The plan shows each with the stock and price "
            "of RunPod's catalog; apply skips those without stock, and when RunPod has no capacity for "
            "one, the next is tried. A pod whose GPU type is no longer in the list is replaced."
        ),
    )
    gpu_count: int = Field(1, ge=1, le=8, examples=["1"], description="GPUs per pod, 1 to 8.")
    image: Text = Field(
        examples=["runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"],
        description="The container image the pod runs (it needs python3; RunPod's images start sshd).",
    )
    cloud: Literal["secure", "community", "all"] = Field(
        "secure", examples=["secure"],
        description="RunPod's Secure Cloud, Community Cloud, or either. A network volume needs secure.",
    )
    interruptible: bool = Field(
        False, examples=["false"],
        description=(
            "Rent a spot pod: cheaper, but RunPod may stop it at any time (apply resumes from the "
            "latest checkpoint). Needs bid_per_gpu."
        ),
    )
    bid_per_gpu: float | None = Field(
        None, gt=0, examples=["0.2"],
        description=(
            "The spot bid in dollars per GPU per hour. Required when interruptible is true, "
            "not allowed otherwise."
        ),
    )
    container_disk_gb: int = Field(
        30, ge=1, examples=["30"],
        description="Size of the container disk in GB. It is wiped at every stop: keep nothing there.",
    )
    network_volume: Text | None = Field(
        None, examples=["${NETWORK_VOLUME_ID}"],
        description=(
            "ID of a RunPod network volume, mounted at volume_mount_path in place of the pod's "
            "volume disk; usually ${NETWORK_VOLUME_ID}. It outlives the pod, so checkpoints survive "
            "a replacement; it pins the pod to the volume's data center and needs cloud: secure."
        ),
    )
    volume_mount_path: AbsolutePath = Field(
        "/workspace", examples=["/workspace"],
        description=(
            "Where the volume is mounted on the pod. Only the volume survives a stop, so code.path, "
            "data targets and run.venv must be under it."
        ),
    )
    volume_gb: int | None = Field(
        20, ge=10, examples=["20"],
        description=(
            "Size in GB of the pod's own volume disk, used when there is no network volume. It "
            "survives stops but is deleted with the pod; RunPod makes it 10 GB or more. Leave it out (or "
            "null) with a network volume."
        ),
    )
    ports: Annotated[list[Port], AfterValidator(_ports)] = Field(
        default_factory=lambda: [SSH_PORT], examples=["[22/tcp, 6006/http]"],
        description=(
            "Ports the pod exposes, each '<number>/tcp' or '<number>/http'. 22/tcp is required: "
            "podreconcile reaches the pod over SSH."
        ),
    )
    env: Annotated[dict[EnvKey, str], AfterValidator(_env)] = Field(
        default_factory=dict, examples=['{HF_HOME: /workspace/hf-cache}'],
        description=(
            "Environment variables of the pod, at most 50. RUNPOD_* and PUBLIC_KEY are reserved "
            "(RunPod sets them). Plans and the state file show and keep every value only as a hash; "
            "a value written with `${VAR}` is a secret: the training log masks it."
        ),
    )
    secret_env: Annotated[list[EnvKey], AfterValidator(_unique)] = Field(
        default_factory=list, examples=["[WANDB_API_KEY]"],
        description=(
            "Names in pod.env whose values are secrets although written in the file itself; like every "
            "`${VAR}` value of pod.env, the training log masks them."
        ),
    )
    idle_timeout: SecondsOrOff = Field(
        900, ge=0, examples=["15m"],
        description=(
            "A pod with no live run and no SSH session for this long stops itself (a guard on the "
            "pod, armed by the first SSH connection of every podreconcile command), so a failed or "
            "killed apply never leaves it billing; e.g. 90s, 30m, 24h, or off to keep idle pods up. "
            "A change takes effect at the next command that connects."
        ),
    )


class CodeSpec(_Model):
    """Where the code lives on the pod and how it gets there."""

    path: AbsolutePath = Field(
        examples=["/workspace/my-project"],
        description="Where the repository lives on the pod; under pod.volume_mount_path.",
    )
    sync: Literal["push", "git"] = Field(
        "push", examples=["push"],
        description=(
            "How the code gets there. push: upload the git-tracked files of the local project "
            "(only what changed). git: `git pull` on the pod."
        ),
    )
    exclude: list[Text] = Field(
        default_factory=list, examples=["[data/]"],
        description=(
            "gitignore-style patterns (data/, /data/, *.ckpt; no ** or !) of tracked files that "
            "are not synced, e.g. data uploaded through the data section."
        ),
    )
    repo: Text | None = Field(
        None, examples=["https://github.com/me/my-project.git"],
        description="The git URL that sync: git clones; only with sync: git.",
    )


class DataItem(_Model):
    """One file or folder uploaded from the project to the pod.

    Built from Python as `DataItem.model_validate({"from": ..., "to": ...})`; read as `item.from_`.
    """

    from_: ProjectPath = Field(
        alias="from", examples=["data/audio_0"],
        description="A file or folder on this machine, relative to the project folder.",
    )
    to: AbsolutePath = Field(
        examples=["/workspace/data/audio_0"],
        description="Where it goes on the pod; an absolute path under pod.volume_mount_path.",
    )


class RunSpec(_Model):
    """The training run: which config, which command, how to resume, when to give up."""

    config: SyncedProjectPath = Field(
        examples=["configs/baseline_whisper_small.yaml"],
        description=(
            "The training config, relative to the project folder (it is synced with the code). Its "
            "output_dir names the run; command gets it as {config}."
        ),
    )
    command: Annotated[
        Text,
        placeholders(required="config", allowed=frozenset({"config", "run_name"}), example=DEFAULT_COMMAND),
    ] = Field(
        DEFAULT_COMMAND, examples=[DEFAULT_COMMAND],
        description=(
            "The training command, run in code.path; must contain {config}. {config} and {run_name} "
            "are replaced literally; any other brace is left as written, and the plan shows the command "
            "as it will run."
        ),
    )
    resume_args: Annotated[
        Text,
        placeholders(
            required="checkpoint", allowed=frozenset({"checkpoint"}), example=DEFAULT_RESUME_ARGS
        ),
    ] = Field(
        DEFAULT_RESUME_ARGS, examples=[DEFAULT_RESUME_ARGS],
        description=(
            "Added to command when resuming; must contain {checkpoint}, replaced by the path of "
            "the latest complete checkpoint."
        ),
    )
    output_dir: Text | None = Field(
        None, examples=["outputs/baseline_whisper_small"],
        description=(
            "Where training writes checkpoint-<N> folders, relative to code.path. Default: the "
            "training config's output_dir. Its last component is the run's name."
        ),
    )
    setup: Text | None = Field(
        None, examples=["pip install -r requirements.txt"],
        description=(
            "A command run in the venv before training; run again only when it or the files it "
            "names (e.g. requirements.txt) change."
        ),
    )
    venv: AbsolutePath | None = Field(
        None, examples=["/workspace/venv"],
        description="A virtualenv on the volume that setup and training run in; created if missing.",
    )
    stop_pod_when_done: bool = Field(
        True, examples=["true"],
        description="The pod stops itself when training ends, however it ends, so billing stops.",
    )
    max_runtime: Seconds = Field(
        86400, gt=0, examples=["24h"],
        description=(
            "The longest an attempt may run, e.g. 90s, 30m, 24h, 1d or 1h30m; then training is "
            "ended and the pod stops itself, whatever training does."
        ),
    )


class TensorboardSpec(_Model):
    """Where training writes TensorBoard logs (relative to code.path) and the port it serves."""

    logdir: Annotated[
        Text, placeholders(required=None, allowed=frozenset({"run_name"}), example="logs/{run_name}")
    ] = Field(
        "logs/{run_name}", examples=["logs/{run_name}"],
        description="The folder TensorBoard reads, relative to code.path; {run_name} is the run's name.",
    )
    port: int = Field(
        6006, ge=1, le=65535, examples=["6006"],
        description="The port TensorBoard serves on, on the pod; `podreconcile tensorboard` tunnels to it.",
    )


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

    version: Literal[1] = Field(examples=["1"], description="The podspec format; always 1.")
    name: Name = Field(
        examples=["whisper-small-baseline"],
        description=(
            "Lowercase letters, digits and '-'. The pod is named podreconcile-<name> and is found "
            "again by that name if the state file is lost."
        ),
    )
    pod: PodSpec = Field(description="The pod: GPUs, image, cloud, storage, ports and environment.")
    code: CodeSpec = Field(description="The code: its folder on the pod and how it is synced there.")
    data: list[DataItem] = Field(
        default_factory=list,
        description="Files and folders uploaded to the volume: once, afterwards only what changed.",
    )
    run: RunSpec = Field(description="The training run: config, command, resuming, setup and limits.")
    tensorboard: TensorboardSpec = Field(
        default_factory=TensorboardSpec,
        description="Where training writes TensorBoard logs and the port TensorBoard serves on.",
    )

    _source: SourceInfo = PrivateAttr(default_factory=lambda: SourceInfo("podspec.yaml"))
    _substituted_env: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @property
    def secret_env(self) -> tuple[str, ...]:
        """The pod env names whose values are secrets: filled from `${VAR}`, or listed in pod.secret_env."""
        return tuple(sorted(set(self.pod.secret_env) | (self._substituted_env & set(self.pod.env))))

    @property
    def pod_name(self) -> str:
        """The RunPod pod name, `podreconcile-<name>`; the pod is found again by it."""
        return POD_NAME_PREFIX + self.name

    @property
    def source(self) -> SourceInfo:
        """The file this spec was loaded from, with `where(*path)` for located messages."""
        return self._source
