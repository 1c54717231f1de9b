"""apply-terraform-provider: store cloud credentials as a provider of KubeVela's Terraform addon (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class ApplyTerraformProvider(StepType):
    """Store cloud credentials as a provider of KubeVela's Terraform addon (not supported)."""

    name = "apply-terraform-provider"
    refused = ("it stores cloud credentials as a KubeVela config (made from the terraform-<type> config template) "
               "and waits until the Terraform controller's Provider (terraform.core.oam.dev) is ready: both need "
               "KubeVela and its terraform addon in the cluster, and this program installs no controller")
    alternative = ("configure the cloud provider in the Pulumi stack that makes the cloud resources (pulumi config "
                   "set, secrets with --secret)")
