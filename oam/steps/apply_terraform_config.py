"""apply-terraform-config: apply a Terraform configuration through KubeVela's Terraform controller (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class ApplyTerraformConfig(StepType):
    """Apply a Terraform configuration (KubeVela's Terraform addon) (not supported)."""

    name = "apply-terraform-config"
    refused = ("it makes a Configuration (terraform.core.oam.dev) and waits until it is Available: only the "
               "Terraform controller of KubeVela's terraform addon acts on that, running Terraform in the cluster; "
               "this program installs no controller")
    alternative = ("make the cloud resources with Pulumi in a stack of their own (a Pulumi provider, or a bridged "
                   "Terraform provider) and pulumi up there first; pass what this application needs on through the "
                   "file or a stack reference")
