"""kustomize: manifests fetched from a Git repository, bucket or OCI repository and built by Flux (refused)."""
from __future__ import annotations

from oam.registry import COMPONENTS, ComponentType


@COMPONENTS.register
class Kustomize(ComponentType):
    """Kustomize manifests fetched and applied by the Flux controller (not supported)."""

    name = "kustomize"
    refused = ("its manifests are fetched from a Git repository, bucket or OCI repository and built and applied by "
               "the Flux controller in the cluster, again at every pull interval; this program runs no controller "
               "and renders every object itself, from the file alone")
    alternative = ("build the manifests (kustomize build) and deploy them as k8s-objects components, or use "
                   "Pulumi's own kubernetes.kustomize.v2.Directory in a stack of its own")
