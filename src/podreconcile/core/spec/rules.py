"""RunPod's rules and podreconcile's own, checked on a Spec that passed the models.

Each rule is a small function returning the problems it finds, located at the value to change.
They run before any API call, so a spec RunPod would refuse (or silently mishandle) never gets
that far.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator

from podreconcile.core.spec.models import Spec
from podreconcile.core.spec.problems import Problem
from podreconcile.core.spec.source import SourceMap

Rule = Callable[[Spec, SourceMap], Iterator[Problem]]


def check_rules(spec: Spec, source: SourceMap) -> list[Problem]:
    """Every problem every rule finds."""
    return [problem for rule in RULES for problem in rule(spec, source)]


def network_volume_needs_secure_cloud(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """RunPod offers network volumes only in Secure Cloud."""
    if spec.pod.network_volume is not None and spec.pod.cloud != "secure":
        yield source.problem(("pod", "cloud"), (
            f"a network volume needs cloud: secure (RunPod has network volumes only in Secure "
            f"Cloud), got {spec.pod.cloud!r}; set cloud: secure or remove pod.network_volume"
        ))


def interruptible_needs_bid(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """A spot pod is rented with a bid; a bid on an on-demand pod would be silently ignored."""
    if spec.pod.interruptible and spec.pod.bid_per_gpu is None:
        yield source.problem(("pod", "interruptible"), (
            "an interruptible (spot) pod needs a bid; add pod.bid_per_gpu "
            "(dollars per GPU per hour, e.g. bid_per_gpu: 0.2) or set interruptible: false"
        ))
    if not spec.pod.interruptible and spec.pod.bid_per_gpu is not None:
        yield source.problem(("pod", "bid_per_gpu"), (
            "a bid only applies to interruptible (spot) pods; "
            "set pod.interruptible: true or remove bid_per_gpu"
        ))


def volume_mount_is_not_root(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """A volume mounted on / would hide the image's whole file system."""
    if spec.pod.volume_mount_path == "/":
        yield source.problem(("pod", "volume_mount_path"), (
            "must not be '/': the volume would hide the whole system; use a folder like /workspace"
        ))


def volume_size_matches_volume_kind(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """volume_gb sizes the pod's own volume, which a network volume replaces."""
    pod = spec.pod
    if pod.network_volume is None and pod.volume_gb is None:
        yield source.problem(("pod", "volume_gb"), (
            "a pod without a network volume needs a volume disk, or everything is lost on stop; "
            "set volume_gb (e.g. 20) or pod.network_volume"
        ))
    if pod.network_volume is not None and pod.volume_gb is not None and "volume_gb" in pod.model_fields_set:
        yield source.problem(("pod", "volume_gb"), (
            "the network volume replaces the pod's volume disk, so volume_gb would be ignored; "
            "remove volume_gb (or pod.network_volume)"
        ))


def kept_paths_live_on_the_volume(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """Only the volume survives a stop: code, data and the venv outside it would be lost."""
    mount = spec.pod.volume_mount_path
    if mount == "/":
        return
    kept = [(("code", "path"), spec.code.path)]
    kept += [(("data", i, "to"), item.to) for i, item in enumerate(spec.data)]
    if spec.run.venv is not None:
        kept.append((("run", "venv"), spec.run.venv))
    for path, where in kept:
        if where == mount:
            yield source.problem(path, (
                f"is the volume's root ({mount}), which podreconcile also uses for logs; "
                f"use a folder under it, e.g. {mount}/{path[0]}"
            ))
        elif not where.startswith(mount + "/"):
            yield source.problem(path, (
                f"{where} is outside the volume ({mount}), so it would vanish when the pod stops; "
                f"put it under {mount}, e.g. {mount}/{posixpath.basename(where)}"
            ))


def data_targets_are_distinct(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """Two uploads to the same place would overwrite each other."""
    seen: dict[str, int] = {}
    for index, item in enumerate(spec.data):
        if item.to in seen:
            yield source.problem(("data", index, "to"), (
                f"data[{seen[item.to]}] already uploads to {item.to}; give each entry its own 'to'"
            ))
        seen.setdefault(item.to, index)


def repo_only_with_git_sync(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """code.repo is what `sync: git` clones; with `sync: push` it would be ignored."""
    if spec.code.repo is not None and spec.code.sync != "git":
        yield source.problem(("code", "repo"), (
            "repo is only used with sync: git; set code.sync: git or remove repo"
        ))


def secret_env_names_are_in_env(spec: Spec, source: SourceMap) -> Iterator[Problem]:
    """pod.secret_env marks values of pod.env; a name that is not there marks nothing."""
    for index, name in enumerate(spec.pod.secret_env):
        if name not in spec.pod.env:
            yield source.problem(("pod", "secret_env", index), (
                f"{name} is not in pod.env; add it to pod.env or remove it from secret_env"
            ))


RULES: tuple[Rule, ...] = (
    network_volume_needs_secure_cloud,
    interruptible_needs_bid,
    volume_mount_is_not_root,
    volume_size_matches_volume_kind,
    kept_paths_live_on_the_volume,
    data_targets_are_distinct,
    repo_only_with_git_sync,
    secret_env_names_are_in_env,
)
