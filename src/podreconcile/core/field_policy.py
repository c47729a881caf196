"""What a change of each podspec field does: one declared policy per field.

The planner reads this table to decide what a changed pod field means, and `scripts/gen-docs`
prints it into docs/podspec-reference.md, so the reference and the behaviour cannot drift apart. A
test fails when a field of the spec models has no policy here.

The policies are what RunPod's REST v2 API can do: `PATCH /v2/pods/{id}` changes a pod's image, env,
ports and container disk in place (a running pod restarts to take them, a stopped one takes them at
its next start), so the volume disk and its checkpoints stay. GPU type and count, cloud, data center
(pinned by the network volume), the volume itself and spot are not in PATCH, and v2 starts a pod with
the GPU count it was made with: a change of those means a new pod. A spot pod's bid goes with
GraphQL's `podBidResume`, so it applies when the pod next starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Policy(str, Enum):
    IN_PLACE = "changed in place"
    NEXT_START = "applied at the next start"
    REPLACE = "forces a replacement"
    NEXT_RUN = "waits for the next run"
    LOCAL = "local only"


@dataclass(frozen=True)
class FieldPolicy:
    policy: Policy
    why: str


_RP = "RunPod cannot change it on an existing pod"
_PATCH = ("`PATCH /v2/pods/{id}` changes it on the pod, shown as `~ update pod`: a stopped pod takes it at its next "
          "start, a running one restarts, which waits for a live run's end unless `--replace-now`")
_RUN = "read when a run is launched; a live or finished run keeps what it started with"

POLICIES: dict[str, FieldPolicy] = {
    "version": FieldPolicy(Policy.LOCAL, "the podspec format, read by podreconcile only"),
    "name": FieldPolicy(Policy.REPLACE, "the pod is named `podreconcile-<name>`: a new name is a new pod"),
    "pod.gpu_types": FieldPolicy(Policy.REPLACE, "only when the pod's GPU type is no longer in the list; "
                                                 "reordering changes nothing"),
    "pod.gpu_count": FieldPolicy(Policy.REPLACE, _RP + "; v2 starts a pod with the GPU count it was made with"),
    "pod.image": FieldPolicy(Policy.IN_PLACE, _PATCH),
    "pod.cloud": FieldPolicy(Policy.REPLACE, _RP),
    "pod.interruptible": FieldPolicy(Policy.REPLACE, _RP + " (spot and on-demand are different rentals)"),
    "pod.bid_per_gpu": FieldPolicy(Policy.NEXT_START, "podBidResume takes the bid"),
    "pod.container_disk_gb": FieldPolicy(Policy.IN_PLACE, _PATCH),
    "pod.network_volume": FieldPolicy(Policy.REPLACE, _RP + "; a network mount's volume id is immutable, "
                                                  "and the volume pins the data center"),
    "pod.volume_mount_path": FieldPolicy(Policy.REPLACE, _RP),
    "pod.volume_gb": FieldPolicy(Policy.REPLACE, _RP + "; the pod's volume disk and its data go with it "
                                                     "(ignored with a network volume)"),
    "pod.ports": FieldPolicy(Policy.IN_PLACE, _PATCH),
    "pod.env": FieldPolicy(Policy.IN_PLACE, _PATCH + "; the plan names the variables, never their values"),
    "code.path": FieldPolicy(Policy.NEXT_RUN, "the code is synced there before the next launch"),
    "code.sync": FieldPolicy(Policy.NEXT_RUN, "the code is synced before the next launch"),
    "code.exclude": FieldPolicy(Policy.NEXT_RUN, "the code is synced before the next launch"),
    "code.repo": FieldPolicy(Policy.NEXT_RUN, "the code is synced before the next launch"),
    "data[].from": FieldPolicy(Policy.NEXT_RUN, "missing or changed data is uploaded before the next launch"),
    "data[].to": FieldPolicy(Policy.NEXT_RUN, "missing or changed data is uploaded before the next launch"),
    "run.config": FieldPolicy(Policy.NEXT_RUN, _RUN + " (a new output_dir is a new run)"),
    "run.command": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "run.resume_args": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "run.output_dir": FieldPolicy(Policy.NEXT_RUN, _RUN + " (a new output_dir is a new run)"),
    "run.setup": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "run.venv": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "run.stop_pod_when_done": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "run.max_runtime": FieldPolicy(Policy.NEXT_RUN, _RUN),
    "tensorboard.logdir": FieldPolicy(Policy.LOCAL, "read by `podreconcile tensorboard`"),
    "tensorboard.port": FieldPolicy(Policy.LOCAL, "read by `podreconcile tensorboard`"),
}

#: The pod fields the planner compares with what the pod was made with (spec name -> policy).
POD_FIELDS = {path.split(".", 1)[1]: rule.policy for path, rule in POLICIES.items() if path.startswith("pod.")}


def policy_of(pod_field: str) -> Policy:
    """The policy of a pod field by its short name (`image`), `gpu_type` included."""
    return POD_FIELDS["gpu_types" if pod_field == "gpu_type" else pod_field]


def policy_table() -> list[str]:
    """The Markdown table of docs/podspec-reference.md's "What a change does" section."""
    lines = ["| Field | A change | Why |", "| --- | --- | --- |"]
    lines += [f"| `{path}` | {rule.policy.value} | {rule.why} |" for path, rule in POLICIES.items()]
    return lines + [""]
