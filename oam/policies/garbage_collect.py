"""garbage-collect: which objects the application stops making are left in the cluster."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.spec import OamModel
from oam.policies._selector import ResourceSelector, released
from oam.registry import POLICIES, PolicyType


class GcRule(OamModel):
    selector: ResourceSelector = Field(description="The objects the rule is for")
    strategy: Literal["onAppUpdate", "onAppDelete", "never"] = Field(
        "onAppUpdate", description="onAppUpdate: deleted once not made; onAppDelete, never: left in the cluster")
    propagation: Optional[Literal["orphan", "cascading"]] = Field(None, description="Accepted; objects are "
                                                                                    "deleted in the background")


class GarbageCollectProperties(OamModel):
    keep_legacy_resource: bool = Field(False, description="Leave every object the application stops making")
    continue_on_failure: bool = Field(False, description="Accepted; a failed delete fails the update")
    application_revision_limit: Optional[int] = Field(None, ge=0, description="Accepted; there are no "
                                                                              "application revision objects")
    rules: list[GcRule] = Field(default_factory=list, description="Per object, the first rule that selects it wins")


@POLICIES.register
class GarbageCollect(PolicyType):
    """Leave objects the application stops making in the cluster (Pulumi's retainOnDelete), as chosen."""

    name = "garbage-collect"
    Properties = GarbageCollectProperties

    def keep(self, p: GarbageCollectProperties, desired, component) -> None:
        # A release removes retired revisions and their routing itself, in its safe order: never left behind.
        if released(desired, component):
            return
        rule = next((r for r in p.rules if r.selector.matches(desired, component)), None)
        strategy = rule.strategy if rule else ("onAppDelete" if p.keep_legacy_resource else "onAppUpdate")
        if strategy != "onAppUpdate":
            desired.retain = True
