"""PodFacts from RunPod's pod payload: every field the planner compares an adopted pod on, and env
values never kept (only a digest per name)."""

from __future__ import annotations

from podreconcile.core.observation import PodFacts, PodStatus, env_digest

PAYLOAD = {
    "id": "50qynxzilsxoey", "name": "podreconcile-demo", "desiredStatus": "EXITED",
    "imageName": "runpod/pytorch:2.4.0", "gpuCount": 1, "podType": "RESERVED",
    "containerDiskInGb": 30, "volumeInGb": 20.0, "volumeMountPath": "/workspace",
    "ports": "8888/http,22/tcp", "env": ["HF_TOKEN=hf_s3cret", "EMPTY=", "A=b=c", "garbage"],
    "machine": {"gpuTypeId": "NVIDIA A40"},
}


def test_an_adopted_pods_make_up_is_read_from_the_payload() -> None:
    pod = PodFacts.parse(PAYLOAD)
    assert pod.status is PodStatus.EXITED
    assert (pod.container_disk_gb, pod.volume_gb, pod.volume_mount_path) == (30, 20, "/workspace")
    assert pod.ports == ("8888/http", "22/tcp")
    assert pod.env_digests == {"HF_TOKEN": env_digest("hf_s3cret"), "EMPTY": env_digest(""), "A": env_digest("b=c")}


def test_env_values_are_not_kept_anywhere_in_the_facts() -> None:
    assert "hf_s3cret" not in repr(PodFacts.parse(PAYLOAD))


def test_fields_runpod_does_not_report_stay_unknown() -> None:
    pod = PodFacts.parse({"id": "x", "desiredStatus": "RUNNING"})
    assert (pod.container_disk_gb, pod.volume_gb, pod.volume_mount_path, pod.ports, pod.env_digests) == (None,) * 5
