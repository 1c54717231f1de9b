"""override: change components' properties and traits where a deploy step sends the application."""
from __future__ import annotations

import copy
import fnmatch
from dataclasses import replace
from typing import Any, Optional

from pydantic import Field

from oam.errors import ApplicationError
from oam.kit.spec import OamModel, build_component, raw_component
from oam.registry import POLICIES, TRAITS, PolicyType


class TraitPatch(OamModel):
    type: str = Field(description="Trait type; a trait the component lacks is added")
    properties: dict[str, Any] = Field(default_factory=dict, description="Merged into the trait's properties")
    disable: bool = Field(False, description="Remove the trait")


class ComponentPatch(OamModel):
    name: Optional[str] = Field(None, description="Components it changes (* matches any text); every one when absent")
    type: Optional[str] = Field(None, description="Without name: only components of this type. With name: the "
                                                  "component's new type (its properties are then these)")
    properties: dict[str, Any] = Field(default_factory=dict, description="Merged into the component's properties")
    traits: list[TraitPatch] = Field(default_factory=list, description="Traits changed, added or removed")
    external_revision: Optional[str] = Field(None, description="A new name for the component's revision")


class OverrideProperties(OamModel):
    components: list[ComponentPatch] = Field(default_factory=list, description="Changes, applied in order")
    selector: Optional[list[str]] = Field(None, description="Deploy only these components")


def merge(base: Any, patch: Any) -> Any:
    """KubeVela's merge: mappings merge key by key, anything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def _matches(entry: ComponentPatch, comp: dict) -> bool:
    if entry.name is None:
        return entry.type is None or entry.type == comp["type"]
    return fnmatch.fnmatchcase(comp["name"], entry.name)


def _patched(comp: dict, entry: ComponentPatch) -> dict:
    out = copy.deepcopy(comp)
    if entry.name is not None and entry.type is not None and entry.type != comp["type"]:
        out["type"], out["properties"] = entry.type, copy.deepcopy(entry.properties)
    else:
        out["properties"] = merge(out["properties"], entry.properties)
    if entry.external_revision is not None:
        out["externalRevision"] = entry.external_revision
    for t in entry.traits:
        at = next((i for i, have in enumerate(out["traits"]) if have["type"] == t.type), None)
        if t.disable:
            if at is not None:
                del out["traits"][at]
        elif at is None:
            out["traits"].append({"type": t.type, "properties": copy.deepcopy(t.properties)})
        else:
            out["traits"][at]["properties"] = merge(out["traits"][at]["properties"], t.properties)
    return out


@POLICIES.register
class Override(PolicyType):
    """Change components' properties and traits (or add components) where a deploy step sends the application."""

    name = "override"
    Properties = OverrideProperties
    transforms = True

    def check(self, policy, app, _):
        try:
            changed = self.transform(policy.properties, app, policy)
        except ApplicationError as err:
            return list(err.problems)
        problems = []
        for i, entry in enumerate(policy.properties.components):
            for comp in app.canaried:
                after = changed.component(comp.name)
                if after is None or not _matches(entry, raw_component(comp)):
                    continue
                touched = [t.type for t in entry.traits if TRAITS.get(t.type) is not None and
                           (TRAITS.get(t.type).rolls_out or TRAITS.get(t.type).shapes_pod)]
                if entry.properties or entry.type or entry.external_revision or touched:
                    problems.append(app.locator.problem(
                        policy.path + ("properties", "components", i),
                        f"changes how '{comp.name}' is rolled out or what its pods run, which its rollout "
                        "trait rolls out revision by revision from the file",
                        "change it in the component itself; override may change its other traits"))
        return problems

    def transform(self, p: OverrideProperties, app, policy):
        comps = [raw_component(c) for c in app.components]
        paths = {c.name: c.path for c in app.components}
        for i, entry in enumerate(p.components):
            hit = [j for j, c in enumerate(comps) if _matches(entry, c)]
            for j in hit:
                comps[j] = _patched(comps[j], entry)
            if not hit and entry.name is not None and "*" not in entry.name and entry.type is not None:
                comps.append(_patched({"name": entry.name, "type": entry.type, "properties": {}, "traits": []}, entry))
                paths[entry.name] = policy.path + ("properties", "components", i)
        if p.selector is not None:
            comps = [c for c in comps if c["name"] in p.selector]
        built, problems = [], []
        for c in comps:
            comp, found = build_component(c, paths[c["name"]], app.locator)
            if comp is None:
                problems += [replace(x, message=f"with override '{policy.name}': {x.message}") for x in found]
            else:
                built.append(comp)
        if problems:
            raise ApplicationError(problems)
        return replace(app, components=tuple(built))
