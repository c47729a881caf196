"""The podspec.yaml JSON Schema and Markdown reference, both generated from the models.

    podspec_schema() -> dict        what `podreconcile schema` prints and `init` writes
    schema_text() -> str            the same as JSON text, as written to podspec.schema.json
    render_reference() -> str       docs/podspec-reference.md

Nothing here is written by hand per field: descriptions, defaults and examples come from the
`Field(...)`s in models.py, types and bounds from pydantic's schema, the checks from the validators
attached to each field, and the rules across fields from the docstrings in rules.py. A validator
this module has no wording for makes it raise, so the reference cannot silently fall behind.

Regenerate the committed reference and schema with `scripts/gen-docs` (or
`python -m podreconcile.core.spec.reference > docs/podspec-reference.md` and
`python -m podreconcile.core.spec.reference schema > src/podreconcile/cli/podspec.schema.json`, the
file `podreconcile schema` prints without importing pydantic).
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML

from podreconcile.core.field_policy import POLICIES, policy_table
from podreconcile.core.spec import fields as F
from podreconcile.core.spec import models as M
from podreconcile.core.spec.duration import EXAMPLES as DURATION_EXAMPLES
from podreconcile.core.spec.duration import format_duration
from podreconcile.core.spec.rules import RULES

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "podspec.yaml"
DESCRIPTION = (
    "The desired state of a project's GPU training on RunPod, read by podreconcile: the pod, the "
    "code, the data, the training run and TensorBoard. ${VAR} in a value is filled from the "
    "environment or .runpod.env."
)
COMMENT = "Generated from podreconcile's models by `podreconcile schema`; do not edit by hand."
#: What the file accepts for a duration: whole numbers with units, largest first; or a ${VAR}.
DURATION_PATTERN = r"^\s*(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?\s*$|\$\{"
#: The same, or `off`.
DURATION_OR_OFF_PATTERN = DURATION_PATTERN + r"|^\s*[Oo][Ff][Ff]\s*$"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("", "Top level"),
    ("pod", "pod"),
    ("code", "code"),
    ("data", "data"),
    ("run", "run"),
    ("tensorboard", "tensorboard"),
)


# ---------------------------------------------------------------------------- walking the models


@dataclass(frozen=True)
class FieldDoc:
    """One field as the file spells it, with its pydantic field and its JSON Schema property."""

    path: str  # dotted, as written in the file: pod.gpu_types, data[].from
    key: str  # the key in the file (the alias if any)
    model: type[BaseModel]
    info: FieldInfo
    required: bool

    @property
    def section(self) -> str:
        return self.path.split(".")[0].removesuffix("[]") if "." in self.path else ""


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether as a list of them) or (None, False)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def walk(model: type[BaseModel] = M.Spec, prefix: str = "") -> Iterator[FieldDoc]:
    """Every field of the spec, depth first in file order; a section's own field comes first."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = prefix + key
        yield FieldDoc(path, key, model, info, info.is_required())
        inner, as_list = _submodel(info.annotation)
        if inner is not None:
            yield from walk(inner, path + ("[]." if as_list else "."))


def _validators(info: FieldInfo) -> list[tuple[Any, str]]:
    """(validator, what it checks) for a field: "" for the value itself, else "each item",
    "each name" or "each value" of a list or mapping; the field's own come first."""
    found: list[tuple[Any, str]] = [(v, "") for v in info.metadata]

    def inner(annotation: Any, where: str) -> None:
        if typing.get_origin(annotation) is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            found.extend((v, where) for v in extra)
            inner(base, where)
        elif typing.get_origin(annotation) is list:
            inner(typing.get_args(annotation)[0], "each item")
        elif typing.get_origin(annotation) is dict:
            key, value = typing.get_args(annotation)
            inner(key, "each name")
            inner(value, "each value")
        else:
            for arg in typing.get_args(annotation):
                inner(arg, where)

    inner(info.annotation, "")
    return [(v, w) for v, w in found if isinstance(v, (AfterValidator, BeforeValidator))]


def _is_duration(info: FieldInfo) -> bool:
    return any(isinstance(v, BeforeValidator) and v.func in (F._duration, F._duration_or_off)
               for v, _ in _validators(info))


def _may_be_off(info: FieldInfo) -> bool:
    return any(isinstance(v, BeforeValidator) and v.func is F._duration_or_off for v, _ in _validators(info))


def _default(info: FieldInfo) -> Any:
    """The default as the file would spell it (plain values; a duration as text)."""
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if _is_duration(info) and isinstance(value, int):
        return format_duration(value) if value else F.OFF
    return value


