"""take-over: objects that exist already, with names the application makes, may become the application's."""
from __future__ import annotations

from pydantic import Field

from oam.kit.spec import OamModel
from oam.policies._selector import ResourceSelector
from oam.registry import POLICIES, PolicyType


class TakeOverRule(OamModel):
    selector: ResourceSelector = Field(description="The objects the rule is for")


class TakeOverProperties(OamModel):
    rules: list[TakeOverRule] = Field(default_factory=list, description="The objects that may be taken over")


@POLICIES.register
class TakeOver(PolicyType):
    """Take over the objects chosen that exist already and are not the application's (others are refused).

    Without it, a new object of the application that the cluster already holds under the
    same kind, namespace and name, made by hand, by kubectl or by another application, is
    refused before anything is applied. Taken over, the object is the stack's: its fields
    are set as the application says (the provider applies server-side and forces them), and
    pulumi destroy deletes it.
    """

    name = "take-over"
    Properties = TakeOverProperties

    def takes_over(self, p: TakeOverProperties, desired, component) -> bool:
        return any(rule.selector.matches(desired, component) for rule in p.rules)
