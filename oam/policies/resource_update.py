"""resource-update: objects recreated, not updated, when chosen fields change (an immutable Secret's data, say)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from oam.kit.applied import NEVER_REPLACED
from oam.kit.spec import OamModel
from oam.policies._selector import ResourceSelector, released
from oam.registry import POLICIES, PolicyType


class UpdateStrategy(OamModel):
    op: Literal["patch", "replace"] = Field("patch", description="Accepted: every object is applied whole, "
                                                                 "server-side; fields it no longer gives are removed")
    recreate_fields: list[str] = Field(default_factory=list, description="Fields, like data.key, whose change "
                                                                         "deletes the object and creates it anew")


class ResourceUpdateRule(OamModel):
    selector: ResourceSelector = Field(description="The objects the rule is for; resourceTypes is required")
    strategy: UpdateStrategy = Field(default_factory=UpdateStrategy, description="How they are updated")


class ResourceUpdateProperties(OamModel):
    rules: list[ResourceUpdateRule] = Field(default_factory=list, description="Per object, every rule that "
                                                                              "selects it adds its fields")


@POLICIES.register
class ResourceUpdate(PolicyType):
    """Recreate chosen objects when chosen fields change (Pulumi's replaceOnChanges, the old one deleted first)."""

    name = "resource-update"
    Properties = ResourceUpdateProperties

    def check(self, policy, app, _):
        problems = []
        for i, rule in enumerate(policy.properties.rules):
            where = policy.path + ("properties", "rules", i)
            kinds = rule.selector.resource_types
            if not rule.strategy.recreate_fields:
                continue
            if not kinds:
                problems.append(app.locator.problem(where + ("selector",), "recreates objects of every kind it "
                                                    "selects, and objects that run pods or route to them are "
                                                    "never recreated", "name the kinds to recreate in resourceTypes, "
                                                                       "like [Secret, ConfigMap]"))
            problems += [app.locator.problem(where + ("selector", "resourceTypes", j),
                                             f"a {kind} is never recreated: it runs pods or routes to them, and in "
                                             "between nothing would serve", "recreate the objects they read "
                                                                            "(ConfigMap, Secret) instead")
                         for j, kind in enumerate(kinds or ()) if kind in NEVER_REPLACED]
            problems += [app.locator.problem(where + ("strategy", "recreateFields", j), f"'{f}' is not a field path",
                                             "write it like data.key or spec.storageClassName")
                         for j, f in enumerate(rule.strategy.recreate_fields) if not f.strip(".") or ".." in f]
        return problems

    def keep(self, p: ResourceUpdateProperties, desired, component) -> None:
        if released(desired, component) or desired.kind in NEVER_REPLACED:
            return
        for rule in p.rules:
            if rule.strategy.recreate_fields and rule.selector.resource_types and rule.selector.matches(desired,
                                                                                                       component):
                fields = [f.strip(".") for f in rule.strategy.recreate_fields]
                desired.recreate_on = tuple(dict.fromkeys([*desired.recreate_on, *fields]))
