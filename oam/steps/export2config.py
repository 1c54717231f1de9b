"""export2config: write the given data to a ConfigMap, once the workflow reaches the step."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.kit.placements import TargetNamespace
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType
from oam.steps._data import ObjectName, check_data
from oam.steps.apply_object import check_cluster


class Export2ConfigProperties(OamModel):
    config_name: ObjectName = Field(description="Name of the ConfigMap")
    namespace: Optional[TargetNamespace] = Field(None, description="Its namespace; the application's when absent")
    data: dict[str, str] = Field(default_factory=dict, description="The ConfigMap's data: keys to text")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")


@STEPS.register
class Export2Config(StepType):
    """Write data to a ConfigMap; it exists from the stage that reaches this step on."""

    name = "export2config"
    Properties = Export2ConfigProperties
    takes_inputs = True

    def check(self, step, app, _):
        return check_data(step.properties.data, step.path + ("properties", "data"), app, "ConfigMap") + \
            check_cluster(step, app, "write the ConfigMap")

    def run(self, p: Export2ConfigProperties, run: Run, step) -> bool:
        metadata = {"name": p.config_name, **({"namespace": p.namespace} if p.namespace else {})}
        run.apply(step, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(p.data)},
                  step.path + ("properties",))
        return True
