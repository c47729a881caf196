"""A loaded project: spec, settings, training config, and the derived names every command uses."""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from podreconcile.core.desired import Desired
from podreconcile.core.errors import UserError
from podreconcile.core.field_policy import POD_FIELDS
from podreconcile.core.secret import digest
from podreconcile.core.spec import (
    Settings,
    Spec,
    TrainingConfig,
    load_settings,
    load_spec,
    read_training_config,
)
from podreconcile.core.spec.command import fill
from podreconcile.engine.spec_path import find_spec
from podreconcile.engine.state_file import StateFile


def pod_config(spec: Spec) -> dict:
    """Every pod field the planner compares (field_policy.POD_FIELDS but gpu_types, which the pod's
    GPU type is matched against), as the pod is made: without a network volume's ignored volume_gb
    and an on-demand pod's absent bid."""
    dumped = spec.pod.model_dump()
    config = {name: dumped[name] for name in POD_FIELDS if name != "gpu_types"}
    if config["network_volume"]:
        config["volume_gb"] = None
    if not config["interruptible"]:
        config["bid_per_gpu"] = None
    # Env values may be secrets: plans and the state file compare and keep them only as digests.
    config["env"] = {key: digest(str(value)) for key, value in spec.pod.env.items()}
    return config


@dataclass(frozen=True)
class Project:
    dir: Path
    spec_path: Path
    spec: Spec
    settings: Settings
    training: TrainingConfig

    @property
    def run_name(self) -> str:
        return self.training.run_name

    @property
    def mount(self) -> str:
        return self.spec.pod.volume_mount_path

    @property
    def output_dir(self) -> str:
        """The run's output folder on the pod, absolute."""
        return posixpath.join(self.spec.code.path, self.training.output_dir)

    @property
    def command(self) -> str:
        """run.command as it will run: `{config}` and `{run_name}` filled in literally, each quoted for the
        shell (they are values: a config named `$(...)` must not run), every other brace as written."""
        return fill(self.spec.run.command, {"config": shlex.quote(self.spec.run.config),
                                            "run_name": shlex.quote(self.run_name)})


    @cached_property
    def state_file(self) -> StateFile:
        """This spec's state file and lock (one object per project, so a lock taken is the one released)."""
        return StateFile(self.dir, self.spec.name)

    def desired(self) -> Desired:
        return Desired(
            pod_name=self.spec.pod_name,
            run_name=self.run_name,
            gpu_types=tuple(self.spec.pod.gpu_types),
            pod_config=pod_config(self.spec),
            has_network_volume=bool(self.spec.pod.network_volume),
            stop_pod_when_done=self.spec.run.stop_pod_when_done,
            has_data=bool(self.spec.data),
            max_runtime_s=self.spec.run.max_runtime,
            command=self.command,
        )

    def ssh_key(self) -> Path:
        path = self.settings.ssh_key_path
        if path is None:
            if self.settings.env_file is None:
                raise UserError(self.settings.missing("SSH_KEY_PATH"))
            raise UserError("SSH_KEY_PATH is not set; put the path of your private SSH key in .runpod.env "
                            "(make one with: ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519).")
        if not path.is_file():
            raise UserError(f"SSH_KEY_PATH={path} does not exist; create it with `ssh-keygen -t ed25519 -f {path}` "
                            "or point SSH_KEY_PATH at your key in .runpod.env.")
        pub = path.with_name(path.name + ".pub")
        if not pub.is_file():
            raise UserError(f"{pub} is missing; new pods get this public key. Recreate it with "
                            f"`ssh-keygen -y -f {path} > {pub}`.")
        return path

    def public_key(self) -> str:
        key = self.ssh_key()
        return key.with_name(key.name + ".pub").read_text().strip()


def load_project(spec_file: Path | None, environ=None) -> Project:
    spec_path = find_spec(spec_file)
    project_dir = spec_path.parent
    settings = load_settings(project_dir, os.environ if environ is None else environ)
    spec = load_spec(_relative(spec_path), settings)
    return Project(project_dir, spec_path, spec, settings, read_training_config(spec, project_dir))


def _relative(path: Path) -> Path:
    """The spec path as the user would write it, so errors read `podspec.yaml:12:3` (or
    `../podspec.yaml:12:3` when the spec was found in a parent folder)."""
    cwd = Path.cwd()
    if path.parent == cwd or path.parent in cwd.parents:
        return Path(os.path.relpath(path, cwd))
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path
