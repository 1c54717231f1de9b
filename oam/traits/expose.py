"""expose: a Service that makes the component's ports reachable inside the cluster."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from oam.context import ComponentContext
from oam.model import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._ports import check_ports


class ExposeProperties(OamModel):
    port: list[int] = Field(min_length=1, description="Ports to expose, each mapped to the same container port")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field("ClusterIP", description="Service type")


@TRAITS.register
class Expose(TraitType):
    """A Service named after the component, one port entry per listed port."""

    name = "expose"
    Properties = ExposeProperties

    def check(self, trait, app, comp):
        ports = trait.properties.port
        problems = check_ports([(n, trait.path + ("properties", "port", i)) for i, n in enumerate(ports)], app, comp)
        problems += [app.locator.problem(trait.path + ("properties", "port", i), f"port {n} is listed twice",
                                         "list each port once") for i, n in enumerate(ports) if n in ports[:i]]
        return problems

    def apply(self, p: ExposeProperties, ctx: ComponentContext) -> None:
        ports = [{"name": f"port-{n}", "port": n, "targetPort": n, "protocol": "TCP"} for n in p.port]
        ctx.service = ctx.service_manifest(ports, p.type)

    def service_ports(self, p: ExposeProperties) -> list[int]:
        return list(p.port)
