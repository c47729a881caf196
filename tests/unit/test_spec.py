"""podspec.yaml loading: the product.md example, and each kind of error located at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from podreconcile.core.errors import SpecError
from podreconcile.core.secret import digest
from podreconcile.core.spec import (
    InvalidSpec,
    Settings,
    Spec,
    immutable_fields,
    load_settings,
    load_spec,
    parse_spec,
)

# The example of product.md, verbatim; the line numbers in the tests below refer to it.
EXAMPLE = """\
version: 1
name: whisper-small-baseline   # lowercase letters, digits, '-'; the pod is named podreconcile-<name>
                               # and found again by that name if the state file is lost
pod:
  gpu_types: [NVIDIA GeForce RTX 4090, NVIDIA RTX A6000]  # preference order; the next on no capacity
  gpu_count: 1
  image: runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04
  cloud: secure                # secure | community | all
  interruptible: false         # spot; then bid_per_gpu is required
  bid_per_gpu: null
  container_disk_gb: 30
  network_volume: ${NETWORK_VOLUME_ID}   # ${VAR}: from the environment or .runpod.env
  volume_mount_path: /workspace
  ports: [22/tcp, 6006/http]
  env:
    HF_HOME: /workspace/hf-cache

code:
  path: /workspace/childs_speech_recog_chall   # where the repository lives on the pod
  sync: push                   # push: upload the local git-tracked files | git: `git pull` on the pod
  exclude: [data/]

data:                          # uploaded once, afterwards only what changed
  - from: data/audio_0
    to: /workspace/data/audio_0
  - from: data/train_word_transcripts.jsonl
    to: /workspace/data/train_word_transcripts.jsonl

run:
  config: configs/baseline_whisper_small.yaml
  command: python scripts/train.py --config {config}
  resume_args: --resume_from_checkpoint {checkpoint}
  output_dir: null             # default: the training config's `output_dir`, relative to code.path
  setup: pip install -r requirements.txt   # runs in the venv; again only when requirements change
  venv: /workspace/venv
  stop_pod_when_done: true
  max_runtime: 24h             # the pod stops itself after this, whatever training does

tensorboard:
  logdir: logs/{run_name}      # relative to code.path
  port: 6006
"""

MINIMAL = """\
version: 1
name: tiny
pod:
  gpu_types: [NVIDIA RTX A6000]
  image: runpod/base:0.0.0
code:
  path: /workspace/tiny
run:
  config: configs/tiny.yaml