def _example(info: FieldInfo) -> Any:
    """The field's first example, read as YAML (examples are written as one would in the file)."""
    if not info.examples:
        return None
    return _plain(YAML(typ="safe", pure=True).load(str(info.examples[0])))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------- the JSON Schema


def podspec_schema() -> dict:
    """The JSON Schema (draft 2020-12) of podspec.yaml, for editors and other tools.

    pydantic's schema of `Spec`, adjusted to what the file holds rather than the loaded values:
    durations are text (`24h`), defaults made by factories are filled in, examples are typed values,
    and the root and section descriptions are written for the file's author.
    """
    raw = M.Spec.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": TITLE,
        "description": DESCRIPTION,
        "$comment": COMMENT,
    }
    schema.update({k: v for k, v in raw.items() if k not in ("title", "description")})
    schema["$defs"] = defs
    for model, properties in _models_and_properties(schema):
        model_schema = schema if model is M.Spec else defs[model.__name__]
        if model is not M.Spec:
            model_schema["description"] = _first_paragraph(model_schema.get("description", ""))
        for name, info in model.model_fields.items():
            key = info.alias or name
            properties[key] = _property(info, properties[key])
    return schema


def _models_and_properties(schema: dict) -> Iterator[tuple[type[BaseModel], dict]]:
    seen: set[type[BaseModel]] = set()
    for doc in [None, *walk()]:
        model = M.Spec if doc is None else _submodel(doc.info.annotation)[0]
        if model is None or model in seen:
            continue
        seen.add(model)
        where = schema if model is M.Spec else schema["$defs"][model.__name__]
        yield model, where["properties"]


def _property(info: FieldInfo, prop: dict) -> dict:
    prop = copy.deepcopy(prop)
    prop.pop("title", None)  # pydantic's "Gpu Types" says less than the key itself
    if _is_duration(info):
        prop = {
            "description": prop.get("description", ""),
            "type": "string",
            "pattern": DURATION_OR_OFF_PATTERN if _may_be_off(info) else DURATION_PATTERN,
        }
    if not info.is_required():
        prop["default"] = _default(info)
    if info.examples:
        prop["examples"] = [_example(info)]
    order = ("$ref", "description", "type", "anyOf", "enum", "const", "default", "examples")
    return {k: prop[k] for k in order if k in prop} | {k: v for k, v in prop.items() if k not in order}


def _first_paragraph(text: str) -> str:
    return text.strip().split("\n\n")[0].replace("\n", " ")


def schema_text() -> str:
    """The schema as the JSON text of podspec.schema.json (stable: same models, same bytes)."""
    return json.dumps(podspec_schema(), indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------- wording for the checks


def _placeholder_wording(func: Callable) -> str:
    bound = inspect.getclosurevars(func).nonlocals
    allowed = ", ".join("`{" + a + "}`" for a in sorted(bound["allowed"]))
    required = bound.get("required")
    if required:
        return f"must contain `{{{required}}}`; placeholders filled in literally: {allowed} (other braces stay as written)"
    return f"placeholders filled in literally: {allowed} (other braces stay as written)"


_WORDING: dict[Callable, str | Callable[[Callable], str]] = {
    F._text: "not blank",
    F._name: (f"lowercase letters, digits and `-`, starting with a letter or digit; at most "
              f"{F.POD_NAME_MAX - len(F.POD_NAME_PREFIX)} characters (the pod name "
              f"`{F.POD_NAME_PREFIX}<name>` fits in {F.POD_NAME_MAX})"),
    F._absolute: "an absolute path on the pod (starts with `/`), without `..`",
    F._relative: "relative to the project folder (no leading `/` or `~`)",
    F._inside_project: "inside the project (no `..`)",
    F._no_parent: "inside the project (no `..`; a symlink that leads out of it is refused)",
    F._port: "`<1-65535>/tcp` or `<1-65535>/http`",
    F._env_key: ("letters, digits and `_`, not starting with a digit; `RUNPOD_*` and "
                 "`PUBLIC_KEY` are reserved"),
    F._duration: f"a duration with units: {DURATION_EXAMPLES}; more than zero",
    F._duration_or_off: f"a duration with units ({DURATION_EXAMPLES}), or `off`",
    M._unique: "each listed once",
    M._ports: f"each listed once; must include `{M.SSH_PORT}`",
    M._env: f"at most {M.MAX_ENV_VARS} variables",
}


def _checks(info: FieldInfo) -> list[str]:
    out: list[str] = []
    for validator, where in _validators(info):
        func = validator.func
        if func in _WORDING:
            wording = _WORDING[func]
        elif getattr(func, "__qualname__", "").startswith("placeholders."):
            wording = _placeholder_wording
        else:
            raise LookupError(
                f"no reference wording for validator {func.__module__}.{func.__qualname__}; "
                "add it to _WORDING in podreconcile/spec/reference.py"
            )
        text = wording(func) if callable(wording) else wording
        text = f"{where}: {text}" if where else text
        if text not in out:
            out.append(text)
    return out


# ------------------------------------------------------------------------------ Markdown rendering


def _yaml_flow(value: Any, inside: bool = False) -> str:
    """A plain value as one would write it after `key: ` in the file (collections in flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_flow(v, True) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_flow(v, True)}" for k, v in value.items()) + "}"
    text = str(value)
    special = r"^[,\[\]{}#&*!|>'\"%@`]|^[-?:](\s|$)|: | #|:$" + (r"|[\[\]{},]" if inside else "")
    if text == "" or text != text.strip() or re.search(special, text):
        return json.dumps(text)
    return text


def _md(text: str) -> str:
    """Plain text for Markdown: `<`, `>` and `*` outside code spans would be read as markup."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside backticks
        parts[i] = re.sub(r"([<>*])", r"\\\1", parts[i])
    return "`".join(parts)


def _type_text(prop: dict, defs: dict) -> str:
    if "$ref" in prop:
        return "mapping (section below)"
    if "anyOf" in prop:
        kinds = [_type_text(p, defs) for p in prop["anyOf"]]
        return " or ".join(kinds)
    if "const" in prop:
        return f"exactly `{_yaml_flow(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        inner = "mappings (entries below)" if "$ref" in items else _type_text(items, defs)
        return f"list of {inner}"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"mapping of names to {_type_text(values, defs)}" if isinstance(values, dict) else "mapping"
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "true or false",
            "null": "null"}.get(kind, str(kind))


