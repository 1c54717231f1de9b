"""webservice: a long-running, scalable service with a stable network endpoint (a Deployment)."""
from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import Workload
from oam.kit.pod import ContainerProperties, Quantity, check_container, container_workload
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, ComponentType


class Port(OamModel):
    port: int = Field(ge=1, le=65535, description="Port number (of the Service, when exposed)")
    container_port: Optional[int] = Field(None, ge=1, le=65535,
                                          description="Container port, when it differs from port")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.port_name))]] = Field(
        None, description="Port name (at most 15 characters); port-<port> (-udp, -sctp) when absent")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    expose: bool = Field(False, description="Put this port on the component's Service (named after the component)")
    node_port: Optional[int] = Field(None, ge=1, le=65535, description="Node port, when exposeType is NodePort")

    @property
    def target(self) -> int:
        return self.container_port or self.port

    @property
    def port_name(self) -> str:
        suffix = "" if self.protocol == "TCP" else f"-{self.protocol.lower()}"
        return self.name or f"port-{self.target}{suffix}"


class Limit(OamModel):
    cpu: Optional[Quantity] = Field(None, description="CPU limit")
    memory: Optional[Quantity] = Field(None, description="Memory limit")


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value[:40]}' is not an IP address") from None
    return value


class HostAlias(OamModel):
    ip: Annotated[str, AfterValidator(_ip)] = Field(description="IP address")
    hostnames: list[str] = Field(min_length=1, description="Host names for it")


class ServingProperties(ContainerProperties):
    """webservice's parameters that statefulset shares: the ports, their Service and the pod's hosts."""

    port: Optional[int] = Field(None, ge=1, le=65535, description="The one container port (short form of ports)")
    ports: list[Port] = Field(default_factory=list, description="Container ports")
    expose_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Type of the Service made for ports with expose: true")
    add_revision_label: bool = Field(False, description="Accepted: pods always carry app.oam.dev/revision")
    host_aliases: list[HostAlias] = Field(default_factory=list, description="Extra /etc/hosts entries of the pod")


class WebServiceProperties(ServingProperties):
    limit: Optional[Limit] = Field(None, description="Limits, when they differ from cpu and memory (the requests)")


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
        targets = [(x.target, x.protocol) for x in p.ports]
        names = [x.port_name for x in p.ports]
        node_ports = [x.node_port for x in p.ports if x.expose and p.expose_type == "NodePort"]
        for i, x in enumerate(p.ports):
            where = comp.path + ("properties", "ports", i)
            if numbers[i] in numbers[:i]:
                problems.append(app.locator.problem(where + ("port",), f"port {numbers[i]} is listed twice",
                                                    "list each port once"))
            elif targets[i] in targets[:i]:
                problems.append(app.locator.problem(where + ("containerPort",),
                                                    f"container port {x.target}/{x.protocol} is listed twice",
                                                    "list each container port once"))
            elif names[i] in names[:i]:
                problems.append(app.locator.problem(where + ("name",),
                                                    f"port name '{names[i]}' is used twice", "give each port its own name"))
            elif x.node_port is not None and x.expose and p.expose_type == "NodePort" and \
                    node_ports.count(x.node_port) > 1:
                problems.append(app.locator.problem(where + ("nodePort",), f"node port {x.node_port} is used twice",
                                                    "give each exposed port its own nodePort"))
        if p.expose_type != "ClusterIP" and not any(x.expose for x in p.ports):
            problems.append(app.locator.problem(comp.path + ("properties", "exposeType"),
                                                "exposeType is the type of the Service made for ports with "
                                                "expose: true, and no port has it",
                                                "set expose: true on the ports to put on the Service"))
        return problems

    def workload(self, name: str, p: WebServiceProperties) -> Workload:
        """The container; and the component's Service when ports are exposed (no Service for port alone)."""
        workload = serving_workload(name, p)
        if p.limit is not None:
            limits = {k: v for k, v in (("cpu", p.limit.cpu), ("memory", p.limit.memory)) if v is not None}
            resources = workload.container.setdefault("resources", {})
            resources["limits"] = {**resources.get("limits", {}), **limits}
        return workload


def serving_workload(name: str, p) -> Workload:
    """The container of a component with webservice's ports, host aliases and exposeType (webservice,
    statefulset); and its Service when ports are exposed (no Service for port alone)."""
    ports = [{"containerPort": p.port, "name": f"port-{p.port}", "protocol": "TCP"}] if p.port else [
        {"containerPort": x.target, "name": x.port_name, "protocol": x.protocol} for x in p.ports]
    workload = container_workload(name, p, ports)
    if p.host_aliases:
        workload.host_aliases = [{"ip": a.ip, "hostnames": list(a.hostnames)} for a in p.host_aliases]
    exposed = [x for x in p.ports if x.expose]
    if exposed:
        workload.service = {"type": p.expose_type, "ports": [
            {"name": x.port_name, "port": x.port, "targetPort": x.target, "protocol": x.protocol,
             **({"nodePort": x.node_port} if x.node_port is not None and p.expose_type == "NodePort" else {})}
            for x in exposed]}
    return workload
