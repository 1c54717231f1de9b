"""The resource selector the garbage-collect and apply-once policies share."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.spec import OamModel, rollout_of


class ResourceSelector(OamModel):
    component_names: Optional[list[str]] = Field(None, description="Objects of these components")
    component_types: Optional[list[str]] = Field(None, description="Objects of components of these types")
    oam_types: Optional[list[Literal["COMPONENT", "TRAIT"]]] = Field(
        None, description="Objects the component type makes (COMPONENT) or a trait makes (TRAIT)")
    trait_types: Optional[list[str]] = Field(None, description="Objects these traits make")
    resource_types: Optional[list[str]] = Field(None, description="Objects of these kinds, like Service")
    resource_names: Optional[list[str]] = Field(None, description="Objects with these names")

    def matches(self, desired, comp) -> bool:
        """Whether ``desired``, an object of ``comp``, is selected (every criterion given must hold)."""
        tests = [
            (self.component_names, lambda: comp is not None and comp.name in self.component_names),
            (self.component_types, lambda: comp is not None and comp.type in self.component_types),
            (self.oam_types, lambda: ("TRAIT" if desired.source else "COMPONENT") in self.oam_types),
            (self.trait_types, lambda: desired.source in self.trait_types),
            (self.resource_types, lambda: desired.kind in self.resource_types),
            (self.resource_names, lambda: desired.manifest["metadata"]["name"] in self.resource_names),
        ]
        return all(test() for given, test in tests if given is not None)


def released(desired, comp) -> bool:
    """An object whose life the release decides: a rolled-out component's Deployments and its routing."""
    return comp is not None and rollout_of(comp) is not None and desired.role in (
        "deployment", "destinationrule", "virtualservice")