def _bounds(prop: dict) -> list[str]:
    out: list[str] = []
    for part in [prop, *prop.get("anyOf", [])]:
        if "minimum" in part and "maximum" in part:
            out.append(f"{part['minimum']} to {part['maximum']}")
        elif "minimum" in part:
            out.append(f"at least {part['minimum']}")
        elif "maximum" in part:
            out.append(f"at most {part['maximum']}")
        if "exclusiveMinimum" in part:
            out.append(f"more than {part['exclusiveMinimum']}")
        if "minItems" in part:
            out.append(f"at least {part['minItems']} item" + ("s" if part["minItems"] != 1 else ""))
    return out


def _allowed(doc: FieldDoc, prop: dict) -> str:
    parts = []
    for part in [prop, *prop.get("anyOf", [])]:
        if "enum" in part:
            parts.append(" | ".join(f"`{v}`" for v in part["enum"]))
        if "const" in part:
            parts.append(f"`{_yaml_flow(part['const'])}`")
    parts += _bounds(prop) + _checks(doc.info)
    return "; ".join(parts)


def _property_of(schema: dict, doc: FieldDoc) -> dict:
    where = schema if doc.model is M.Spec else schema["$defs"][doc.model.__name__]
    return where["properties"][doc.key]


def _changing(doc: FieldDoc) -> str | None:
    rule = POLICIES.get(doc.path)
    return f"{rule.policy.value} ({rule.why})" if rule else None


def _field_markdown(doc: FieldDoc, schema: dict) -> list[str]:
    prop = _property_of(schema, doc)
    nested = _submodel(doc.info.annotation)[0] is not None
    lines = [f"### `{doc.path}`", "", _md(doc.info.description or ""), ""]
    kind = "duration (text)" if _is_duration(doc.info) else _type_text(prop, schema["$defs"])
    lines.append(f"- Type: {kind}")
    lines.append(f"- Required: {'yes' if doc.required else 'no'}")
    if not doc.required:
        default = _default(doc.info)
        shown = ("the defaults of its fields" if nested and isinstance(default, dict)
                 else f"`{_yaml_flow(default)}`")
        lines.append(f"- Default: {shown}")
    allowed = _allowed(doc, prop)
    if not nested and allowed:
        lines.append(f"- Allowed: {allowed}")
    change = _changing(doc)
    if change:
        lines.append(f"- Changing it: {change}")
    if doc.info.examples:
        lines.append(f"- Example: `{doc.key}: {doc.info.examples[0]}`")
    lines.append("")
    return lines


