"""daemon: one pod of a long-running container on every node (a DaemonSet), like a log or metrics agent."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from oam.components.webservice import HostAlias
from oam.kit import k8s_values as kv
from oam.kit.context import COMPONENT_LABEL, NAME_LABEL, Workload
from oam.kit.pod import (ContainerProperties, HostPathMount, VolumeMounts, check_container, container_workload,
                         held_by_patches)
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, ComponentType
from oam.traits._containers import changed_containers

class DaemonPort(OamModel):
    port: int = Field(ge=1, le=65535, description="Container port (and port of the Service, when exposed)")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.port_name))]] = Field(
        None, description="Port name (at most 15 characters); port-<port> (-udp, -sctp) when absent")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Protocol")
    expose: bool = Field(False, description="Put this port on the component's Service (named after the component)")

    @property
    def port_name(self) -> str:
        suffix = "" if self.protocol == "TCP" else f"-{self.protocol.lower()}"
        return self.name or f"port-{self.port}{suffix}"


class DaemonHostPathMount(HostPathMount):
    mount_propagation: Optional[Literal["None", "HostToContainer", "Bidirectional"]] = Field(
        None, description="Whether mounts made under the path later reach the container (HostToContainer), "
                          "or the node as well (Bidirectional, privileged containers only)")
    read_only: Optional[bool] = Field(None, description="Mount the node's path read-only")


class DaemonVolumeMounts(VolumeMounts):
    host_path: list[DaemonHostPathMount] = Field(default_factory=list, description="Paths of the node")


class DaemonProperties(ContainerProperties):
    port: Optional[int] = Field(None, ge=1, le=65535, description="The one container port (short form of ports)")
    ports: list[DaemonPort] = Field(default_factory=list, description="Container ports")
    expose_type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = Field(
        "ClusterIP", description="Type of the Service made for ports with expose: true (ExternalName is refused)")
    add_revision_label: bool = Field(False, description="Accepted: pods always carry app.oam.dev/revision")
    volume_mounts: Optional[DaemonVolumeMounts] = Field(None, description="Volumes mounted in the container, "
                                                                          "by source")
    host_aliases: list[HostAlias] = Field(default_factory=list, description="Extra /etc/hosts entries of the pod")


def _privileged(comp) -> bool:
    """Whether a securitycontext trait makes the component's own container privileged."""
    for t in comp.traits:
        if t.type == "securitycontext" and t.properties is not None:
            if any(change.privileged for _, name, change in changed_containers(t.properties, "containers")
                   if name in (None, "", comp.name)):
                return True
    return False


@COMPONENTS.register
class Daemon(ComponentType):
    """A DaemonSet running one container on every node; its pods serve on their ports once Ready."""

    name = "daemon"
    Properties = DaemonProperties
    token = "oam:component:Daemon"
    rolls_out = False
    offers = frozenset({"pods"})
    runs = "a DaemonSet"

    def check(self, comp, app, _):
        p: DaemonProperties = comp.properties
        where = comp.path + ("properties",)
        problems = check_container(p, app.locator, where)
        if p.port is not None and p.ports:
            problems.append(app.locator.problem(where + ("port",), "give port or ports, not both",
                                                "move this port into the ports list"))
        for i, x in enumerate(p.ports):
            if any(y.port == x.port and y.protocol == x.protocol for y in p.ports[:i]):
                problems.append(app.locator.problem(where + ("ports", i, "port"),
                                                    f"port {x.port}/{x.protocol} is listed twice", "list each port once"))
            elif x.port_name in [y.port_name for y in p.ports[:i]]:
                problems.append(app.locator.problem(where + ("ports", i, "name"),
                                                    f"port name '{x.port_name}' is used twice",
                                                    "give each port its own name"))
        if p.expose_type == "ExternalName":
            problems.append(app.locator.problem(where + ("exposeType",), "an ExternalName Service is a DNS alias "
                                                "of another host: it would send nothing to the daemon's pods",
                                                "use ClusterIP, NodePort or LoadBalancer"))
        elif p.expose_type != "ClusterIP" and not any(x.expose for x in p.ports):
            problems.append(app.locator.problem(where + ("exposeType",),
                                                "exposeType is the type of the Service made for ports with "
                                                "expose: true, and no port has it",
                                                "set expose: true on the ports to put on the Service"))
        for i, m in enumerate(p.volume_mounts.host_path if p.volume_mounts else ()):
            if m.mount_propagation == "Bidirectional" and not _privileged(comp):
                problems.append(app.locator.problem(
                    where + ("volumeMounts", "hostPath", i, "mountPropagation"),
                    "Kubernetes allows Bidirectional mount propagation only in a privileged container",
                    "use HostToContainer, or add a securitycontext trait with privileged: true"))
        problems += held_by_patches(comp, app)
        return problems

    def workload(self, name: str, p: DaemonProperties) -> Workload:
        """The container; and the component's Service when ports are exposed (none for port alone)."""
        ports = [{"containerPort": p.port, "name": f"port-{p.port}", "protocol": "TCP"}] if p.port else [
            {"containerPort": x.port, "name": x.port_name, "protocol": x.protocol} for x in p.ports]
        workload = container_workload(name, p, ports)
        if p.volume_mounts is not None:
            # container_workload mounts in VolumeMounts.all() order: the hostPath entries come last.
            host = p.volume_mounts.host_path
            mounts = workload.container["volumeMounts"][len(workload.container["volumeMounts"]) - len(host):]
            for mount, m in zip(mounts, host):
                if m.read_only is not None:
                    mount["readOnly"] = m.read_only
                if m.mount_propagation is not None:
                    mount["mountPropagation"] = m.mount_propagation
        if p.host_aliases:
            workload.host_aliases = [{"ip": a.ip, "hostnames": list(a.hostnames)} for a in p.host_aliases]
        exposed = [x for x in p.ports if x.expose]
        if exposed:
            workload.service = {"type": p.expose_type, "ports": [
                {"name": x.port_name, "port": x.port, "targetPort": x.port, "protocol": x.protocol} for x in exposed]}
        return workload

    def wrap(self, p: DaemonProperties, metadata: dict, template: dict, replicas: Optional[int]) -> dict:
        """A DaemonSet named after the component, selecting its pods as a Deployment does; no replica count."""
        labels = template["metadata"]["labels"]
        selector = {key: labels[key] for key in (NAME_LABEL, COMPONENT_LABEL)}
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata,
                "spec": {"selector": {"matchLabels": selector}, "template": template}}
