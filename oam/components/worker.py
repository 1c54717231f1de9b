"""worker: a long-running background process with no network endpoint (a Deployment)."""
from __future__ import annotations

from oam.components._pod import ContainerProperties, check_container, container_workload
from oam.context import Workload
from oam.registry import COMPONENTS


class WorkerProperties(ContainerProperties):
    """KubeVela's worker parameters: a webservice without ports."""


def check(comp, app, _):
    return check_container(comp.properties, app.locator, comp.path + ("properties",))


@COMPONENTS.define("worker", WorkerProperties, check=check)
def worker(name: str, p: WorkerProperties) -> Workload:
    """A Deployment running one container with no ports."""
    return container_workload(name, p, [])
