"""Generated docs stay in step with the code: the podspec reference, the JSON Schema, `schema`.

- docs/podspec-reference.md must equal `render_reference()`; regenerate it with `scripts/gen-docs`.
- src/podreconcile/cli/podspec.schema.json, which `schema` prints and `init` writes without importing
  pydantic, must equal the schema generated from the models, so every change to the schema users'
  editors see is a reviewed diff. Regenerate it with `scripts/gen-docs` too.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from podreconcile.cli.init import template as init_template
from podreconcile.cli.main import main
from podreconcile.core.spec import Spec, load_settings, load_spec
from podreconcile.core.spec.reference import (
    podspec_schema,
    render_reference,
    schema_text,
    walk,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "podspec-reference.md"
PACKAGED_SCHEMA = ROOT / "src" / "podreconcile" / "cli" / "podspec.schema.json"
TEMPLATE = ROOT / "src" / "podreconcile" / "cli" / "podspec.template.yaml"


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(actual.splitlines(), expected.splitlines(), f"{name} (committed)",
                                 f"{name} (generated)", lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def test_the_podspec_reference_is_generated_from_the_models():
    expected = render_reference()
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert actual == expected, (
        "docs/podspec-reference.md is out of date with the spec models; regenerate it with "
        "`scripts/gen-docs` (or `python -m podreconcile.core.spec.reference > docs/podspec-reference.md`) "
        "and commit it.\n" + _diff(expected, actual, "podspec-reference.md")
    )


def test_the_packaged_json_schema_is_generated_from_the_models():
    generated = schema_text()
    packaged = PACKAGED_SCHEMA.read_text(encoding="utf-8") if PACKAGED_SCHEMA.exists() else ""
    assert packaged == generated, (
        "src/podreconcile/cli/podspec.schema.json (what `podreconcile schema` prints) is out of date with "
        "the spec models; regenerate it with `scripts/gen-docs` (or `python -m podreconcile.core.spec.reference "
        "schema > src/podreconcile/cli/podspec.schema.json`), review the diff and commit it.\n"
        + _diff(generated, packaged, "podspec.schema.json")
    )


def test_the_packaged_schema_ships_with_the_package():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["podreconcile"]
    shipped = PACKAGED_SCHEMA.relative_to(ROOT / "src" / "podreconcile").as_posix()
    assert any(fnmatch.fnmatchcase(shipped, pattern) for pattern in globs), (shipped, globs)


def test_the_schema_names_its_dialect_and_describes_every_field():
    schema = podspec_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "podspec.yaml" and schema["description"]
    undescribed = [path for path, prop in _properties(schema) if not prop.get("description")]
    assert undescribed == []
    assert all(definition.get("description") for definition in schema["$defs"].values())


def test_every_model_field_is_in_the_schema_and_the_reference():
    schema, reference = podspec_schema(), render_reference()
    in_schema = {path for path, _ in _properties(schema)}
    for doc in walk():
        assert doc.path in in_schema, doc.path
        assert doc.info.description, f"{doc.path} has no description in spec/models.py"
        assert f"### `{doc.path}`" in reference or "." not in doc.path, doc.path
        assert f"[`{doc.path}`]" in reference, doc.path


def test_the_reference_states_defaults_requirements_and_allowed_values():
    reference = render_reference()
    section = reference.split("### `pod.cloud`")[1].split("###")[0]
    assert "- Default: `secure`" in section and "- Required: no" in section
    assert "`secure` | `community` | `all`" in section
    runtime = reference.split("### `run.max_runtime`")[1].split("###")[0]
    assert "- Default: `1d`" in runtime and "duration" in runtime
    assert "- Required: yes" in reference.split("### `pod.gpu_types`")[1].split("###")[0]
    assert "must include `22/tcp`" in reference


def test_durations_are_text_in_the_schema_as_in_the_file():
    runtime = podspec_schema()["$defs"]["RunSpec"]["properties"]["max_runtime"]
    assert runtime["type"] == "string" and runtime["default"] == "1d"
    for good in ("24h", "1h30m", "90s", "${MAX_RUNTIME}"):
        assert _problems(good, runtime, {}) == [], good
    for bad in ("24 hours", "90", "h", 24):
        assert _problems(bad, runtime, {}) != [], bad


@pytest.mark.parametrize("spec_file", [
    ROOT / "podspec.yaml",
    ROOT / "examples" / "tiny" / "podspec.yaml",
    TEMPLATE,
], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_shipped_specs_pass_the_schema(spec_file: Path):
    text = spec_file.read_text(encoding="utf-8").replace("__NAME__", "demo").replace("__CONFIG__", "c.yaml")
    tree = _plain(YAML(typ="safe", pure=True).load(text))
    schema = podspec_schema()
    assert _problems(tree, schema, schema) == []


def test_the_schema_rejects_what_the_loader_rejects():
    schema = podspec_schema()
    tree = _plain(YAML(typ="safe", pure=True).load((ROOT / "examples" / "tiny" / "podspec.yaml").read_text()))
    broken = json.loads(json.dumps(tree))
    broken["pod"]["gpu_type"] = broken["pod"].pop("gpu_types")  # misspelt, and the real one missing
    broken["pod"]["cloud"] = "private"
    broken["run"]["max_runtime"] = 24
    broken["tensorboard"]["port"] = 70000
    found = _problems(broken, schema, schema)
    expected = {"pod.gpu_type", "pod.gpu_types", "pod.cloud", "run.max_runtime", "tensorboard.port"}
    assert expected <= {path for path, _ in found}


def test_every_example_passes_its_own_field_schema():
    schema = podspec_schema()
    for path, prop in _properties(schema):
        for example in prop.get("examples", []):
            assert _problems(example, prop, schema, path) == [], (path, example)


def test_the_template_starts_with_the_editor_modeline():
    assert TEMPLATE.read_text().splitlines()[0] == "# yaml-language-server: $schema=./podspec.schema.json"


@pytest.mark.parametrize("configs", [[], ["b.yaml", "a.yaml"]])
def test_the_spec_init_writes_is_valid(tmp_path, configs):
    """`init` writes the template without the models (it validates nothing at run time): checked here."""
    project = tmp_path / "My_Project"
    (project / "configs").mkdir(parents=True)
    for name in configs:
        (project / "configs" / name).write_text("output_dir: outputs/x\n")
    (project / "podspec.yaml").write_text(init_template(project))
    spec = load_spec(project / "podspec.yaml", load_settings(project, {}))
    assert spec.name == "my-project"
    assert spec.run.config == ("configs/a.yaml" if configs else "configs/baseline.yaml")


def test_schema_command_prints_and_writes_the_schema(tmp_path, capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_text()
    out = tmp_path / "podspec.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == podspec_schema()
    assert capsys.readouterr().out == ""


def test_schema_help_has_an_example(capsys):
    assert main(["schema", "--help"]) == 0
    assert "Example: podreconcile schema --out podspec.schema.json" in capsys.readouterr().out


def test_the_loaded_spec_and_the_schema_agree_on_required_fields():
    schema = podspec_schema()
    assert set(schema["required"]) == {n for n, f in Spec.model_fields.items() if f.is_required()}


# ---- a small JSON Schema checker: the subset pydantic emits (no validator library is installed) ----


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _properties(schema: dict, node: dict | None = None, prefix: str = ""):
    """(dotted path, property schema) of every field, following $refs and list items."""
    node = schema if node is None else node
    for key, prop in node.get("properties", {}).items():
        path = prefix + key
        yield path, prop
        target = prop.get("items", prop)
        if "$ref" in target:
            inner = schema["$defs"][target["$ref"].rsplit("/", 1)[1]]
            yield from _properties(schema, inner, path + ("[]." if "items" in prop else "."))


_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
          "array": list, "null": type(None)}


def _problems(value: Any, node: dict, root: dict, path: str = "") -> list[tuple[str, str]]:
    if "$ref" in node:
        return _problems(value, root["$defs"][node["$ref"].rsplit("/", 1)[1]], root, path)
    if "anyOf" in node:
        options = [_problems(value, option, root, path) for option in node["anyOf"]]
        return [] if any(not o for o in options) else [(path, "matches no option")]
    kind = node.get("type")
    if kind:
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (isinstance(value, bool) and kind in ("integer", "number")):
            return [(path, f"expected {kind}")]
    found: list[tuple[str, str]] = []
    if "const" in node and value != node["const"]:
        found.append((path, "const"))
    if "enum" in node and value not in node["enum"]:
        found.append((path, "enum"))
    if "pattern" in node and not re.search(node["pattern"], value):
        found.append((path, "pattern"))
    for word, ok in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b),
                     ("exclusiveMinimum", lambda v, b: v > b)):
        if word in node and not ok(value, node[word]):
            found.append((path, word))
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            found.append((path, "minItems"))
        for i, item in enumerate(value):
            found += _problems(item, node.get("items", {}), root, f"{path}[{i}]")
    if isinstance(value, dict) and kind == "object":
        properties = node.get("properties", {})
        prefix = f"{path}." if path else ""
        for key in node.get("required", []):
            if key not in value:
                found.append((prefix + key, "required"))
        for key, item in value.items():
            if key in properties:
                found += _problems(item, properties[key], root, prefix + key)
            elif node.get("additionalProperties") is False:
                found.append((prefix + key, "unknown key"))
            elif isinstance(node.get("additionalProperties"), dict):
                found += _problems(item, node["additionalProperties"], root, prefix + key)
    return found


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercased, punctuation dropped, spaces to '-'."""
    headings = re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("name", ["runpod-walkthrough.md", "troubleshooting.md", "podspec-reference.md"])
def test_the_user_docs_links_resolve(name: str):
    page = ROOT / "docs" / name
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file) if file else page
        assert linked.exists(), f"{name}: broken link {target}"
        if anchor:
            assert anchor in _anchors(linked.read_text(encoding="utf-8")), f"{name}: no heading for {target}"


def test_the_readme_links_the_user_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("runpod-walkthrough.md", "troubleshooting.md", "podspec-reference.md"):
        assert f"(docs/{name})" in readme, name
