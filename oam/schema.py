"""A JSON Schema of the Application format, from the same models that validate it.

Point an editor's YAML support at it (yaml-language-server) or check files in CI. Each
component, trait and step type gets its parameters' schema, chosen by its `type`.
"""
from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from oam.model import ApplicationEnvelope
from oam.registry import COMPONENTS, POLICIES, STEPS, TRAITS

SCHEMA_ID = "https://oam-delivery.invalid/application.schema.json"


def _typed(kind_defs: str, registry, refs: dict) -> dict[str, Any]:
    """An item of a components, traits or steps list: its envelope, then its type's parameters."""
    names = registry.names()
    cases = [{"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
              "then": {"properties": {"properties": refs[(registry.get(name).properties, "validation")]}}}
             for name in names]
    return {"allOf": [{"$ref": f"#/$defs/{kind_defs}"},
                      {"properties": {"type": {"enum": names}}}, *cases]}


def application_schema() -> dict[str, Any]:
    models = [(ApplicationEnvelope, "validation")]
    for registry in (COMPONENTS, TRAITS, POLICIES, STEPS):
        models += [(registry.get(n).properties, "validation") for n in registry.names()]
    refs, top = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    defs = top["$defs"]
    defs["ComponentEnvelope"]["properties"]["traits"]["items"] = _typed("TraitEnvelope", TRAITS, refs)
    defs["SpecEnvelope"]["properties"]["components"]["items"] = _typed("ComponentEnvelope", COMPONENTS, refs)
    defs["SpecEnvelope"]["properties"]["policies"]["items"] = _typed("PolicyEnvelope", POLICIES, refs)
    defs["WorkflowEnvelope"]["properties"]["steps"]["items"] = _typed("StepEnvelope", STEPS, refs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "OAM Application (oam-delivery)", **refs[(ApplicationEnvelope, "validation")], "$defs": defs}
