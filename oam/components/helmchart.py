"""helmchart: a Helm chart rendered by KubeVela's controller itself (refused)."""
from __future__ import annotations

from oam.registry import COMPONENTS, ComponentType


@COMPONENTS.register
class HelmChart(ComponentType):
    """A Helm chart fetched from a repository and rendered by KubeVela's controller (not supported)."""

    name = "helmchart"
    refused = ("its chart is fetched from a chart repository and rendered by KubeVela's controller in the cluster; "
               "this program runs no controller and renders every object itself, from the file alone")
    alternative = ("use the helm component (url, chart, version, values): the Kubernetes provider fetches and "
                   "renders the chart at each pulumi up")
