"""expose: a Service that makes the component's ports reachable inside the cluster."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam import k8s_values as kv
from oam.context import ComponentContext
from oam.keys import StringMap, check_keys
from oam.model import OamModel
from oam.registry import TRAITS, TraitType


class ServicePort(OamModel):
    port: int = Field(ge=1, le=65535, description="Port number, on the Service and in the container")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.port_name))]] = Field(
        None, description="Port name; port-<port> (-udp, -sctp) when absent")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    node_port: Optional[int] = Field(None, ge=1, le=65535, description="Node port, when type is NodePort")


class ExposeProperties(OamModel):
    port: list[int] = Field(default_factory=list, description="Ports to expose, each to the same container port")
    ports: list[ServicePort] = Field(default_factory=list, description="Ports to expose, with names and protocols "
                                                                         "(used instead of port when given)")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field("ClusterIP", description="Service type")
    annotations: StringMap = Field(default_factory=lambda: StringMap({}), description="Annotations of the Service")

    @model_validator(mode="after")
    def _some(self):
        if not self.port and not self.ports:
            raise ValueError("give the ports to expose: port: [8080] or ports: [{port: 8080}]")
        return self

    def entries(self) -> list[dict]:
        """The Service's port entries; the target is the same port in the container."""
        if not self.ports:
            return [{"name": f"port-{n}", "port": n, "targetPort": n, "protocol": "TCP"} for n in self.port]
        out = []
        for x in self.ports:
            suffix = "" if x.protocol == "TCP" else f"-{x.protocol.lower()}"
            entry = {"name": x.name or f"port-{x.port}{suffix}", "port": x.port, "targetPort": x.port,
                     "protocol": x.protocol}
            if x.node_port is not None and self.type == "NodePort":
                entry["nodePort"] = x.node_port
            out.append(entry)
        return out


@TRAITS.register
class Expose(TraitType):
    """A Service named after the component with the listed ports (a port the container does not declare too)."""

    name = "expose"
    Properties = ExposeProperties

    def check(self, trait, app, comp):
        p: ExposeProperties = trait.properties
        field = "ports" if p.ports else "port"
        numbers = [x.port for x in p.ports] if p.ports else list(p.port)
        problems = [app.locator.problem(trait.path + ("properties", field, i), f"port {n} is listed twice",
                                        "list each port once") for i, n in enumerate(numbers) if n in numbers[:i]]
        problems += check_keys(p.annotations.root, trait.path + ("properties", "annotations"), app.locator, values=False)
        return problems

    def apply(self, p: ExposeProperties, ctx: ComponentContext) -> None:
        """The component's Service gets these ports (and this type), next to any its ports[].expose made."""
        ports = p.entries()
        if ctx.service is not None:
            mine = {e["port"] for e in ports}
            ports = [e for e in ctx.service["spec"]["ports"] if e["port"] not in mine] + ports
        ctx.service = ctx.service_manifest(ports, p.type)
        if p.annotations.root:
            ctx.service["metadata"]["annotations"] = {**ctx.service["metadata"].get("annotations", {}),
                                                      **p.annotations.root}

    def service_ports(self, p: ExposeProperties) -> list[int]:
        return [x.port for x in p.ports] if p.ports else list(p.port)
