"""task: a container that runs to completion (a Job), count times."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.context import Workload
from oam.kit.k8s_values import MAX_INT32
from oam.kit.pod import ContainerProperties, check_container, container_workload
from oam.registry import COMPONENTS, ComponentType


class TaskProperties(ContainerProperties):
    count: int = Field(1, ge=1, le=MAX_INT32, description="Pods that must complete (run in parallel)")
    restart: Literal["Never", "OnFailure"] = Field("Never", description="Restart a failed container in its pod")


def job_spec(p, template: dict) -> dict:
    """The spec of a Job that runs ``template`` count times, in parallel."""
    template = {**template, "spec": {**template["spec"], "restartPolicy": p.restart}}
    return {"parallelism": p.count, "completions": p.count, "template": template}


@COMPONENTS.register
class Task(ComponentType):
    """A Job named <application>-<component>: its pods run to completion; pulumi up waits for it."""

    name = "task"
    Properties = TaskProperties
    token = "oam:component:Task"
    rolls_out = False
    offers = frozenset({"pods"})
    runs = "a Job"

    def check(self, comp, app, _):
        return check_container(comp.properties, app.locator, comp.path + ("properties",))

    def workload(self, name: str, p: TaskProperties) -> Workload:
        return container_workload(name, p, [])

    def wrap(self, p: TaskProperties, metadata: dict, template: dict, replicas: int) -> Optional[dict]:
        app = metadata["labels"]["app.oam.dev/name"]
        meta = {**metadata, "name": f"{app}-{metadata['name']}"}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec(p, template)}
