"""Golden tests of every kind of plan rendering: terminal (plain and coloured), Markdown and JSON.

Regenerate the golden files after an intended change with: UPDATE_GOLDEN=1 pytest tests/unit/test_render.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from podreconcile.cli.render import plan_json, plan_markdown, plan_text
from podreconcile.core.plan import (
    Action,
    Contingency,
    Cost,
    Expect,
    Fact,
    FieldChange,
    GpuCandidate,
    Kind,
    LaunchMode,
    Plan,
    Reason,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = 1_800_000_000.0
HEADING = "Plan for demo: pod podreconcile-demo, run baseline"
GPUS = ("NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000")
REPLACES = "forces a replacement"
IN_PLACE = "changed in place"
NOT_ALIVE = Expect(Fact.RUN_NOT_ALIVE)

PLANS = {
    "create": Plan(
        (Action(Kind.CREATE_POD, "no pod exists for this spec", gpu_types=GPUS + ("NVIDIA L40S",),
                candidates=(GpuCandidate(GPUS[0], "NONE", 0.69), GpuCandidate(GPUS[1], "LOW", 0.76),
                            GpuCandidate("NVIDIA L40S", "HIGH", None))),
         Action(Kind.SYNC_CODE, "a new pod has no code"),
         Action(Kind.UPLOAD_DATA, "what a new pod's volume holds is known after it starts"),
         Action(Kind.LAUNCH_RUN, "the run has not started yet", mode=LaunchMode.AUTO)),
        summary="Run baseline has not started on this pod.",
        cost=Cost("NVIDIA RTX A6000", 1, 0.76, 86400)),
    "resume": Plan(
        (Action(Kind.SYNC_CODE, "3 changed file(s), 0 to delete", files=3, bytes=48_213),
         Action(Kind.UPLOAD_DATA, "2 of 300 data file(s) missing or changed on the volume", files=2, bytes=52_000_000),
         Action(Kind.LAUNCH_RUN, "attempt 2 is no longer alive (running when it stopped: the pod was stopped or preempted)",
                mode=LaunchMode.RESUME, checkpoint="checkpoint-1500", step=1500, checkpoint_mtime=NOW - 1500)),
        summary="Run baseline is not running (attempt 2: running).",
        notes=("checkpoint-2000 is incomplete (no trainer_state.json) and is skipped",)),
    "replace": Plan(
        (Action(Kind.REPLACE_POD, "pod.gpu_type, pod.gpu_count cannot change in place", code=Reason.FIELD_CHANGED,
                pod_id="abcdefghijklmn", gpu_types=GPUS,
                changes=(FieldChange("gpu_type", "NVIDIA A40", list(GPUS), REPLACES),
                         FieldChange("gpu_count", 1, 2, REPLACES),
                         FieldChange("image", "runpod/pytorch:2.3", "runpod/pytorch:2.4", IN_PLACE),
                         FieldChange("env", None, None, IN_PLACE, ("HF_TOKEN",))),
                expects=(Expect(Fact.POD_STATUS, "EXITED"),)),
         Action(Kind.SYNC_CODE, "a new pod has no code", code=Reason.NEW_POD),
         Action(Kind.LAUNCH_RUN, "--force-restart: checkpoints are ignored", code=Reason.FORCE_RESTART,
                mode=LaunchMode.FORCE_RESTART, expects=(NOT_ALIVE,))),
        summary="Run baseline has not started on this pod.",
        cost=Cost("NVIDIA RTX A6000", 2, 1.52, 7200)),
    "start": Plan(
        (Action(Kind.ADOPT_POD, "found by its name podreconcile-demo, not in the state file",
                code=Reason.POD_NOT_IN_STATE, pod_id="abcdefghijklmn"),
         Action(Kind.START_POD, "the pod is stopped (Outbid: Sun Nov 29 2026)", code=Reason.POD_STOPPED,
                pod_id="abcdefghijklmn", gpu_types=GPUS, contingency=Contingency.REPLACE_IF_HOST_HAS_NO_FREE_GPU,
                expects=(Expect(Fact.POD_STATUS, "EXITED"),)),
         Action(Kind.SYNC_CODE, "code changes since the last sync are known after start",
                code=Reason.UNKNOWN_UNTIL_START),
         Action(Kind.LAUNCH_RUN, "the run was last seen running (attempt 1); it is not alive on a stopped pod",
                code=Reason.RUN_OUTCOME_UNKNOWN, mode=LaunchMode.AUTO, contingency=Contingency.SKIP_IF_RUN_SUCCEEDED,
                expects=(NOT_ALIVE,))),
        summary="Run baseline was last seen running (attempt 1); its outcome is unknown until the pod's volume "
                "can be read (the pod is stopped).",
        cost=Cost("RTX 4090", 1, 0.69, 86400)),
    "stop_idle": Plan(
        (Action(Kind.STOP_POD, "the run succeeded and the pod is idle", pod_id="abcdefghijklmn"),),
        summary="Run baseline succeeded (attempt 3)."),
    "no_changes": Plan(summary="Run baseline is running (attempt 2); nothing to do."),
    "deferred": Plan(
        summary="Run baseline is alive (attempt 2, step 1530, latest checkpoint checkpoint-1500); the pod is not "
                "restarted under it.",
        notes=("pod.image changed; updating the pod restarts it, so the update waits for the end of run baseline "
               "and the live training is not killed. `apply --replace-now` updates and restarts the pod now: it "
               "kills the training, which then resumes after the restart from checkpoint-1500 (step 1500); the "
               "volume disk stays",),
        deferred=(FieldChange("image", "runpod/pytorch:2.3", "runpod/pytorch:2.4", IN_PLACE),),
        deferred_code=Reason.RUN_ALIVE),
    "replace_now": Plan(
        (Action(Kind.REPLACE_POD, "--replace-now: pod.gpu_count changed; the running training (attempt 2, step 1530, "
                "latest checkpoint checkpoint-1500) is killed and resumes on the new pod from checkpoint-1500 "
                "(step 1500)", code=Reason.REPLACE_NOW, pod_id="abcdefghijklmn", gpu_types=GPUS,
                data_center="EU-RO-1", candidates=(GpuCandidate(GPUS[0], "MEDIUM", 0.69),
                                                   GpuCandidate(GPUS[1], "HIGH", 0.76)),
                changes=(FieldChange("gpu_count", 1, 2, REPLACES),),
                expects=(Expect(Fact.POD_STATUS, "RUNNING"),)),
         Action(Kind.SYNC_CODE, "a new pod has no code", code=Reason.NEW_POD),
         Action(Kind.LAUNCH_RUN, "the training killed by --replace-now resumes", code=Reason.REPLACE_NOW,
                mode=LaunchMode.RESUME, checkpoint="checkpoint-1500", step=1500, checkpoint_mtime=NOW - 90,
                expects=(NOT_ALIVE, Expect(Fact.LATEST_CHECKPOINT, "checkpoint-1500")))),
        summary="Run baseline is killed and moves to a new pod (--replace-now).",
        cost=Cost("NVIDIA GeForce RTX 4090", 1, 0.69, 86400)),
    "update_stopped": Plan(
        (Action(Kind.UPDATE_POD, "pod.image, pod.env changed; RunPod changes them on the stopped pod, which takes "
                "them at its next start", code=Reason.FIELD_CHANGED_IN_PLACE, pod_id="abcdefghijklmn",
                changes=(FieldChange("image", "runpod/pytorch:2.3", "runpod/pytorch:2.4", IN_PLACE),
                         FieldChange("env", None, None, IN_PLACE, ("HF_TOKEN", "WANDB_API_KEY"))),
                restart=False, expects=(Expect(Fact.POD_STATUS, "EXITED"),)),
         Action(Kind.START_POD, "the pod is stopped (Exited by user)", code=Reason.POD_STOPPED, pod_id="abcdefghijklmn",
                expects=(Expect(Fact.POD_STATUS, "EXITED"),)),
         Action(Kind.SYNC_CODE, "code changes since the last sync are known after start",
                code=Reason.UNKNOWN_UNTIL_START),
         Action(Kind.LAUNCH_RUN, "attempt 2 failed with exit code 1", code=Reason.RUN_FAILED, mode=LaunchMode.AUTO,
                expects=(NOT_ALIVE,))),
        summary="Run baseline is not running (the pod is stopped).",
        cost=Cost("NVIDIA GeForce RTX 4090", 1, 0.69, 86400)),
    "update_restart": Plan(
        (Action(Kind.UPDATE_POD, "pod.ports changed; RunPod changes it on the pod, which restarts to take it (no "
                "run is alive)", code=Reason.FIELD_CHANGED_IN_PLACE, pod_id="abcdefghijklmn",
                changes=(FieldChange("ports", ["22/tcp"], ["22/tcp", "8888/http"], IN_PLACE),), restart=True,
                expects=(Expect(Fact.POD_STATUS, "RUNNING"), NOT_ALIVE)),
         Action(Kind.SYNC_CODE, "code changes are known once the restarted pod answers",
                code=Reason.UNKNOWN_UNTIL_START),
         Action(Kind.LAUNCH_RUN, "attempt 2 failed with exit code 1", code=Reason.RUN_FAILED, mode=LaunchMode.AUTO,
                expects=(NOT_ALIVE,))),
        summary="The pod restarts to take the changes; run baseline goes on after it."),
    "blocked": Plan(
        (Action(Kind.STOP_POD, "another pod named podreconcile-demo that the state file does not name", pod_id="a1"),
         Action(Kind.STOP_POD, "another pod named podreconcile-demo that the state file does not name", pod_id="b2")),
        summary="Ambiguous pods.",
        blocker="Several pods are named podreconcile-demo (a1, b2); podreconcile will not pick one."),
}

RENDERERS = {
    "txt": lambda plan: plan_text(plan, HEADING, colour=False, now=NOW) + "\n",
    "ansi": lambda plan: plan_text(plan, HEADING, colour=True, now=NOW) + "\n",
    "md": lambda plan: plan_markdown(plan, HEADING, now=NOW),
    "json": lambda plan: plan_json(plan) + "\n",
}


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("kind", RENDERERS)
def test_rendering_matches_golden(name: str, kind: str) -> None:
    rendered = RENDERERS[kind](PLANS[name])
    golden = GOLDEN / f"plan_{name}.{kind}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1 to create it"
    assert rendered == golden.read_text(), f"{golden} differs; if intended, regenerate with UPDATE_GOLDEN=1"


def test_an_upload_of_unknown_size_names_the_local_data() -> None:
    upload = Action(Kind.UPLOAD_DATA, "data changes since the last upload are known after start",
                    local_files=300, local_bytes=52_000_000)
    text = plan_text(Plan((upload,)), HEADING)
    assert "local data: 300 file(s), 52.0 MB; what the volume lacks of it is (known after apply)" in text
    assert Plan.from_dict(json.loads(plan_json(Plan((upload,))))) == Plan((upload,))


def test_changed_values_read_as_podspec_yaml_spells_them() -> None:
    replace = Action(Kind.REPLACE_POD, "interruptible, network_volume cannot change in place", pod_id="p1",
                     changes=(FieldChange("interruptible", False, True), FieldChange("network_volume", None, "nv-1")))
    text = plan_text(Plan((replace,)), HEADING)
    assert "interruptible: false -> true" in text and "network_volume: (none) -> nv-1" in text
    assert "None" not in text and "False" not in text and "'" not in text


def test_plain_text_has_no_escape_codes_and_colour_has() -> None:
    for plan in PLANS.values():
        assert "\033[" not in RENDERERS["txt"](plan)
    assert "\033[32m" in RENDERERS["ansi"](PLANS["create"])


@pytest.mark.parametrize("name", PLANS)
def test_json_round_trips_to_the_same_plan(name: str) -> None:
    assert Plan.from_dict(json.loads(plan_json(PLANS[name]))) == PLANS[name]


def test_the_plan_format_document_names_every_field() -> None:
    from dataclasses import fields

    from podreconcile.core.plan import Cost

    doc = (Path(__file__).resolve().parents[2] / "docs" / "plan-format.md").read_text()
    names = ({f.name for f in fields(Action)} | {f.name for f in fields(Cost)} | set(Plan().to_dict())
             | {f.name for f in fields(FieldChange)} | {f.name for f in fields(Expect)})
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/plan-format.md does not describe {missing}"
    for enum in (Kind, Reason, Fact, Contingency, LaunchMode):
        undocumented = [member.value for member in enum if f"`{member.value}`" not in doc]
        assert not undocumented, f"docs/plan-format.md does not describe {enum.__name__} {undocumented}"
