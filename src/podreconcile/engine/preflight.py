"""Preflight: every check that could fail after a pod is created, made before anything is rented.

A pod created and then abandoned because the folder is not a git repository, a key or a data
folder is missing, or a GPU type is misspelt is a pod billing for nothing. So these checks run on
the local project (and on RunPod's GPU catalog, which the plan reads for stock and price anyway) before the first
mutation: `plan` shows what they find as blockers, `apply` refuses without changing anything.
Each problem is one sentence that names the fix.
"""

from __future__ import annotations

import difflib
import posixpath
from dataclasses import dataclass
from typing import Iterable, Mapping

from podreconcile.core import gpu_choice
from podreconcile.core.errors import UserError
from podreconcile.core.plan import Kind, Plan
from podreconcile.core.ports import GpuOffer
from podreconcile.core.spec import Spec
from podreconcile.engine import codesync
from podreconcile.engine.project import Project

#: The actions that rent a pod or need one reachable: a plan with none of them is not blocked.
NEEDS_PREFLIGHT = frozenset({Kind.CREATE_POD, Kind.START_POD, Kind.REPLACE_POD, Kind.SYNC_CODE,
                             Kind.UPLOAD_DATA, Kind.LAUNCH_RUN})  # an update alone rents nothing
#: The actions that make a new pod, whose GPU type must be one RunPod offers.
NEW_POD = frozenset({Kind.CREATE_POD, Kind.REPLACE_POD})


@dataclass(frozen=True)
class Problem:
    check: str  # git | code | ssh_key | data | config | gpu_types
    message: str  # one sentence naming the fix


def applies_to(plan: Plan) -> bool:
    return any(a.kind in NEEDS_PREFLIGHT for a in plan.actions)


def needs_gpu_list(plan: Plan) -> bool:
    return any(a.kind in NEW_POD for a in plan.actions)


def local_problems(project: Project) -> list[Problem]:
    """The checks on this machine: git, code, SSH key, data, config.

    The run's command needs none: its placeholders are filled literally, so any other brace
    reaches the pod as written, and a typo'd placeholder is already a spec error at load."""
    problems = _code_problems(project)
    problems += _caught("ssh_key", project.ssh_key)
    problems += _data_problems(project)
    return problems


def gpu_problems(spec: Spec, offers: Mapping[str, GpuOffer]) -> list[Problem]:
    """pod.gpu_types that RunPod's catalog does not know, or does not offer in the spec's cloud (pure)."""
    known = sorted(offers)
    pod = spec.pod
    problems = []
    for index, gpu in enumerate(pod.gpu_types):
        where = spec.source.where("pod", "gpu_types", index)
        offer = offers.get(gpu)
        if offer is None:
            close = difflib.get_close_matches(gpu, known, n=3, cutoff=0.5)
            names = [repr(c) for c in close]
            hint = f"did you mean {' or '.join(filter(None, (', '.join(names[:-1]), names[-1])))}?" if close else \
                "RunPod's console lists the GPU type IDs."
            problems.append(Problem("gpu_types", f"{where}: {gpu!r} is not a GPU type RunPod knows; correct it in the "
                                    f"spec ({hint})"))
        elif offer.price_per_gpu is None:
            kind = "spot" if pod.interruptible else "on-demand"
            problems.append(Problem("gpu_types", f"{where}: RunPod does not offer {gpu!r} as {kind} in {pod.cloud} "
                                    "cloud; choose another GPU type or another pod.cloud."))
    return problems


def stock_problems(spec: Spec, plan: Plan) -> list[Problem]:
    """A new pod whose every candidate has no stock: apply would have no GPU type to try (pure)."""
    if not gpu_choice.without_stock(plan):
        return []
    where = spec.source.where("pod", "gpu_types")
    return [Problem("gpu_types", f"{where}: none of pod.gpu_types ({', '.join(spec.pod.gpu_types)}) has stock in "
                                 "RunPod's catalog now; add another GPU type to pod.gpu_types, or plan again later.")]



def _code_problems(project: Project) -> list[Problem]:
    """The code must be a git checkout; push sends its tracked files, and the config must be one."""
    code, run = project.spec.code, project.spec.run
    try:
        tracked = codesync.tracked_files(project.dir)
    except UserError as error:
        return [Problem("git", str(error).rstrip(".") + ".")]
    if code.sync == "git":
        if not codesync.revision(project.dir).commit:
            return [Problem("git", f"code.sync is git, but {project.dir} has no commit yet; commit and push your code.")]
        return []
    if not tracked:
        return [Problem("code", f"git tracks no file in {project.dir}, so code sync would send nothing; "
                                "`git add` your code and commit it.")]
    where = project.spec.source.where("run", "config")
    if posixpath.normpath(run.config) not in tracked:
        return [Problem("config", f"{where}: the training config {run.config} is not tracked by git, so it would not "
                                  f"reach the pod; `git add {run.config}`.")]
    if codesync.is_excluded(run.config, code.exclude):
        return [Problem("config", f"{where}: the training config {run.config} matches code.exclude, so it would not "
                                  "reach the pod; narrow code.exclude.")]
    return []


def _data_problems(project: Project) -> list[Problem]:
    """Each data[].from exists. Only that: observe walks the files (and names any unreadable one)."""
    problems = []
    for index, item in enumerate(project.spec.data):
        source = project.dir / item.from_
        if not source.exists():
            where = project.spec.source.where("data", index, "from")
            problems.append(Problem("data", f"{where}: data[{index}].from: {item.from_} does not exist (looked for "
                                            f"{source}); create it, or correct `from` in the spec."))
    return problems


def _caught(check: str, step) -> list[Problem]:
    try:
        step()
    except UserError as error:
        return [Problem(check, str(error).rstrip(".") + ".")]
    return []


def blocker_text(problems: Iterable[Problem]) -> str:
    return " ".join(p.message for p in problems)
