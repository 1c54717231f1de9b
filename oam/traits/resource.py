"""resource: CPU and memory requests and limits of the component's container."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BeforeValidator, Field, WithJsonSchema

from oam.kit.context import ComponentContext
from oam.kit.pod import Quantity
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import container


def _number_as_text(value):
    """KubeVela's resource trait takes a CPU amount as a number too (cpu: 2); it is the same quantity."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, "g") if isinstance(value, float) else str(value)
    return value


Cpu = Annotated[Quantity, BeforeValidator(_number_as_text),
                WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}]})]

class Amounts(OamModel):
    cpu: Optional[Cpu] = Field(None, description="CPU, like 500m, 0.5 or 2")
    memory: Optional[Quantity] = Field(None, description="Memory, like 256Mi")

    def given(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class ResourceProperties(OamModel):
    cpu: Optional[Cpu] = Field(None, description="CPU request and limit, like 500m, 0.5 or 2")
    memory: Optional[Quantity] = Field(None, description="Memory request and limit, like 256Mi")
    requests: Optional[Amounts] = Field(None, description="Requests, when they differ from the limits")
    limits: Optional[Amounts] = Field(None, description="Limits, when they differ from the requests")


@TRAITS.register
class Resource(TraitType):
    """Set the CPU and memory the component's container requests and is limited to (replacing cpu, memory)."""

    name = "resource"
    Properties = ResourceProperties

    def check(self, trait, app, comp):
        p: ResourceProperties = trait.properties
        if not (p.cpu or p.memory or (p.requests and p.requests.given()) or (p.limits and p.limits.given())):
            return [app.locator.problem(trait.path + ("properties",), "sets no resource",
                                        "give cpu, memory, requests or limits")]
        return []

    def patch_pod(self, p: ResourceProperties, template: dict, ctx: ComponentContext) -> None:
        both = {k: v for k, v in (("cpu", p.cpu), ("memory", p.memory)) if v is not None}
        requests = {**both, **(p.requests.given() if p.requests else {})}
        limits = {**both, **(p.limits.given() if p.limits else {})}
        resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
        container(template)["resources"] = resources
