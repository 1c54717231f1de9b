"""notification: a message to Slack, DingTalk, Lark or email while the workflow runs (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class Notification(StepType):
    """Send a message to an outside service (not supported)."""

    name = "notification"
    refused = ("it sends messages to services outside the cluster (webhooks, mail servers) while the workflow "
               "runs, and a preview must change nothing outside the stack; pulumi up has no outside side effects here")
    alternative = ("remove the step; notify from your CI around pulumi up (pulumi stack output status says where "
                   "the release stands)")
