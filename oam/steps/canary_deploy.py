"""canary-deploy: deploy the application with a share of the canaried components' pods on their new revision.

KubeVela's step (its kruise-rollout addon) hands the share to the OpenKruise Rollout
controller; here each stage's share is applied by pulumi up itself, with no controller: the
component's Deployment keeps the stable revision, the new revision runs the weight's share
of the pods in a Deployment of its own, and at 100% the component's Deployment takes it.
"""
from __future__ import annotations

import dataclasses
from typing import Literal, Optional

from pydantic import Field

from oam.kit.placements import placements
from oam.kit.run import Run
from oam.kit.spec import OamModel, all_steps, rollout_of, rolls_out, splits_traffic
from oam.registry import STEPS, TRAITS
from oam.steps.deploy import Deploy
from oam.traits.rolling_release import with_rolling_release


class CanaryDeployProperties(OamModel):
    weight: int = Field(ge=0, le=100, description="Percent of each component's pods on its new revision (rounded "
                                                  "up); with canary-traffic, also of its traffic")
    components: list[str] = Field(default_factory=list, description="The components rolled out; every webservice "
                                                                     "and worker when empty")
    policies: list[str] = Field(default_factory=list, description="Topology and override policies to deploy with, "
                                                                   "as in deploy; the application's namespace when none")
    traffic_routing_type: Optional[Literal["ingress", "gateway", "aliyun-alb"]] = Field(
        None, description="Accepted: traffic reaches the pods through the component's Service, so it follows the "
                          "pods' share (with canary-traffic, Istio weighs it exactly)")


def rolled(app, p: CanaryDeployProperties) -> list[str]:
    """The components this step rolls out: those it names, or every one whose pods run in a Deployment."""
    if p.components:
        return list(p.components)
    return [c.name for c in app.components if rolls_out(c)]


def _by_component(app) -> dict[str, list]:
    """component -> the canary-deploy steps that roll it out, in workflow order."""
    out: dict[str, list] = {}
    for step in all_steps(app.steps):
        if step.type == CanaryDeploy.name and step.properties is not None:
            for name in rolled(app, step.properties):
                out.setdefault(name, []).append(step)
    return out


@STEPS.register
class CanaryDeploy(Deploy):
    """Deploy the application with ``weight`` percent of each rolled-out component's pods on its new revision;
    the component's Deployment keeps the rest on the stable one, and takes the new revision at 100."""

    name = "canary-deploy"
    moves_release = True
    Properties = CanaryDeployProperties

    def shape(self, app, steps):
        names = {name: step.path for step in steps for name in rolled(app, step.properties)}
        comps = tuple(with_rolling_release(c, names[c.name]) if c.name in names and rolls_out(c) else c
                      for c in app.components)
        return dataclasses.replace(app, components=comps)

    def check(self, step, app, _):
        problems = list(super().check(step, app, _))
        p: CanaryDeployProperties = step.properties
        known = [c.name for c in app.components]
        for i, name in enumerate(p.components):
            comp = app.component(name)
            path = step.path + ("properties", "components", i)
            if comp is None:
                problems.append(app.locator.problem(path, f"'{name}' is not a component of {app.locator.file}",
                                                    "name one of: " + ", ".join(known)))
            elif not rolls_out(comp):
                problems.append(app.locator.problem(path, f"'{name}' is a {comp.type} component, which is not rolled "
                                                          "out revision by revision", "name webservice or worker "
                                                                                      "components"))
        steps = _by_component(app)  # a conflict is reported by the first step, the end of the release by the last
        for name in rolled(app, p):
            comp = app.component(name)
            rolling = rollout_of(comp) if comp is not None else None
            if rolling is not None and not rolling[0].in_place and steps[name][0] is step:
                trait = next(t for t in comp.traits if TRAITS.get(t.type) is rolling[0])
                problems.append(app.locator.problem(
                    trait.path + ("type",), f"'{name}' has a {trait.type} trait, which rolls it out revision by "
                                            f"revision, and canary-deploy step '{step.name}' rolls it out in place",
                    "keep one: remove the trait, or name the other components in canary-deploy's components"))
        if not rolled(app, p):
            problems.append(app.locator.problem(step.path + ("type",), "this canary step has no component to act on",
                                                "add a webservice or worker component"))
        # The release must end with every pod on the new revision: a workflow that stops at a
        # share leaves two revisions running with nothing to finish the release.
        for name in rolled(app, p):
            if steps[name][-1] is step and p.weight < 100:
                problems.append(app.locator.problem(
                    step.path + ("properties", "weight"),
                    f"the workflow ends its release of '{name}' at {p.weight}%, with two revisions running",
                    "add a canary-deploy step with weight 100 after it"))
        return problems

    def waits(self, step) -> bool:
        return False

    def run(self, p: CanaryDeployProperties, run: Run, step) -> bool:
        run.deploy(placements(run.app, tuple(p.policies), run.cfg.clusters))
        for name in rolled(run.app, p):
            run.move(name, p.weight)  # a rolling-release partition is a percentage
            base = run.baseline(name)
            if base is not None and splits_traffic(run.app.component(name)) and p.weight < 100:
                run.weigh(name, {base: 100 - p.weight, run.target(name): p.weight})
        return True

