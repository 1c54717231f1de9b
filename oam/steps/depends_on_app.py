"""depends-on-app: wait for another Application to be running (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class DependsOnApp(StepType):
    """Wait for another Application to be running (not supported)."""

    name = "depends-on-app"
    refused = ("it waits until another Application in the cluster is running (applying it from a ConfigMap when it "
               "is missing), and only KubeVela's controller keeps Applications and their status; this program has "
               "no controller, and another application is another Pulumi stack")
    alternative = ("remove the step and deploy the other application first: pulumi up in its stack, then in this "
                   "one (in CI, run the two stacks in that order); to use its outputs, read them from that stack "
                   "with a Pulumi stack reference or pulumi stack output; inside one file, order components with "
                   "dependsOn")
