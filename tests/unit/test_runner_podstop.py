"""The runner's pod stop chain: runpodctl, then REST v2, then GraphQL, each checked by a status read.

A local HTTP server plays RunPod's v2 and GraphQL as the pod's key meets them (tests/runpod_api_stub.py);
a fake `runpodctl` on PATH records its calls and, when it "works", marks the pod stopped.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from podreconcile.remote.runner import launch as launch_json
from podreconcile.remote.runner import podapi, podstop
from tests.runpod_api_stub import PodApiStub

KEY = "rpa_PODKEY_0123456789abcdef"
POD_ID = "k3x9q2m7p1z8w4"


class Pod:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "runpodctl-calls.txt"
        self.marker = root / "runpodctl-stopped"
        self.api = PodApiStub(POD_ID, KEY, self.marker)
        self.lines: list[str] = []
        self.env = {"PATH": "%s:/usr/bin:/bin" % self.bin, "RUNPOD_POD_ID": POD_ID, "RUNPOD_API_KEY": KEY}

    def runpodctl(self, exit_code: int = 0, works: bool = True) -> None:
        """A runpodctl that records `stop pod ID`; `works=False` exits 0 without stopping, as RunPod's can."""
        effect = "touch %s\n" % shlex.quote(str(self.marker)) if works and exit_code == 0 else \
            "echo 'pod \"%s\" stop failed; status is RUNNING'\n" % POD_ID
        script = self.bin / "runpodctl"
        script.write_text("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\n%sexit %d\n"
                          % (shlex.quote(str(self.calls)), effect, exit_code))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def stop(self, **launch) -> str:
        data = {"run_name": "r", "mount": "/m", "code_path": "/c", "output_dir": "o", "command": "true",
                "api_base_url": self.api.base, "stop_verify_s": 1}
        data.update(launch)
        return podstop.stop_pod(dict(self.env), launch_json.Launch("launch.json", data), self.lines.append)

    def runpodctl_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def pod(tmp_path):
    fake = Pod(tmp_path)
    yield fake
    fake.api.close()
    assert not any(KEY in line for line in fake.lines)  # the key never reaches the log


def test_a_working_runpodctl_is_verified_by_reading_the_status(pod):
    pod.runpodctl()
    assert pod.stop() == "runpodctl"
    assert pod.runpodctl_calls() == ["stop pod %s" % POD_ID]
    assert pod.api.seen("v2-read") and not pod.api.seen("v2-stop") and not pod.api.seen("graphql-stop")


def test_without_runpodctl_the_v2_action_stops_the_pod(pod):
    assert pod.stop() == "api_v2"
    (stop,) = pod.api.seen("v2-stop")
    assert stop["body"] == {"action": "stop"} and stop["auth"] == "Bearer " + KEY
    assert stop["path"] == "/v2/pods/%s/action" % POD_ID
    assert any("runpodctl not found" in line for line in pod.lines)
    assert pod.api.seen("v2-read")  # verified


def test_a_runpodctl_that_exits_0_without_stopping_is_not_trusted(pod):
    pod.runpodctl(exit_code=0, works=False)
    assert pod.stop() == "api_v2"
    assert pod.runpodctl_calls() == ["stop pod %s" % POD_ID] and len(pod.api.seen("v2-stop")) == 1


def test_a_403_from_v2_falls_through_to_graphql(pod):
    pod.runpodctl(exit_code=0, works=False)
    pod.api.v2 = "forbidden"
    assert pod.stop() == "graphql"
    assert len(pod.api.seen("v2-stop")) == 1 and len(pod.api.seen("graphql-stop")) == 1
    assert pod.api.seen("graphql-read")  # the status came from GraphQL, v2 refused the read
    assert any("403" in line for line in pod.lines)


def test_runpodctl_missing_v2_refused_and_graphql_gone_fails_after_trying_each_way(pod):
    pod.api.v2, pod.api.graphql = "forbidden", "gone"
    assert pod.stop() == "failed"
    assert len(pod.api.seen("v2-stop")) == 1 and len(pod.api.seen("graphql-stop")) == 1
    assert pod.api.status == "RUNNING"


def test_graphql_gone_does_not_matter_when_v2_answers(pod):
    pod.api.graphql = "gone"
    pod.runpodctl(exit_code=1)
    assert pod.stop() == "api_v2"
    assert not pod.api.seen("graphql-stop") and not pod.api.seen("graphql-read")


def test_a_v2_api_that_is_not_there_reads_the_status_over_graphql(pod):
    pod.runpodctl()
    pod.api.v2 = "absent"  # an HTML 404, as from an API base without v2
    assert pod.stop() == "runpodctl"
    assert pod.api.seen("graphql-read")


def test_a_stop_nobody_can_confirm_is_unverified(pod):
    pod.runpodctl()
    pod.api.v2, pod.api.graphql = "forbidden", "forbidden"
    assert pod.stop(stop_verify_s=600) == "unverified"  # no waiting when no reader is left
    assert len(pod.api.seen("v2-read")) == 1  # a reader that refused is not asked again


def test_a_409_on_the_v2_stop_is_checked_by_the_status(pod):
    pod.api.stopped = True  # already stopped: v2 answers 409
    pod.runpodctl(exit_code=1)
    assert pod.stop() == "api_v2"


def test_without_a_pod_id_nothing_is_tried(pod):
    pod.env.pop("RUNPOD_POD_ID")
    assert pod.stop() == "no_pod_id" and pod.api.requests == []


def test_the_graphql_urls_put_the_pods_own_first_and_skip_a_rest_base_in_runpod_api_url():
    launch = launch_json.Launch("launch.json", {"run_name": "r", "mount": "/m", "code_path": "/c",
                                                "output_dir": "o", "command": "true",
                                                "api_base_url": "http://127.0.0.1:9/"})
    env = {"RUNPOD_GRAPHQL_URL": "http://pod.local/graphql", "RUNPOD_API_URL": "https://rest.runpod.io/v1"}
    assert podstop.graphql_urls(env, launch) == ["http://pod.local/graphql", "http://127.0.0.1:9/graphql"]
    assert podstop.v2_bases(launch) == ["http://127.0.0.1:9/v2"]
    bare = launch_json.Launch("launch.json", {"run_name": "r", "mount": "/m", "code_path": "/c",
                                              "output_dir": "o", "command": "true"})
    assert podstop.v2_bases(bare) == ["https://api.runpod.io/v2"]
    assert podstop.graphql_urls({"RUNPOD_API_URL": "https://api.runpod.io/graphql"}, bare) == \
        ["https://api.runpod.io/graphql"]


def test_urls_are_logged_without_credentials():
    assert podapi.url_for_log("https://u:pw@api.example:8443/graphql?api_key=k") == "https://api.example:8443/graphql"


@pytest.mark.parametrize("answer, problem", [
    ({"data": {"podStop": {"id": "p", "desiredStatus": "EXITED"}}}, None),
    ({"errors": [{"message": "denied"}], "data": None}, "GraphQL errors"),
    ({"data": {"podStop": None}}, "no podStop in the answer"),
    ([], "not a JSON object"),
])
def test_the_graphql_stop_answer_is_checked(answer, problem):
    assert podapi.stop_answer_problem(answer) == problem

