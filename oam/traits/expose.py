"""expose: a Service that makes the component's ports reachable inside the cluster."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.keys import StringMap, check_keys
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, TRAITS, TraitType
from oam.traits._ports import add_service_ports


class ServicePort(OamModel):
    port: int = Field(ge=1, le=65535, description="Port number, on the Service and in the container")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.port_name))]] = Field(
        None, description="Port name; port-<port> (-udp, -sctp) when absent")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    node_port: Optional[int] = Field(None, ge=1, le=65535, description="Node port, when the Service is a NodePort one")


class ExposeProperties(OamModel):
    port: list[int] = Field(default_factory=list, description="Ports to expose, each to the same container port")
    ports: list[ServicePort] = Field(default_factory=list, description="Ports to expose, with names and protocols "
                                                                         "(used instead of port when given)")
    type: Optional[Literal["ClusterIP", "NodePort", "LoadBalancer"]] = Field(
        None, description="Service type; when not given, the exposeType of the component's own exposed ports "
                          "(ports[].expose), else ClusterIP")
    annotations: StringMap = Field(default_factory=lambda: StringMap({}), description="Annotations of the Service")

    @model_validator(mode="after")
    def _some(self):
        if not self.port and not self.ports:
            raise ValueError("give the ports to expose: port: [8080] or ports: [{port: 8080}]")
        return self

    def entries(self, service_type: str) -> list[dict]:
        """The Service's port entries (of a Service of ``service_type``); the target is the same port in the
        container."""
        if not self.ports:
            return [{"name": f"port-{n}", "port": n, "targetPort": n, "protocol": "TCP"} for n in self.port]
        out = []
        for x in self.ports:
            suffix = "" if x.protocol == "TCP" else f"-{x.protocol.lower()}"
            entry = {"name": x.name or f"port-{x.port}{suffix}", "port": x.port, "targetPort": x.port,
                     "protocol": x.protocol}
            if x.node_port is not None and service_type == "NodePort":
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
        if not problems and comp.properties is not None:
            # The Service the component makes of its own exposed ports, which this trait's ports join.
            service = COMPONENTS.get(comp.type).workload(comp.name, comp.properties).service
            problems += self._names_taken(p, trait, app, service) + self._type_taken(p, trait, app, service)
        return problems

    @staticmethod
    def _type_taken(p: ExposeProperties, trait, app, service: Optional[dict]) -> list:
        """A type given here other than the one the component gave the Service of its own exposed ports: one
        Service has one type."""
        if p.type is None or service is None or service["type"] in ("ClusterIP", p.type):
            return []
        return [app.locator.problem(trait.path + ("properties", "type"),
                                    f"the component's exposeType makes its Service a {service['type']} one, and "
                                    f"this trait's ports go on the same Service; it cannot be {p.type} too",
                                    "give one type: remove this one (the trait then takes the component's), or "
                                    "change exposeType")]

    @staticmethod
    def _names_taken(p: ExposeProperties, trait, app, service: Optional[dict]) -> list:
        """A port name given here that a port the component puts on the same Service has too (Kubernetes refuses
        a Service with two ports of one name; a generated name that is taken is made unique instead)."""
        mine = {x.port for x in p.ports}
        kept = {e["name"]: e["port"] for e in (service or {}).get("ports", []) if e["port"] not in mine}
        return [app.locator.problem(trait.path + ("properties", "ports", i, "name"),
                                    f"port name '{x.name}' is the name of Service port {kept[x.name]}, which the "
                                    "component's ports[].expose puts on the same Service",
                                    "give one of them another name")
                for i, x in enumerate(p.ports) if x.name is not None and x.name in kept]

    def apply(self, p: ExposeProperties, ctx: ComponentContext) -> None:
        """The component's Service gets these ports (and this type, when given), next to any its ports[].expose
        made."""
        service_type = p.type or (ctx.service["spec"]["type"] if ctx.service is not None else "ClusterIP")
        given = [x.name is not None for x in p.ports] if p.ports else [False] * len(p.port)
        ports = add_service_ports(ctx.service["spec"]["ports"] if ctx.service is not None else [],
                                  list(zip(p.entries(service_type), given)))
        ctx.service = ctx.service_manifest(ports, service_type)
        if p.annotations.root:
            ctx.service["metadata"]["annotations"] = {**ctx.service["metadata"].get("annotations", {}),
                                                      **p.annotations.root}

    def service_ports(self, p: ExposeProperties) -> list[int]:
        return [x.port for x in p.ports] if p.ports else list(p.port)
