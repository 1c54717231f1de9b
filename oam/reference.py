"""The reference page of every definition, generated from the models: `python -m oam reference`.

One section per definition: what it does, its parameters (name, type, default, what it
means), an example Application, and the objects that example makes (rendered, not written
by hand). The examples are the files in examples/definitions.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from oam.config import StageConfig
from oam.model import read_application
from oam.registry import COMPONENTS, REGISTRIES, Definition, TraitType
from oam.render import plan
from oam.revisions import History

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "definitions"
KIND_FILE = {"component": "component", "trait": "trait", "policy": "policy", "workflow step": "step"}
TITLES = {"component": "Components", "trait": "Traits", "policy": "Policies", "workflow step": "Workflow steps"}


def _type(schema: dict, defs: dict) -> str:
    """A short, readable type of a JSON schema node."""
    if "$ref" in schema:
        return defs[schema["$ref"].rsplit("/", 1)[-1]].get("title", "object")
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_type(s, defs) for s in schema[key] if s.get("type") != "null"]
            return " or ".join(dict.fromkeys(kinds)) or "null"
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), defs)}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"map of {_type(extra, defs)}" if isinstance(extra, dict) else "map"
    return {"integer": "integer", "string": "string", "boolean": "boolean", "number": "number"}.get(kind, "any")


def _default(schema: dict) -> str:
    if "default" not in schema:
        return ""
    value = schema["default"]
    if value in ([], {}) or value is None:
        return ""
    if value == "":
        return '`""`'
    return f"`{value}`" if not isinstance(value, bool) else f"`{str(value).lower()}`"


def _table(schema: dict, defs: dict) -> list[str]:
    props = schema.get("properties") or {}
    if not props:
        return []
    required = set(schema.get("required", []))
    rows = ["| parameter | type | default | |", "| --- | --- | --- | --- |"]
    for name, node in props.items():
        need = "required" if name in required else _default(node)
        text = (node.get("description") or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(node, defs)} | {need} | {text} |")
    return rows


def _nested(schema: dict, defs: dict, seen: set[str]) -> list[str]:
    """Tables of the object types the parameters use, once each."""
    out: list[str] = []

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(schema.get("properties", {})):
        if ref in seen or ref not in defs:
            continue
        seen.add(ref)
        table = _table(defs[ref], defs)
        if table:
            out += ["", f"*{defs[ref].get('title', ref)}*", "", *table]
        out += _nested(defs[ref], defs, seen)
    return out


def _creates(path: Path, definition: Definition) -> list[str]:
    text = path.read_text()
    history = History()
    if ":1.5.0" in text:  # a release example: it starts from the same application at 1.4.0
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            first = Path(tmp) / "first.yaml"
            first.write_text(text.replace(":1.5.0", ":1.4.0").split("  workflow:")[0])
            history = plan(read_application(first, "first.yaml"), history, StageConfig(app="first.yaml")).resolution.history
    rel = str(path.relative_to(ROOT))
    p = plan(read_application(path, rel), history, StageConfig(app=rel))
    return [f"{d.kind} `{d.manifest['metadata']['name']}`"
            + (f" in `{d.manifest['metadata']['namespace']}`" if d.manifest["metadata"].get("namespace") else "")
            for d in p.objects]


def section(definition: Definition) -> list[str]:
    doc = " ".join(inspect.cleandoc(type(definition).__doc__ or "").split())  # one paragraph
    out = [f"### {definition.name}", "", doc, ""]
    if definition.kind == "trait" and type(definition).targets is not TraitType.targets:
        out += ["A component may have it more than once, each for other containers.", ""]
    if definition.kind == "trait" and not definition.refused:
        unfit = [name for name in COMPONENTS.names() if not COMPONENTS.get(name).refused and
                 not definition.needs <= COMPONENTS.get(name).offers]
        if unfit:
            out += [f"Refused on {', '.join(f'`{n}`' for n in unfit)} components (they lack what it changes).", ""]
    if definition.refused:
        return out + [f"**Refused.** {definition.refused[0].upper()}{definition.refused[1:]}.", "",
                      f"Instead: {definition.alternative}.", ""]
    schema = definition.Properties.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    table = _table(schema, defs)
    out += (table if table else ["No parameters."]) + _nested(schema, defs, set()) + [""]
    source = getattr(definition, "user", None)
    if source is not None:  # a user's definition (oam.userdefs): its parameters are its CUE template's
        return out + [f"Defined by {source.kind} `{source.name}` in `{source.file}` (CUE).", ""]
    path = EXAMPLES / f"{KIND_FILE[definition.kind]}-{definition.name}.yaml"
    out += [f"Example (`{path.relative_to(ROOT)}`):", "", "```yaml", path.read_text().rstrip(), "```", ""]
    made = _creates(path, definition)
    out += ["What the example makes at its first stage:", ""] + [f"* {m}" for m in made] + [""]
    return out


def reference() -> str:
    lines = ["# Definitions", "",
             "Generated from the models by `python -m oam reference`; do not edit by hand. Parameter names are "
             "KubeVela's. Each example is a file in `examples/definitions`, deployed by the test suite.", ""]
    for registry in REGISTRIES:
        lines += [f"## {TITLES[registry.kind]}", ""]
        for name in registry.names():
            lines += section(registry.get(name))
    return "\n".join(lines).rstrip() + "\n"
