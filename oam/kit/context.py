"""What definitions read and write while one component is rendered: plain data, no Pulumi."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

NAME_LABEL = "app.oam.dev/name"
COMPONENT_LABEL = "app.oam.dev/component"
REVISION_LABEL = "app.oam.dev/revision"
# Which stack made an object (History.owner): another stack's objects are refused, never taken over by accident.
STACK_LABEL = "delivery.oam.dev/stack"


@dataclass
class Workload:
    """The pod a component type asks for, before traits and revisions are applied."""

    container: dict[str, Any]
    volumes: list[dict[str, Any]] = field(default_factory=list)
    image_pull_secrets: list[dict[str, str]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # The component's own Service, when its properties expose ports: {"type": ..., "ports": [...]}.
    service: Optional[dict[str, Any]] = None
    objects: list[dict[str, Any]] = field(default_factory=list)  # objects of its own (a component with no pods)
    object_after: dict[int, list[int]] = field(default_factory=dict)  # object -> objects it is applied after
    object_paths: list[tuple] = field(default_factory=list)  # where each object is written, under the properties
    host_aliases: list[dict[str, Any]] = field(default_factory=list)  # extra /etc/hosts entries of the pod
    main: Optional[int] = None  # the object that is the workload, when the type makes it itself (a trait patches it)
    object_names: list[str] = field(default_factory=list)  # each object's name among a CUE template's outputs, or ""

    @property
    def runs_pods(self) -> bool:
        return bool(self.container)

    @property
    def image(self) -> str:
        return self.container.get("image", "")


@dataclass
class ComponentContext:
    """One component under construction: traits patch it or add objects to it."""

    app: str
    namespace: str
    component: str
    ports: list[int]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    removed_labels: set[str] = field(default_factory=set)  # keys a trait deletes from the workload and its pods
    removed_annotations: set[str] = field(default_factory=set)
    replicas: Optional[int] = None
    autoscaled: bool = False  # an autoscaler sets the replicas: the Deployment does not
    service: Optional[dict[str, Any]] = None
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> manifest
    after: dict[str, list[str]] = field(default_factory=dict)  # role -> roles of objects it is applied after
    routes: set[str] = field(default_factory=set)  # roles of objects that send traffic to the component's pods
    before_pods: set[str] = field(default_factory=set)  # roles of objects the pods need (a claim they mount)
    http_ports: set[int] = field(default_factory=set)  # Service ports that carry HTTP routes: declared as HTTP
    source: dict[str, str] = field(default_factory=dict)  # role -> the trait that made the object ("service" too)
    paths: dict[str, tuple] = field(default_factory=dict)  # role -> where an object written in full is in the file
    key_prefix: str = ""  # what the Pulumi names of the component's objects start with
    main: str = ""  # the role of the object that is the workload, when its type makes it itself (Workload.main)
    named: dict[str, str] = field(default_factory=dict)  # a CUE template's outputs name -> the role of that object
    revision: str = ""  # the name of the revision the file makes, when known
    current: str = ""  # the trait being applied

    def add(self, role: str, manifest: dict[str, Any], after: tuple[str, ...] = (), route: bool = False,
            before_pods: bool = False) -> None:
        """An object of the component; ``after``: roles of its objects that must exist first; a ``route``
        sends traffic to the component's pods and so waits for them; the Deployments wait for an object
        ``before_pods`` (render orders both)."""
        self.objects[role] = manifest
        self.source[role] = self.current
        if after:
            self.after[role] = list(after)
        if route:
            self.routes.add(role)
        if before_pods:
            self.before_pods.add(role)

    def selector(self) -> dict[str, str]:
        return {NAME_LABEL: self.app, COMPONENT_LABEL: self.component}

    def metadata(self, name: str, labels: Optional[dict] = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace,
                                "labels": {**self.selector(), **self.labels, **(labels or {})}}
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        return meta

    def service_manifest(self, ports: list[dict[str, Any]], type_: str = "ClusterIP") -> dict[str, Any]:
        """The component's Service, named after it and selecting all of its pods."""
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(self.component),
            "spec": {"type": type_, "selector": self.selector(), "ports": ports},
        }

    @property
    def host(self) -> str:
        """The in-mesh host name of the component's Service."""
        return f"{self.component}.{self.namespace}.svc.cluster.local"
