"""vela-cli: run a vela command in a Job (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class VelaCli(StepType):
    """Run a vela command in a Job (not supported)."""

    name = "vela-cli"
    refused = ("it runs a one-off vela command in a Job made anew for each workflow run, by default as KubeVela's "
               "own service account in vela-system: it needs KubeVela installed, and a one-off command is no state "
               "Pulumi can keep (every pulumi up would run it again)")
    alternative = ("run the command in your CI around pulumi up; a Job that belongs to the application is a task "
                   "component")
