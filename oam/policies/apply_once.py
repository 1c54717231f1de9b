"""apply-once: fields the cluster may change after an object is applied, which updates then leave as they are."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.spec import OamModel
from oam.policies._selector import ResourceSelector, released
from oam.registry import POLICIES, PolicyType


class Strategy(OamModel):
    path: list[str] = Field(min_length=1, description="Fields kept as the cluster has them, like spec.replicas "
                                                      "('*' for the whole object)")
    affect: Optional[Literal["onUpdate", "onStateKeep", "always"]] = Field(
        None, description="Accepted: there is no state keeping between updates, so every choice means onUpdate")


class ApplyOnceRule(OamModel):
    selector: ResourceSelector = Field(default_factory=ResourceSelector, description="The objects the rule is for")
    strategy: Strategy = Field(description="What the cluster keeps")


class ApplyOnceProperties(OamModel):
    enable: bool = Field(False, description="Accepted: objects are applied by pulumi up only, never in between "
                                            "(no controller corrects drift)")
    rules: list[ApplyOnceRule] = Field(default_factory=list, description="Fields updates leave as the cluster has them")


@POLICIES.register
class ApplyOnce(PolicyType):
    """Let the cluster own chosen fields once an object exists: later updates leave them (Pulumi's ignoreChanges)."""

    name = "apply-once"
    Properties = ApplyOnceProperties

    def check(self, policy, app, _):
        problems = []
        for i, rule in enumerate(policy.properties.rules):
            hit = [c.name for c in app.canaried if rule.selector.component_names is None or
                   c.name in rule.selector.component_names]
            if hit and (rule.selector.resource_types is None or "Deployment" in rule.selector.resource_types):
                problems.append(app.locator.problem(
                    policy.path + ("properties", "rules", i, "selector"),
                    f"selects the Deployments of '{hit[0]}', whose replicas and pods each stage of its release sets",
                    "select other objects (resourceTypes, componentNames)"))
        return problems

    def keep(self, p: ApplyOnceProperties, desired, component) -> None:
        if not p.enable or released(desired, component):
            return
        for rule in p.rules:
            if rule.selector.matches(desired, component):
                paths = ["*"] if "*" in rule.strategy.path else [x.removeprefix(".") for x in rule.strategy.path]
                desired.ignore_changes = tuple(dict.fromkeys([*desired.ignore_changes, *paths]))
