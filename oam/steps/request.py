"""request: an HTTP request whose response later steps read (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class Request(StepType):
    """Send an HTTP request and hand its response to later steps (not supported)."""

    name = "request"
    refused = ("it sends an HTTP request to a URL outside the cluster and waits for the response, which later "
               "steps read through step outputs and inputs; here every preview and every pulumi up runs the steps "
               "again, so the request would go out on each of them, and steps pass nothing to each other")
    alternative = ("make the request in your CI before pulumi up, and write what the application needs from the "
                   "answer into the file (or let CI pick the file)")
