"""ref-objects: objects copied from the cluster or from URLs (refused)."""
from __future__ import annotations

from oam.registry import COMPONENTS, ComponentType


@COMPONENTS.register
class RefObjects(ComponentType):
    """Objects the cluster holds, or files at URLs, deployed as the component (not supported)."""

    name = "ref-objects"
    refused = ("KubeVela's controller reads the objects it names from the cluster (or fetches them from URLs) each "
               "time it runs; this program renders every object from the file alone, so that a preview shows "
               "exactly what an update applies")
    alternative = "write the objects out in full in a k8s-objects component"
