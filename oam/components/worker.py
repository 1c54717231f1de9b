"""worker: a long-running background process with no network endpoint (a Deployment)."""
from __future__ import annotations

from oam.kit.context import Workload
from oam.kit.pod import ContainerProperties, check_container, container_workload
from oam.registry import COMPONENTS, ComponentType


class WorkerProperties(ContainerProperties):
    """KubeVela's worker parameters: a webservice without ports."""


@COMPONENTS.register
class Worker(ComponentType):
    """A Deployment running one container with no ports."""

    name = "worker"
    Properties = WorkerProperties
    token = "oam:component:Worker"

    def check(self, comp, app, _):
        return check_container(comp.properties, app.locator, comp.path + ("properties",))

    def workload(self, name: str, p: WorkerProperties) -> Workload:
        return container_workload(name, p, [])
