"""take-over: objects that exist already, with names the application makes, become the application's."""
from __future__ import annotations

from pydantic import Field

from oam.model import OamModel
from oam.policies._selector import ResourceSelector
from oam.registry import POLICIES, PolicyType


class TakeOverRule(OamModel):
    selector: ResourceSelector = Field(description="The objects the rule is for")


class TakeOverProperties(OamModel):
    rules: list[TakeOverRule] = Field(default_factory=list, description="The objects that may be taken over")


@POLICIES.register
class TakeOver(PolicyType):
    """Take over objects that exist already: as every object here is, with or without this policy.

    The Kubernetes provider applies each object server-side and forces its fields, so an
    object of the same kind, namespace and name that is already in the cluster (made by
    hand, by kubectl or by a controller) becomes the stack's: its fields are set as the
    application says, and pulumi destroy deletes it.
    """

    name = "take-over"
    Properties = TakeOverProperties
