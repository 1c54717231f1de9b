"""webservice: a long-running, scalable service with a stable network endpoint (a Deployment)."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from oam import k8s_values as kv
from oam.components._pod import ContainerProperties, check_container, container_workload
from oam.context import Workload
from oam.model import OamModel
from oam.registry import COMPONENTS, ComponentType


class Port(OamModel):
    port: int = Field(ge=1, le=65535, description="Container port number")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.port_name))]] = Field(
        None, description="Port name (at most 15 characters); port-<port> when absent")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    expose: bool = Field(False, description="Kept for KubeVela compatibility; use the expose trait")


class WebServiceProperties(ContainerProperties):
    port: Optional[int] = Field(None, ge=1, le=65535, description="The one container port (short form of ports)")
    ports: list[Port] = Field(default_factory=list, description="Container ports")


@COMPONENTS.register
class WebService(ComponentType):
    """A Deployment running one container that serves on its ports."""

    name = "webservice"
    Properties = WebServiceProperties
    token = "oam:component:WebService"

    def check(self, comp, app, _):
        p: WebServiceProperties = comp.properties
        problems = check_container(p, app.locator, comp.path + ("properties",))
        if p.port is not None and p.ports:
            problems.append(app.locator.problem(comp.path + ("properties", "port"), "give port or ports, not both",
                                                "move this port into the ports list"))
        numbers = [x.port for x in p.ports]
        names = [x.name or f"port-{x.port}" for x in p.ports]
        for i, n in enumerate(numbers):
            if n in numbers[:i]:
                problems.append(app.locator.problem(comp.path + ("properties", "ports", i, "port"),
                                                    f"port {n} is listed twice", "list each port once"))
            elif names[i] in names[:i]:
                problems.append(app.locator.problem(comp.path + ("properties", "ports", i, "name"),
                                                    f"port name '{names[i]}' is used twice", "give each port its own name"))
        return problems

    def workload(self, name: str, p: WebServiceProperties) -> Workload:
        ports = [{"containerPort": p.port, "name": f"port-{p.port}", "protocol": "TCP"}] if p.port else [
            {"containerPort": x.port, "name": x.name or f"port-{x.port}", "protocol": x.protocol} for x in p.ports]
        return container_workload(name, p, ports)
