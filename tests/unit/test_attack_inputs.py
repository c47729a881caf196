"""Issue 9, written as the attacks: each test fails on the code before the fix and passes after.

Findings 2, 3, 4, 5 and 7 also have end-to-end tests against the sandbox (tests/e2e/test_attacks.py).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from podreconcile.cli.render import plan_json, plan_markdown, plan_text
from podreconcile.core.errors import PermanentError, SpecError, UserError
from podreconcile.core.planner import plan
from podreconcile.core.run_observation import parse_probe, parse_status
from podreconcile.core.secret import Secret, digest
from podreconcile.core.spec import Settings, parse_spec
from podreconcile.core.spec.command import fill
from podreconcile.core.spec.source import parse_yaml, to_plain
from podreconcile.core.state import State
from podreconcile.engine.codesync import parse_manifest
from podreconcile.engine.datasync import local_data, parse_listing
from podreconcile.engine.project import load_project, pod_config
from podreconcile.engine.state_file import StateFile
from tests.unit.test_planner import desired, obs, pod, state
from tests.unit.test_spec import MINIMAL

OLD_TOKEN, NEW_TOKEN = "hf_OLDs3cr3tTOKEN", "hf_NEWs3cr3tTOKEN"


def project_dir(tmp_path: Path, spec: str = MINIMAL, config: str = "output_dir: outputs/run1\n") -> Path:
    (tmp_path / "configs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "configs" / "tiny.yaml").write_text(config)
    (tmp_path / "podspec.yaml").write_text(spec)
    return tmp_path


# ---- 1. env secrets in the state file and in plans --------------------------------------------


def test_1_a_rotated_token_shows_as_changed_in_every_plan_format_and_never_by_value() -> None:
    spec = MINIMAL.replace("  image: runpod/base:0.0.0\n", "  image: runpod/base:0.0.0\n  env: {HF_TOKEN: '${HF_TOKEN}'}\n")
    old = pod_config(parse_spec(spec, "podspec.yaml", Settings({"HF_TOKEN": OLD_TOKEN})))
    new = pod_config(parse_spec(spec, "podspec.yaml", Settings({"HF_TOKEN": NEW_TOKEN})))
    d = desired()
    d = replace(d, pod_config={**d.pod_config, "env": new["env"]})
    st = state(d, env=old["env"])
    result = plan(d, st, obs(pod()))
    outputs = [plan_text(result, "Plan"), plan_markdown(result, "Plan"), plan_json(result),
               json.dumps(st.pod_config)]
    assert "env.HF_TOKEN: (changed)" in outputs[0]
    for text in outputs:
        assert OLD_TOKEN not in text and NEW_TOKEN not in text


def test_1_a_state_file_of_an_older_release_loses_its_clear_env_values_when_read(tmp_path: Path) -> None:
    folder = tmp_path / ".podreconcile" / "tiny"
    folder.mkdir(parents=True, mode=0o700)
    (tmp_path / ".podreconcile").chmod(0o700)
    (folder / "state.json").write_text(json.dumps({"format": 1, "pod_id": "p1", "pod_config": {"env": {"HF_TOKEN": OLD_TOKEN}}}))
    (folder / "state.json").chmod(0o600)
    states = StateFile(tmp_path, "tiny")
    states.write(states.read())
    text = (folder / "state.json").read_text()
    assert OLD_TOKEN not in text and digest(OLD_TOKEN) in text


def test_1_files_podreconcile_writes_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        states = StateFile(tmp_path, "tiny")
        states.write(State(pod_id="p1"))
        states.lock("test")
        states.unlock()
    finally:
        os.umask(old)
    assert stat.S_IMODE(states.folder.stat().st_mode) == 0o700
    for name in ("state.json", "lock"):
        assert stat.S_IMODE((states.folder / name).stat().st_mode) == 0o600


def test_1_settings_values_never_render() -> None:
    settings = Settings({"RUNPOD_API_KEY": "rpa_S3CRET", "HF_TOKEN": "hf_S3CRET"})
    shown = f"{settings} {settings!r} {settings.api_key} {settings.api_key!r} {settings.get('HF_TOKEN'):>20}"
    assert "S3CRET" not in shown
    assert settings.api_key.reveal() == "rpa_S3CRET"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


# ---- 2. a committed symlink overwrites the user's files ----------------------------------------


@pytest.mark.parametrize("name", ["lock", "state.json"])
def test_2_a_symlink_in_the_state_folder_is_refused_and_its_target_untouched(tmp_path: Path, name: str) -> None:
    target = tmp_path / "bashrc"
    target.write_text("precious\n")
    (tmp_path / ".podreconcile" / "tiny").mkdir(parents=True)
    (tmp_path / ".podreconcile" / "tiny" / name).symlink_to(target)
    states = StateFile(tmp_path, "tiny")
    with pytest.raises(UserError, match="symlink"):
        states.lock("stop")
    with pytest.raises(UserError, match="symlink"):
        states.write(State())
    assert target.read_text() == "precious\n"


def test_2_a_planted_temp_file_symlink_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "bashrc"
    target.write_text("precious\n")
    folder = tmp_path / ".podreconcile" / "tiny"
    folder.mkdir(parents=True)
    # The name the state file's temp file gets in this process.
    tmp = folder / f".state.json.{os.getpid()}.tmp"
    tmp.symlink_to(target)
    with pytest.raises(UserError, match="symlink"):
        StateFile(tmp_path, "tiny").write(State(pod_id="p1"))  # the folder holds a symlink
    assert target.read_text() == "precious\n"


def test_2_a_symlinked_state_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".podreconcile").symlink_to(elsewhere)
    with pytest.raises(UserError, match="is a symlink"):
        StateFile(project, "tiny").lock("apply")
    assert list(elsewhere.iterdir()) == []


def test_2_a_state_folder_tracked_by_git_is_refused(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".podreconcile" / "tiny").mkdir(parents=True)
    (tmp_path / ".podreconcile" / "tiny" / "state.json").write_text('{"format": 1, "pod_id": "theirs"}')
    subprocess.run(["git", "-C", str(tmp_path), "add", "-f", ".podreconcile"], check=True)
    with pytest.raises(UserError, match="tracked by git"):
        StateFile(tmp_path, "tiny").read()


# ---- 3. data upload reads outside the project --------------------------------------------------


def test_3_data_from_a_parent_folder_is_a_spec_error() -> None:
    spec = MINIMAL + "data:\n  - from: ../keys/id_ed25519\n    to: /workspace/data/k\n"
    with pytest.raises(SpecError, match="must stay inside the project"):
        parse_spec(spec, "podspec.yaml", Settings({}))


def test_3_a_symlink_in_a_data_folder_that_leads_outside_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "id_ed25519").write_text("PRIVATE KEY")
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    (project / "data" / "a.txt").write_text("ok")
    (project / "data" / "innocent.txt").symlink_to(keys / "id_ed25519")
    item = SimpleNamespace(from_="data", to="/workspace/data")
    with pytest.raises(UserError, match="leads outside the project"):
        local_data(project, [item])


def test_3_a_symlink_inside_the_project_is_still_fine(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "real.txt").write_text("ok")
    (tmp_path / "data" / "link.txt").symlink_to(tmp_path / "real.txt")
    files = local_data(tmp_path, [SimpleNamespace(from_="data", to="/workspace/data")])
    assert [f.remote for f in files] == ["/workspace/data/link.txt"]


def test_3_a_training_config_symlinked_out_of_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("output_dir: outputs/run1\n")
    project = project_dir(tmp_path / "proj")
    (project / "configs" / "tiny.yaml").unlink()
    (project / "configs" / "tiny.yaml").symlink_to(outside)
    with pytest.raises(SpecError, match="leads outside the project"):
        load_project(project / "podspec.yaml", environ={})


# ---- 5. str.format on run.command --------------------------------------------------------------


@pytest.mark.parametrize("command", [
    "awk '{print $0}' {config} && python train.py --config {config}",
    "python train.py --config {config} --x {config.__class__} {0} {}",
])
def test_5_braces_pass_through_and_placeholders_are_filled_literally(tmp_path: Path, command: str) -> None:
    spec = MINIMAL + f"  command: \"{command}\"\n"
    project = load_project(project_dir(tmp_path, spec) / "podspec.yaml", environ={})
    expected = command.replace("{config}", "configs/tiny.yaml")
    assert project.command == expected
    assert plan(project.desired(), State(), obs()).actions[-1].command == expected


def test_5_a_filled_value_is_never_scanned_again() -> None:
    assert fill("{config} {run_name}", {"config": "{run_name}", "run_name": "r"}) == "{run_name} r"


def test_5_a_typo_of_a_placeholder_is_still_caught() -> None:
    with pytest.raises(SpecError, match=r"did you mean \{config\}"):
        parse_spec(MINIMAL + "  command: python train.py --config {confg}\n", "podspec.yaml", Settings({}))


# ---- 7. a pod can crash the laptop's commands --------------------------------------------------


@pytest.mark.parametrize("status", [
    '{"attempt": "\u00b2", "state": "running"}',
    '{"attempt": ' + "9" * 5000 + ', "exit_code": "-' + "9" * 30 + '"}',
    '{"pid": 1.5, "started_at": "9999-99-99", "launch_id": ["x"], "run": {"a": 1}, "attempt": 1e400}',
    "[" * 100_000 + "]" * 100_000,
])
def test_7_a_malicious_status_json_is_unreadable_not_a_crash(status: str) -> None:
    facts = parse_probe('{"runner_alive": true, "status": ' + status + "}") if not status.startswith("[") else None
    assert facts is None or facts.status is None or facts.status.attempt is None
    assert facts is None or facts.runner_alive  # the other facts still count
    found = parse_status(status)
    assert found is None or found.attempt is None


def test_7_a_checkpoint_mtime_of_10_to_the_400_is_unreadable() -> None:
    facts = parse_probe('{"checkpoints": [{"step": 10, "complete": true, "mtime": 1e400}, '
                        '{"step": 20, "mtime": ' + "1" + "0" * 400 + "}]}")
    assert [c.mtime for c in facts.checkpoints] in ([None, None], [])


@pytest.mark.parametrize("text", ['{"files": []}', '{"files": {"a": ["²", 1]}, "rsync": 3}', "[1]", "x" * 100])
def test_7_malformed_listings_are_one_clear_error_or_left_out(text: str) -> None:
    try:
        listing = parse_listing(text)
    except PermanentError as error:
        assert "could not be parsed" in str(error)
    else:
        assert dict(listing) == {}


@pytest.mark.parametrize("text", ['{"files": []}', '{"files": {"a": [1, 2, 3]}, "synced": [[1]], "revision": 5}'])
def test_7_malformed_code_manifests_are_one_clear_error_or_left_out(text: str) -> None:
    try:
        manifest = parse_manifest(text)
    except PermanentError as error:
        assert "could not be parsed" in str(error)
    else:
        assert manifest.files == {} and manifest.revision is None


# ---- 8. a YAML alias bomb ----------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\noutput_dir: *a{levels - 1}\n"


def test_8_an_alias_bomb_as_the_training_config_is_refused_at_once(tmp_path: Path) -> None:
    project = project_dir(tmp_path, config=billion_laughs())
    started = time.process_time()
    with pytest.raises(SpecError, match="through its aliases"):
        load_project(project / "podspec.yaml", environ={})
    assert time.process_time() - started < 20  # CPU time, not wall time: about 0.1 s in fact


def test_8_a_self_referencing_alias_ends() -> None:
    try:
        to_plain(parse_yaml("a: &a [*a, *a]\nb: &b {x: *b}\n", "c.yaml"))
    except SpecError:
        pass


# ---- 9. the smaller ones -----------------------------------------------------------------------


def test_9_a_state_file_of_a_newer_format_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / ".podreconcile" / "tiny").mkdir(parents=True)
    path = tmp_path / ".podreconcile" / "tiny" / "state.json"
    newer = '{"format": 2, "pod_id": "p1", "whatever": {"new": true}}'
    path.write_text(newer)
    with pytest.raises(UserError, match="format 2"):
        StateFile(tmp_path, "tiny").read()
    assert path.read_text() == newer


@pytest.mark.parametrize("raw", [
    {"host_key": {"start": 1, "unexpected": 2}},
    {"last_run": {"run_name": ["x"], "state": "succeeded"}},
    {"pod_id": 12},
    {"format": "1"},
])
def test_9_malformed_state_fields_are_one_clear_sentence(tmp_path: Path, raw: dict) -> None:
    (tmp_path / ".podreconcile" / "tiny").mkdir(parents=True)
    (tmp_path / ".podreconcile" / "tiny" / "state.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match="move it aside"):
        StateFile(tmp_path, "tiny").read()


def test_9_an_output_dir_that_climbs_out_of_the_volume_is_refused(tmp_path: Path) -> None:
    project = project_dir(tmp_path, MINIMAL + "  output_dir: ../../../tmp/x\n")
    with pytest.raises(SpecError, match="outside the volume"):
        load_project(project / "podspec.yaml", environ={})


@pytest.mark.parametrize("field", ["command", "setup", "resume_args"])
def test_1_a_secret_in_a_command_is_refused_so_it_never_reaches_launch_json_or_the_plan(field: str) -> None:
    value = {"command": "python t.py --config {config} --token ${HF_TOKEN}", "setup": "login ${HF_TOKEN}",
             "resume_args": "--resume {checkpoint} --token ${HF_TOKEN}"}[field]
    with pytest.raises(SpecError) as caught:
        parse_spec(MINIMAL + f"  {field}: \"{value}\"\n", "podspec.yaml", Settings({"HF_TOKEN": OLD_TOKEN}))
    assert "add HF_TOKEN: ${HF_TOKEN} to pod.env and write $HF_TOKEN here" in str(caught.value)
    assert OLD_TOKEN not in str(caught.value)


# ---- 4. training output fakes the end of a run (the follower's half; the runner's is in test_runner_framing)


class StatusShell:
    """A PodShell that answers only the status.json read, with the texts given in turn."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)

    def run(self, command: str, **_):
        assert "status.json" in command
        text = self.texts.pop(0) if len(self.texts) > 1 else self.texts[0]
        return SimpleNamespace(exit_code=0, stdout=text, stderr="")


RUN_PATHS = SimpleNamespace(status_file="/workspace/.podreconcile/runs/r/status.json")


@pytest.mark.parametrize("status", [
    '{"state": "running", "launch_id": "L1"}',                       # training printed the line
    '{"state": "succeeded", "exit_code": 0, "launch_id": "L0"}',     # an older launch's end
    '{"state": "succeeded", "launch_id": "L1"}',                     # no exit code recorded
    '{"state": "succeeded", "exit_code": "²", "launch_id": "L1"}',
    "not json",
])
def test_4_an_exit_line_is_the_end_only_when_status_json_records_it_for_this_launch(status: str) -> None:
    from podreconcile.engine.follow import _confirmed

    assert _confirmed(StatusShell(status), RUN_PATHS, "L1", wait=0) is None


def test_4_the_runners_recorded_end_is_confirmed() -> None:
    from podreconcile.engine.follow import _confirmed

    ended = _confirmed(StatusShell('{"state": "failed", "exit_code": 3, "attempt": 2, "launch_id": "L1"}'),
                       RUN_PATHS, "L1", wait=0)
    assert (ended.exit_code, ended.attempt) == (3, 2)
