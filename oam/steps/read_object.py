"""read-object: read one object from the cluster, for the outputs of the step to pass on."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.kit import k8s_values as kv
from oam.kit.placements import TargetNamespace
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType
from oam.steps.apply_object import check_cluster


class ReadObjectProperties(OamModel):
    api_version: str = Field("core.oam.dev/v1beta1", description="apiVersion of the object")
    kind: str = Field("Application", description="Kind of the object")
    name: str = Field(description="Name of the object")
    namespace: Optional[TargetNamespace] = Field(None, description="Its namespace; the application's when absent")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")


@STEPS.register
class ReadObject(StepType):
    """Read an object as the cluster holds it when the stage is worked out; its outputs read it as output.value
    (or output.$returns.value). Read once a release: later stages take the values read then."""

    name = "read-object"
    Properties = ReadObjectProperties
    gives = ("output",)

    def check(self, step, app, _):
        p: ReadObjectProperties = step.properties
        problems = check_cluster(step, app, "read the object")
        why = kv.dns_subdomain(p.name, "name")
        if why:
            problem, _, hint = why.partition("; ")
            problems.append(app.locator.problem(step.path + ("properties", "name"), problem, hint))
        return problems

    def run(self, p: ReadObjectProperties, run: Run, step) -> bool:
        return True

    def mark(self, p: ReadObjectProperties, run: Run, step) -> str:
        """Read again by each release (and when the step reads another object)."""
        return f"{run.release.n}:{super().mark(p, run, step)}"

    def given(self, p: ReadObjectProperties, run: Run, step) -> Optional[dict]:
        if run.cluster is None:
            return None
        live = run.cluster.read({"apiVersion": p.api_version, "kind": p.kind,
                                 "metadata": {"name": p.name, "namespace": p.namespace or run.app.namespace}})
        return None if live is None else {"output": {"value": live, "$returns": {"value": live}}}
