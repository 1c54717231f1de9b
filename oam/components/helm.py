"""helm: a Helm chart from a chart repository, installed by the Flux controller (refused)."""
from __future__ import annotations

from oam.registry import COMPONENTS, ComponentType


@COMPONENTS.register
class Helm(ComponentType):
    """A Helm chart fetched from a repository (not supported)."""

    name = "helm"
    refused = ("its chart is fetched from a chart repository and installed by the Flux controller in the cluster; "
               "this program runs no controller and renders every object itself, from the file alone")
    alternative = ("render the chart to manifests (helm template) and deploy them as k8s-objects components, or "
                   "use Pulumi's own kubernetes.helm.v4.Chart in a stack of its own")
