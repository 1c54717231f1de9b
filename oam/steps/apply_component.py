"""apply-component: deploy one component (to the application's namespace, or another)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.errors import closest
from oam.kit.placements import LOCAL, Placement, TargetNamespace, other_cluster
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, STEPS, StepType


class ApplyComponentProperties(OamModel):
    component: str = Field(description="The component to deploy")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")
    namespace: Optional[TargetNamespace] = Field(
        None, description="Target namespace, of every object of the component (those that name another too, as "
                          "in KubeVela); the application's when absent")


@STEPS.register
class ApplyComponent(StepType):
    """Deploy one component; the components of the steps run so far are what the stage deploys, and the pods of
    later steps wait until its pods are Ready."""

    name = "apply-component"
    Properties = ApplyComponentProperties
    places = True
    gives = ("output",)
    reads_applied = True

    def check(self, step, app, _):
        p: ApplyComponentProperties = step.properties
        problems = []
        names = [c.name for c in app.components]
        if p.component not in names:
            problems.append(app.locator.problem(step.path + ("properties", "component"),
                                                f"'{p.component}' is not a component of {app.locator.file}",
                                                closest(p.component, names)))
        if p.cluster not in ("", LOCAL):
            problems.append(other_cluster(app, step.path + ("properties", "cluster"), f"cluster '{p.cluster}'",
                                          "leave cluster out, and send the component there with a topology policy and a deploy step"))
        return problems

    def deploys(self, p: ApplyComponentProperties, app) -> tuple[str, ...]:
        return (p.component,)

    def run(self, p: ApplyComponentProperties, run: Run, step) -> bool:
        run.deploy([Placement(p.namespace or run.app.namespace, (), (p.component,), bool(p.namespace))])
        return True

    def check_outputs(self, step, app) -> list:
        p: ApplyComponentProperties = step.properties
        comp = app.component(p.component)
        if comp is None or not any("output" in o.expression.roots for o in step.outputs):
            return []
        kind = WORKLOADS.get(COMPONENTS.get(comp.type).runs)
        why = (f"'{comp.name}' is a {comp.type} component, which runs {COMPONENTS.get(comp.type).runs}: it has no "
               "one workload object to read" if kind is None else
               f"'{comp.name}' is rolled out: its revisions run side by side" if comp in app.canaried else "")
        return [app.locator.problem(o.path + ("valueFrom",), f"output reads the component's workload, and {why}",
                                    "read the object with a read-object step instead")
                for o in step.outputs if why and "output" in o.expression.roots]

    def mark(self, p: ApplyComponentProperties, run: Run, step) -> str:
        """The component's revision, where: a new one is read once the update that applies it has completed."""
        revision = run.current.get(p.component)
        return f"{revision.name if revision is not None else p.component}@{p.namespace or run.app.namespace}"

    def given(self, p: ApplyComponentProperties, run: Run, step):
        """``output``: the component's workload as the cluster holds it (status included)."""
        comp = run.app.component(p.component)
        api_version, kind = WORKLOADS[COMPONENTS.get(comp.type).runs]
        if run.cluster is None:
            return None
        live = run.cluster.read({"apiVersion": api_version, "kind": kind,
                                 "metadata": {"name": comp.name, "namespace": p.namespace or run.app.namespace}})
        return None if live is None else {"output": live}


# What a component type runs in (ComponentType.runs) -> (apiVersion, kind) of the object an output reads.
WORKLOADS = {"a Deployment": ("apps/v1", "Deployment"), "a StatefulSet": ("apps/v1", "StatefulSet"),
             "a DaemonSet": ("apps/v1", "DaemonSet"), "a Job": ("batch/v1", "Job"),
             "a CronJob": ("batch/v1", "CronJob")}
