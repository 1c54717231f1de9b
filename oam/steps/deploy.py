"""deploy: deploy the application to the targets its policies name, with their overrides."""
from __future__ import annotations

from pydantic import Field

from oam.errors import closest
from oam.kit.placements import placements
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import POLICIES, STEPS, StepType


class DeployProperties(OamModel):
    policies: list[str] = Field(default_factory=list, description="Names of the topology and override policies "
                                                                  "to deploy with; the application's namespace when none")
    parallelism: int = Field(5, ge=1, description="Accepted; Pulumi applies independent objects in parallel")
    auto: bool = Field(True, description="false: wait for an approval before deploying (like a suspend step)")
    ignore_terraform_component: bool = Field(True, description="Accepted; there are no Terraform components")


@STEPS.register
class Deploy(StepType):
    """Deploy the application to each target its topology policies name (its own namespace when none), changed
    by its override policies; the pods of later steps wait until these are Ready."""

    name = "deploy"
    Properties = DeployProperties
    places = True

    def check(self, step, app, _):
        names = [p.name for p in app.policies]
        problems = []
        for i, name in enumerate(step.properties.policies):
            policy = next((p for p in app.policies if p.name == name), None)
            if policy is None:
                problems.append(app.locator.problem(step.path + ("properties", "policies", i),
                                                    f"'{name}' is not a policy of {app.locator.file}",
                                                    closest(name, names)))
            elif POLICIES.get(policy.type) is not None and not (POLICIES.get(policy.type).places or
                                                                POLICIES.get(policy.type).transforms):
                problems.append(app.locator.problem(step.path + ("properties", "policies", i),
                                                    f"policy '{name}' ({policy.type}) applies to the whole "
                                                    "application, not to one deploy step",
                                                    "list only topology and override policies here"))
        return problems

    def waits(self, step) -> bool:
        return step.properties is not None and not step.properties.auto

    def deploys(self, p: DeployProperties, app) -> tuple[str, ...]:
        return tuple(c.name for c in app.components)

    def run(self, p: DeployProperties, run: Run, step) -> bool:
        if not p.auto and not run.gate(step, None):
            return False
        run.deploy(placements(run.app, tuple(p.policies), run.cfg.clusters))
        return True
