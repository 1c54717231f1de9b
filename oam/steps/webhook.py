"""webhook: a POST of the Application (or given data) to a URL while the workflow runs (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class Webhook(StepType):
    """Post the Application or some data to a webhook URL (not supported)."""

    name = "webhook"
    refused = ("it sends a POST request to a URL outside the cluster while the workflow runs, and here every "
               "preview and every pulumi up runs the steps up to the stage again: the request would go out on each "
               "of them, and a preview must change nothing outside the stack")
    alternative = ("remove the step; call the webhook from your CI after pulumi up (pulumi stack output status "
                   "says where the release stands)")
