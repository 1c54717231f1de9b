"""canary-deploy: a canary by the OpenKruise Rollout controller (KubeVela's kruise-rollout addon; refused)."""
from __future__ import annotations

from typing import Any

from pydantic import RootModel

from oam.registry import STEPS, StepType


@STEPS.register
class CanaryDeploy(StepType):
    """A canary done in place by the OpenKruise controller (not supported)."""

    name = "canary-deploy"
    Properties = RootModel[dict[str, Any]]
    refused = ("it hands the canary to the OpenKruise Rollout controller, which changes the Deployment in place "
               "from inside the cluster; here no controller runs and every stage is previewed and applied by "
               "pulumi up")
    alternative = ("give the component a rollout trait (targetSize, rolloutBatches), canary-traffic for weights, "
                   "and canary-rollout steps with the same weights")
