"""Properties of spec loading that must hold for any input, not just the examples."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from podreconcile.core.errors import SpecError
from podreconcile.core.spec import Settings, format_duration, parse_duration, parse_spec
from podreconcile.core.spec.settings import parse_dotenv

SPEC = """\
version: 1
name: props
pod:
  gpu_types: [NVIDIA RTX A6000]
  gpu_count: 1
  image: runpod/base:0.0.0
  cloud: secure
  interruptible: false
  bid_per_gpu: null
  container_disk_gb: 30
  network_volume: null
  volume_mount_path: /workspace
  volume_gb: 20
  ports: [22/tcp]
  env:
    FROM_ENV: ${SECRET}
code:
  path: /workspace/props
run:
  config: configs/props.yaml
  max_runtime: 24h
"""

POD_KEYS = [
    "gpu_types", "gpu_count", "image", "cloud", "interruptible", "bid_per_gpu",
    "container_disk_gb", "network_volume", "volume_mount_path", "volume_gb", "ports", "env",
]


@given(st.integers(min_value=1, max_value=10**8))
def test_formatted_durations_read_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.lists(st.one_of(st.none(), st.integers(0, 999)), min_size=4, max_size=4))
def test_any_well_formed_duration_is_the_sum_of_its_parts(counts: list[int | None]) -> None:
    sizes = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = "".join(f"{n}{unit}" for n, unit in zip(counts, sizes) if n is not None)
    total = sum(n * size for n, size in zip(counts, sizes.values()) if n is not None)
    assume(total > 0)
    assert parse_duration(text) == total


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_any_value_given_through_a_variable_arrives_unchanged(value: str) -> None:
    # Quotes, backslashes, newlines, $(...) and ${...} in a secret are data, never syntax.
    spec = parse_spec(SPEC, "podspec.yaml", Settings({"SECRET": value}))
    assert spec.pod.env == {"FROM_ENV": value}


@given(st.text())
def test_any_double_quoted_dotenv_value_reads_back(value: str) -> None:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
    assert parse_dotenv(f'# comment\nexport KEY="{escaped}"  # note\nOTHER=1\n', "f") == {
        "KEY": value, "OTHER": "1",
    }


def _misspell(key: str, data: st.DataObject) -> str:
    index = data.draw(st.integers(0, len(key) - 1))
    edit = data.draw(st.sampled_from(["drop", "swap", "replace", "double"]))
    if edit == "drop":
        return key[:index] + key[index + 1:]
    if edit == "swap" and index < len(key) - 1:
        return key[:index] + key[index + 1] + key[index] + key[index + 2:]
    if edit == "double":
        return key[:index] + key[index] + key[index:]
    letter = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))
    return key[:index] + letter + key[index + 1:]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(POD_KEYS), st.data())
def test_a_one_letter_misspelling_of_a_pod_key_suggests_that_key(key: str, data: st.DataObject) -> None:
    typo = _misspell(key, data)
    assume(typo not in POD_KEYS and len(typo) >= 3)
    text = SPEC.replace(f"\n  {key}:", f"\n  {typo}:", 1)
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "podspec.yaml", Settings({"SECRET": "x"}))
    assert f"pod.{typo}: unknown key; did you mean '{key}'?" in str(caught.value)