"""

SETTINGS = Settings({"NETWORK_VOLUME_ID": "vol-abc123"})


def variant(old: str, new: str, text: str = EXAMPLE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error_of(text: str, settings: Settings = SETTINGS) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "podspec.yaml", settings)
    return str(caught.value)


def test_product_example_loads_with_its_values(tmp_path: Path) -> None:
    (tmp_path / "podspec.yaml").write_text(EXAMPLE)
    spec = load_spec(tmp_path / "podspec.yaml", SETTINGS)
    assert spec.pod_name == "podreconcile-whisper-small-baseline"
    assert spec.pod.gpu_types == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000"]
    assert spec.pod.network_volume == "vol-abc123"
    assert spec.pod.ports == ["22/tcp", "6006/http"]
    assert spec.pod.env == {"HF_HOME": "/workspace/hf-cache"}
    assert [(d.from_, d.to) for d in spec.data] == [
        ("data/audio_0", "/workspace/data/audio_0"),
        ("data/train_word_transcripts.jsonl", "/workspace/data/train_word_transcripts.jsonl"),
    ]
    assert spec.run.max_runtime == 24 * 3600
    assert spec.run.output_dir is None
    assert spec.tensorboard.logdir == "logs/{run_name}"


def test_loaded_spec_holds_only_plain_python_values() -> None:
    plain = (dict, list, str, int, float, bool, type(None))

    def walk(node: object) -> None:
        assert type(node) in plain, type(node)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(parse_spec(EXAMPLE, "podspec.yaml", SETTINGS).model_dump())


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = parse_spec(MINIMAL, "podspec.yaml", Settings({}))
    assert (spec.pod.gpu_count, spec.pod.cloud, spec.pod.interruptible) == (1, "secure", False)
    assert (spec.pod.container_disk_gb, spec.pod.volume_mount_path) == (30, "/workspace")
    assert (spec.pod.volume_gb, spec.pod.network_volume, spec.pod.bid_per_gpu) == (20, None, None)
    assert (spec.pod.ports, spec.pod.env) == (["22/tcp"], {})
    assert (spec.code.sync, spec.code.exclude, spec.data) == ("push", [], [])
    assert spec.run.command == "python scripts/train.py --config {config}"
    assert spec.run.resume_args == "--resume_from_checkpoint {checkpoint}"
    assert (spec.run.stop_pod_when_done, spec.run.max_runtime) == (True, 86400)
    assert (spec.tensorboard.logdir, spec.tensorboard.port) == ("logs/{run_name}", 6006)


def test_spec_is_frozen() -> None:
    spec = parse_spec(MINIMAL, "podspec.yaml", Settings({}))
    with pytest.raises(Exception):
        spec.name = "other"  # type: ignore[misc]


def test_where_points_back_into_the_file_and_does_not_affect_equality() -> None:
    spec = parse_spec(EXAMPLE, "podspec.yaml", SETTINGS)
    assert spec.source.where("pod", "gpu_count") == "podspec.yaml:6:14"
    assert spec == parse_spec("\n\n" + EXAMPLE, "other.yaml", SETTINGS)


def test_immutable_fields_are_the_pod_fields_that_force_a_replacement() -> None:
    fields = immutable_fields(parse_spec(EXAMPLE, "podspec.yaml", SETTINGS))
    assert set(fields) == {
        "gpu_types", "gpu_count", "image", "cloud", "interruptible", "network_volume",
        "volume_mount_path", "container_disk_gb", "ports", "env",
    }
    assert fields["network_volume"] == "vol-abc123"
    assert fields["env"] == {"HF_HOME": digest("/workspace/hf-cache")}  # values only as hashes


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 1", "verison: 1", "podspec.yaml:1:1: verison: unknown key; did you mean 'version'?"),
        ("  gpu_types:", "  gpu_typs:", "podspec.yaml:5:3: pod.gpu_typs: unknown key; did you mean 'gpu_types'?"),
        ("  port: 6006", "  prot: 6006", "podspec.yaml:41:3: tensorboard.prot: unknown key; did you mean 'port'?"),
        ("    to: /workspace/data/train", "    too: /workspace/data/train",
         "podspec.yaml:27:5: data[1].too: unknown key; did you mean 'to'?"),
    ],
)
def test_misspelt_key_names_the_closest_valid_key(old: str, new: str, expected: str) -> None:
    # The misspelt required key is reported once, as a misspelling, not again as missing.
    assert error_of(variant(old, new)) == expected


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    message = error_of(variant("  sync: push", "  sync: push\n  zzz: 1"))
    assert message.startswith("podspec.yaml:21:3: code.zzz: unknown key; remove it or use one of: path,")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("gpu_count: 1", "gpu_count: two",
         "podspec.yaml:6:14: pod.gpu_count: expected an integer, got 'two'; for example gpu_count: 1"),
        ("interruptible: false", "interruptible: yes",
         "podspec.yaml:9:18: pod.interruptible: expected true or false, got 'yes'; for example interruptible: false"),
        ("HF_HOME: /workspace/hf-cache", "OMP_NUM_THREADS: 4",
         'podspec.yaml:16:22: pod.env.OMP_NUM_THREADS: expected text, got 4; quote it to keep it text: OMP_NUM_THREADS: "4"'),
        ("exclude: [data/]", "exclude: data/",
         "podspec.yaml:21:12: code.exclude: expected a list, got 'data/'; for example exclude: [data/]"),
        ("cloud: secure ", "cloud: Secure",
         "podspec.yaml:8:10: pod.cloud: expected one of secure, community, all, got 'Secure'; did you mean 'secure'?"),
        ("gpu_count: 1", "gpu_count: 9",
         "podspec.yaml:6:14: pod.gpu_count: must be at most 8, got 9; for example gpu_count: 1"),
        ("version: 1", "version: 2", "podspec.yaml:1:10: version: expected 1, got 2; write version: 1"),
    ],
)
def test_wrong_type_or_value_says_what_was_expected_and_found(old: str, new: str, expected: str) -> None:
    assert error_of(variant(old, new)) == expected


def test_missing_required_field_points_at_its_parent() -> None:
    text = variant("  image: runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04\n", "")
    assert error_of(text) == (
        "podspec.yaml:4:1: pod.image: required field is missing; add it under pod:, "
        "e.g. image: runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    )


def test_missing_top_level_section_points_at_the_file_start() -> None:
    text = EXAMPLE[: EXAMPLE.index("run:")] + EXAMPLE[EXAMPLE.index("tensorboard:"):]
    assert error_of(text) == "podspec.yaml:1:1: run: required field is missing; add it at the top level"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Whisper_Small", "'Whisper_Small' is not a valid name; use lowercase letters, digits and '-', "
                          "starting with a letter or digit, e.g. 'whisper-small'"),
        ("-leading", "'-leading' is not a valid name"),
        ("x" * 52, "is 52 characters, but the pod name podreconcile-<name> must fit in 64; "
                   "shorten it to at most 51 characters"),
    ],
)
def test_bad_name(name: str, expected: str) -> None:
    message = error_of(variant("name: whisper-small-baseline", f"name: '{name}'"))
    assert message.startswith(f"podspec.yaml:2:7: name: {expected}")


def test_name_of_51_characters_fits() -> None:
    spec = parse_spec(variant("name: tiny", "name: " + "x" * 51, MINIMAL), "podspec.yaml", Settings({}))
    assert len(spec.pod_name) == 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24 hours", "expected a duration like 90s, 30m, 24h, 1d or 1h30m, got '24 hours'; "
                     "write whole numbers each followed by d, h, m or s, largest unit first"),
        ("1.5h", "got '1.5h'"),
        ("0s", "must be longer than zero, got '0s'; for example 24h"),
        ("90", "got 90 without a unit; add one, e.g. 90m or 90h"),
    ],
)
def test_bad_duration(value: str, expected: str) -> None:
    message = error_of(variant("max_runtime: 24h", f"max_runtime: {value}"))
    assert message.startswith("podspec.yaml:37:16: run.max_runtime: ")
    assert expected in message


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1d", 86400), ("1h30m", 5400)])
def test_durations_become_seconds(text: str, seconds: int) -> None:
    spec = parse_spec(variant("max_runtime: 24h", f"max_runtime: {text}"), "podspec.yaml", SETTINGS)
    assert spec.run.max_runtime == seconds


def test_missing_variable_names_it_where_it_is_used_and_how_to_set_it() -> None:
    assert error_of(EXAMPLE, Settings({})) == (
        "podspec.yaml:12:19: pod.network_volume: ${NETWORK_VOLUME_ID} is not set; set "
        "NETWORK_VOLUME_ID in the environment or in .runpod.env next to podspec.yaml "
        "(e.g. NETWORK_VOLUME_ID=...)"
    )


def test_variable_set_to_empty_is_an_error_not_a_missing_volume() -> None:
    assert error_of(EXAMPLE, Settings({"NETWORK_VOLUME_ID": ""})) == (
        "podspec.yaml:12:19: pod.network_volume: ${NETWORK_VOLUME_ID} is set but empty; give "
        "NETWORK_VOLUME_ID a value in the environment or in .runpod.env, or remove the key"
    )


def test_variables_fill_parts_of_values_and_dollar_dollar_escapes() -> None:
    text = variant("HF_HOME: /workspace/hf-cache", "HF_HOME: ${ROOT}/hf\n    LIT: $${NOT_A_VAR} $HOME")
    spec = parse_spec(text, "podspec.yaml", Settings({"NETWORK_VOLUME_ID": "v", "ROOT": "/workspace"}))
    assert spec.pod.env == {"HF_HOME": "/workspace/hf", "LIT": "${NOT_A_VAR} $HOME"}


def test_a_type_error_on_a_substituted_value_never_shows_the_value() -> None:
    text = variant("gpu_count: 1", "gpu_count: ${SECRET}")
    message = error_of(text, Settings({"NETWORK_VOLUME_ID": "v", "SECRET": "hunter2"}))
    assert "hunter2" not in message
    assert message == (
        "podspec.yaml:6:14: pod.gpu_count: expected an integer, got the value of ${SECRET}; "
        "${SECRET} always gives text, so write this value in the file itself"
    )


def test_network_volume_needs_secure_cloud() -> None:
    assert error_of(variant("cloud: secure ", "cloud: community")) == (
        "podspec.yaml:8:10: pod.cloud: a network volume needs cloud: secure (RunPod has network "
        "volumes only in Secure Cloud), got 'community'; set cloud: secure or remove pod.network_volume"
    )


def test_interruptible_needs_a_bid_and_a_bid_needs_interruptible() -> None:
    assert error_of(variant("interruptible: false", "interruptible: true")).startswith(
        "podspec.yaml:9:18: pod.interruptible: an interruptible (spot) pod needs a bid; add pod.bid_per_gpu"
    )
    assert error_of(variant("bid_per_gpu: null", "bid_per_gpu: 0.3")).startswith(
        "podspec.yaml:10:16: pod.bid_per_gpu: a bid only applies to interruptible (spot) pods"
    )
    text = variant("bid_per_gpu: null", "bid_per_gpu: 0.3", variant("interruptible: false", "interruptible: true"))
    assert parse_spec(text, "podspec.yaml", SETTINGS).pod.bid_per_gpu == 0.3


def test_ssh_port_is_required() -> None:
    assert error_of(variant("ports: [22/tcp, 6006/http]", "ports: [6006/http]")) == (
        "podspec.yaml:14:10: pod.ports: podreconcile reaches the pod over SSH; add 22/tcp to pod.ports"
    )


def test_malformed_port() -> None:
    assert error_of(variant("ports: [22/tcp, 6006/http]", "ports: [22/tcp, 6006/udp]")).startswith(
        "podspec.yaml:14:19: pod.ports[1]: expected a port like '22/tcp' or '6006/http'"
    )


@pytest.mark.parametrize("key", ["RUNPOD_API_KEY", "PUBLIC_KEY"])
def test_env_keys_reserved_by_runpod_are_refused(key: str) -> None:
    assert error_of(variant("HF_HOME:", f"{key}:")) == (
        f"podspec.yaml:16:5: pod.env.{key}: {key} is set by RunPod itself "
        "(RUNPOD_* and PUBLIC_KEY are reserved); rename the variable"
    )


def test_env_key_must_be_a_variable_name() -> None:
    assert error_of(variant("HF_HOME:", "HF-HOME:")).startswith(
        "podspec.yaml:16:5: pod.env.HF-HOME: 'HF-HOME' is not a valid variable name"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  path: /workspace/childs_speech_recog_chall", "  path: /root/code",
         "podspec.yaml:19:9: code.path: /root/code is outside the volume (/workspace), so it would "
         "vanish when the pod stops; put it under /workspace, e.g. /workspace/code"),
        ("    to: /workspace/data/train_word_transcripts.jsonl", "    to: /data/t.jsonl",
         "podspec.yaml:27:9: data[1].to: /data/t.jsonl is outside the volume (/workspace)"),
        ("  venv: /workspace/venv", "  venv: /opt/venv",
         "podspec.yaml:35:9: run.venv: /opt/venv is outside the volume (/workspace)"),
        ("  path: /workspace/childs_speech_recog_chall", "  path: workspace/code",
         "podspec.yaml:19:9: code.path: must be an absolute path on the pod, got 'workspace/code'"),
    ],
)
def test_kept_paths_must_be_on_the_volume(old: str, new: str, expected: str) -> None:
    assert error_of(variant(old, new)).startswith(expected)


def test_volume_mount_path_must_not_be_root() -> None:
    text = variant("volume_mount_path: /workspace", "volume_mount_path: /")
    assert "podspec.yaml:13:22: pod.volume_mount_path: must not be '/'" in error_of(text)


def test_data_from_must_be_relative_to_the_project() -> None:
    assert error_of(variant("  - from: data/audio_0", "  - from: /data/audio_0")).startswith(
        "podspec.yaml:24:11: data[0].from: must be relative to the project folder"
    )


def test_unknown_placeholder_in_command() -> None:
    text = variant("--config {config}", "--config {confg}")
    assert error_of(text) == "podspec.yaml:31:12: run.command: unknown placeholder {confg}; did you mean {config}?"


def test_yaml_syntax_error_is_located() -> None:
    assert error_of(variant("gpu_count: 1", "gpu_count: [1")) == (
        "podspec.yaml:7:8: YAML syntax error: expected ',' or ']', but got ':'; fix the YAML syntax "
        "here (indentation uses spaces, a ':' after each key, quotes closed)"
    )


def test_duplicate_key_is_located_at_the_second() -> None:
    assert error_of(variant("  gpu_count: 1", "  gpu_count: 1\n  gpu_count: 2")) == (
        "podspec.yaml:7:3: duplicate key 'gpu_count'; keep only one of them"
    )


def test_several_errors_are_all_reported_after_a_summary_line() -> None:
    text = variant("  gpu_types:", "  gpu_typs:", variant("max_runtime: 24h", "max_runtime: soon"))
    lines = error_of(variant("cloud: secure ", "cloud: cheap", text), Settings({})).splitlines()
    assert lines[0] == "podspec.yaml: 4 problems; fix them all:"
    assert [line.split(": ")[0:2] for line in lines[1:]] == [
        ["podspec.yaml:5:3", "pod.gpu_typs"],
        ["podspec.yaml:8:10", "pod.cloud"],
        ["podspec.yaml:12:19", "pod.network_volume"],
        ["podspec.yaml:37:16", "run.max_runtime"],
    ]


def test_invalid_spec_keeps_its_problems() -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(EXAMPLE, "podspec.yaml", Settings({}))
    (problem,) = caught.value.problems
    assert (problem.line, problem.col, problem.path) == (12, 19, "pod.network_volume")


def test_not_a_mapping() -> None:
    assert error_of("").startswith("podspec.yaml:1:1: expected a mapping with version, name, pod")


def test_file_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("podspec.yaml").write_text(variant("gpu_count: 1", "gpu_count: two"))
    with pytest.raises(SpecError, match=r"^podspec\.yaml:6:14: pod\.gpu_count"):
        load_spec(Path("podspec.yaml"), SETTINGS)
    with pytest.raises(SpecError, match=r"^nothere\.yaml: not found; run `podreconcile init`"):
        load_spec(Path("nothere.yaml"), SETTINGS)


def test_load_spec_with_settings_from_the_env_file(tmp_path: Path) -> None:
    (tmp_path / "podspec.yaml").write_text(EXAMPLE)
    (tmp_path / ".runpod.env").write_text("NETWORK_VOLUME_ID=vol-from-file\n")
    spec = load_spec(tmp_path / "podspec.yaml", load_settings(tmp_path, {}))
    assert spec.pod.network_volume == "vol-from-file"


def test_spec_can_be_built_in_python_too() -> None:
    spec = Spec.model_validate({
        "version": 1, "name": "py", "pod": {"gpu_types": ["A"], "image": "img"},
        "code": {"path": "/workspace/c"}, "run": {"config": "c.yaml", "max_runtime": 60},
    })
    assert spec.run.max_runtime == 60
    assert spec.source.where("run") == "podspec.yaml"


def test_data_from_is_spelt_as_in_the_file_only() -> None:
    message = error_of(variant("  - from: data/audio_0", "  - from_: data/audio_0"))
    assert message == "podspec.yaml:24:5: data[0].from_: unknown key; did you mean 'from'?"


def test_volume_gb_only_without_a_network_volume() -> None:
    text = variant("  volume_mount_path: /workspace", "  volume_mount_path: /workspace\n  volume_gb: 50")
    assert error_of(text) == (
        "podspec.yaml:14:14: pod.volume_gb: the network volume replaces the pod's volume disk, so "
        "volume_gb would be ignored; remove volume_gb (or pod.network_volume)"
    )
    no_volume = variant("network_volume: ${NETWORK_VOLUME_ID}", "network_volume: null", text)
    assert parse_spec(no_volume, "podspec.yaml", SETTINGS).pod.volume_gb == 50
    assert error_of(variant("volume_gb: 50", "volume_gb: null", no_volume)).startswith(
        "podspec.yaml:14:3: pod.volume_gb: a pod without a network volume needs a volume disk"
    )


def test_repo_only_with_git_sync() -> None:
    text = variant("  sync: push", "  sync: push\n  repo: https://example.com/r.git")
    assert error_of(text) == (
        "podspec.yaml:21:9: code.repo: repo is only used with sync: git; set code.sync: git or remove repo"
    )
    assert parse_spec(variant("sync: push", "sync: git", text), "podspec.yaml", SETTINGS).code.sync == "git"


def test_two_data_entries_to_the_same_place() -> None:
    text = variant("to: /workspace/data/train_word_transcripts.jsonl", "to: /workspace/data/audio_0")
    assert error_of(text) == (
        "podspec.yaml:27:9: data[1].to: data[0] already uploads to /workspace/data/audio_0; "
        "give each entry its own 'to'"
    )


def test_flow_style_mappings_are_located_too() -> None:
    text = variant(
        "  - from: data/audio_0\n    to: /workspace/data/audio_0\n",
        "  - {from: data/audio_0, to: /elsewhere/audio_0}\n",
    )
    assert error_of(text).startswith("podspec.yaml:24:30: data[0].to: /elsewhere/audio_0 is outside the volume")


def test_section_that_is_not_a_mapping() -> None:
    text = variant("code:\n  path: /workspace/tiny\n", "code: here\n", MINIMAL)
    assert error_of(text, Settings({})) == (
        "podspec.yaml:6:7: code: expected a mapping of keys and values, got 'here'; "
        "write its keys on the lines below code:, indented"
    )


def test_a_check_on_a_substituted_value_never_shows_the_value() -> None:
    text = variant("  path: /workspace/childs_speech_recog_chall", "  path: ${CODE_DIR}")
    message = error_of(text, Settings({"NETWORK_VOLUME_ID": "v", "CODE_DIR": "relative/s3cr3t"}))
    assert "s3cr3t" not in message
    assert message.startswith(
        "podspec.yaml:19:9: code.path: must be an absolute path on the pod, got the value of ${CODE_DIR}"
    )
