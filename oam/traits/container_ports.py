"""container-ports: the ports a container of the component declares, and the node ports bound to them."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form


class ContainerPort(OamModel):
    container_port: int = Field(ge=1, le=65535, description="Port number the container listens on")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    host_port: Optional[int] = Field(None, ge=1, le=65535, description="Port of the node bound to it (each "
                                                                         "node then runs at most one such pod)")
    host_ip: Optional[Annotated[str, AfterValidator(kv.checked(kv.ip_address))]] = Field(
        None, alias="hostIP", description="Address of the node the hostPort is bound to (all when absent)")

    @model_validator(mode="after")
    def _host_ip_needs_host_port(self):
        if self.host_ip is not None and self.host_port is None:
            raise ValueError("hostIP is the node address hostPort is bound to; give hostPort too, or remove hostIP")
        return self

    @property
    def key(self) -> tuple[int, str]:
        return self.container_port, self.protocol


class PortsChange(OamModel):
    ports: list[ContainerPort] = Field(default_factory=list, description="Ports of the container: each one it "
                                                                         "declares already gets the host binding, "
                                                                         "the others are added")


class ContainerPorts(PortsChange):
    container_name: str = Field(min_length=1, description="The container to change")


class ContainerPortsProperties(PortsChange):
    container_name: str = Field("", description="The container to change; the component's own when empty")
    containers: list[ContainerPorts] = Field(default_factory=list, description="Ports of several containers "
                                                                               "(instead of the fields above)")

    @model_validator(mode="after")
    def _one_form(self):
        one_form(self, "containers")
        return self


def patched_ports(have: list[dict], change: PortsChange) -> list[dict]:
    """``have`` (a container's ports) with the host bindings of the ports it declares, and the other ports added."""
    wanted = {p.key: p for p in change.ports}
    out = []
    for entry in have:
        port = wanted.pop((entry["containerPort"], entry.get("protocol", "TCP")), None)
        out.append({**entry, **(_binding(port) if port is not None else {})})
    return out + [{"containerPort": p.container_port, "protocol": p.protocol, **_binding(p)} for p in wanted.values()]


def _binding(p: ContainerPort) -> dict:
    return {k: v for k, v in (("hostPort", p.host_port), ("hostIP", p.host_ip)) if v is not None}


def _service_targets(comp) -> dict[int, tuple[int, list[int]]]:
    """Service port -> (its container port, the container ports the component declares), for the Service
    the component's own properties make."""
    if comp.properties is None:
        return {}
    workload = COMPONENTS.get(comp.type).workload(comp.name, comp.properties)
    if workload.service is None:
        return {}
    return {e["port"]: (e["targetPort"], workload.ports) for e in workload.service["ports"]}


@TRAITS.register
class ContainerPortsTrait(TraitType):
    """Declare ports of the component's container (or a sidecar's), and bind node ports (hostPort) to them."""

    name = "container-ports"
    Properties = ContainerPortsProperties

    def check(self, trait, app, comp):
        p: ContainerPortsProperties = trait.properties
        changed = changed_containers(p, "containers")
        problems = missing_containers(trait, app, comp, [(path, name) for path, name, _ in changed if name])
        names = [name or comp.name for _, name, _ in changed]
        # (hostIP, hostPort, protocol) -> where it is bound first, in this trait or one listed before it
        bound: dict[tuple, str] = {}
        for t in comp.traits:
            if t is trait:
                break
            if t.type == self.name and t.properties is not None:
                for path, _, change in changed_containers(t.properties, "containers"):
                    for j, x in enumerate(change.ports):
                        if x.host_port is not None:
                            at = app.locator.line(t.path + ("properties", *path[:-1], "ports", j))
                            bound.setdefault((x.host_ip, x.host_port, x.protocol), f"line {at}")
        mapped = _service_targets(comp)
        for i, ((path, _, change), name) in enumerate(zip(changed, names)):
            base = path[:-1]  # the container's fields
            if name in names[:i]:
                problems.append(app.locator.problem(trait.path + ("properties", *path), f"container '{name}' is "
                                                    "listed twice", "give each container's ports in one entry"))
            keys = [x.key for x in change.ports]
            for j, x in enumerate(change.ports):
                where = trait.path + ("properties", *base, "ports", j)
                if x.key in keys[:j]:
                    problems.append(app.locator.problem(where, f"port {x.container_port}/{x.protocol} is listed twice",
                                                        "list each port once"))
                target = mapped.get(x.container_port) if name == comp.name else None
                if target is not None and target[0] != x.container_port and x.container_port not in target[1]:
                    problems.append(app.locator.problem(
                        where + ("containerPort",), f"{x.container_port} is the Service port of '{comp.name}' whose "
                                                    f"container port is {target[0]}; this would declare another port",
                        f"give containerPort: {target[0]} to bind a host port to what the Service sends to"))
                if x.host_port is None:
                    continue
                # Kubernetes refuses a pod that binds one node port twice (0.0.0.0 overlaps every address).
                for (ip, port, proto), first in bound.items():
                    if port == x.host_port and proto == x.protocol and \
                            (ip == x.host_ip or None in (ip, x.host_ip)):
                        problems.append(app.locator.problem(
                            where + ("hostPort",), f"host port {x.host_port}/{x.protocol} is bound twice in the pod "
                                                   f"(also at {first}); Kubernetes refuses the pod",
                            "give each binding its own hostPort"))
                        break
                else:
                    bound[(x.host_ip, x.host_port, x.protocol)] = f"line {app.locator.line(where)}"
        return problems

    def targets(self, p: ContainerPortsProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "containers")]

    def patch_pod(self, p: ContainerPortsProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, change in changed_containers(p, "containers"):
            c = container(template, name)
            if c is not None and change.ports:  # a missing container is refused by check
                c["ports"] = patched_ports(c.get("ports", []), change)