def _summary_table(docs: list[FieldDoc], schema: dict) -> list[str]:
    lines = ["| Field | Type | Required | Default |", "| --- | --- | --- | --- |"]
    for doc in docs:
        prop = _property_of(schema, doc)
        nested = _submodel(doc.info.annotation)[0] is not None
        kind = "duration" if _is_duration(doc.info) else _type_text(prop, schema["$defs"])
        if doc.required:
            default = "(required)"
        elif nested and isinstance(_default(doc.info), dict):
            default = "(its fields' defaults)"
        else:
            default = f"`{_yaml_flow(_default(doc.info))}`"
        anchor = re.sub(r"[^a-z0-9_-]", "", doc.path.lower().replace(" ", "-"))
        lines.append(f"| [`{doc.path}`](#{anchor}) | {kind.replace('|', '/')} | "
                     f"{'yes' if doc.required else 'no'} | {default} |")
    return lines + [""]


def render_reference() -> str:
    """docs/podspec-reference.md: every field of podspec.yaml, grouped by section."""
    schema = podspec_schema()
    docs = list(walk())
    out = [
        "# podspec.yaml reference",
        "",
        "<!-- Generated from src/podreconcile/spec/models.py by scripts/gen-docs; do not edit by hand. -->",
        "",
        "`podspec.yaml` declares the pod, the code, the data, the training run and TensorBoard. "
        "`podreconcile init` writes a commented one; `podreconcile schema` prints its JSON Schema "
        "(init also writes it to `podspec.schema.json`, which editors with the YAML language server "
        "use for completion and checks).",
        "",
        "- Unknown keys are errors; so are values of the wrong type (`gpu_count: \"2\"` is not 2). "
        "Every error names the file, line and column, the field and a fix.",
        "- `${VAR}` in a value is replaced by the variable from the environment or from "
        "`.runpod.env` next to the spec (the environment wins); the result is always text. "
        "`$${X}` gives a literal `${X}`; `$HOME` and `$(...)` reach the pod's shell as written.",
        "- Secrets: a value that comes from `${VAR}` is never echoed in an error message. Every "
        "`pod.env` value is shown and stored only as a hash (plans say `env.HF_TOKEN: (changed)`); "
        "a `pod.env` value written as `${VAR}`, or named in `pod.secret_env`, is a secret: the "
        "runner masks it in the training log. `${VAR}` is refused in run.command, run.setup and "
        "run.resume_args (its value would sit in launch.json, the plan and the process list): put it "
        "in pod.env and write `$NAME` there, which the pod's shell expands.",
        f"- A duration is whole numbers with units d, h, m, s, largest first: {DURATION_EXAMPLES}.",
        "",
        "Sections: " + ", ".join(f"[{title}](#{title.lower().replace(' ', '-')})" for _, title in SECTIONS)
        + ", [rules across fields](#rules-across-fields), [what a change does](#what-a-change-does).",
        "",
    ]
    for section, title in SECTIONS:
        out += [f"## {title}", ""]
        if section:
            own = next(d for d in docs if d.path == section)
            members = [d for d in docs if d.section == section and d.path != section]
            required = "required" if own.required else "optional"
            shape = ("a list of entries, each with these fields" if section == "data"
                     else "a mapping with these fields")
            out += [_md(own.info.description or ""), "", f"`{section}` is {required}: {shape}.", ""]
            out += _summary_table(members, schema)
            details = members
        else:
            members = [d for d in docs if "." not in d.path]
            out += _summary_table(members, schema)
            details = [d for d in members if _submodel(d.info.annotation)[0] is None]
        for doc in details:
            out += _field_markdown(doc, schema)
    out += ["## Rules across fields", "",
            "Checked when the spec is loaded, before any call to RunPod; each problem is reported "
            "at the value to change.", ""]
    for rule in RULES:
        name = rule.__name__.replace("_", " ")
        out.append(f"- **{name}**: {_md(inspect.getdoc(rule).splitlines()[0])}")
    out += ["", "## What a change does", "",
            "Every field has one policy, which `plan` follows and shows: *changed in place* (`~ update "
            "pod`: RunPod's v2 PATCH; a stopped pod takes it at its next start, a running pod restarts, "
            "which never happens under a live run unless `apply --replace-now`; the pod's volume disk and "
            "its checkpoints stay); *applied at "
            "the next start* (the pod keeps running as it is until then); *forces a replacement* (a new "
            "pod; never under a live run unless `apply --replace-now`: the change waits for the run's end, "
            "and after a finished run it waits for the next run); *waits for the next run* (a live or "
            "finished run keeps what it started with); *local only* (read on this machine).", ""]
    out += policy_table()
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(schema_text() if sys.argv[1:] == ["schema"] else render_reference())
