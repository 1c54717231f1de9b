"""read-only: objects the application reads but never writes (refused)."""
from __future__ import annotations

from oam.registry import POLICIES, PolicyType


@POLICIES.register
class ReadOnly(PolicyType):
    """Objects that exist already and the application must not change (not supported)."""

    name = "read-only"
    refused = ("the objects it selects are ones a controller reads from the cluster (with ref-objects) and never "
               "writes; this program applies every object it renders, from the file alone")
    alternative = "leave those objects out of the application; it may still name them (a Service, a Secret) by name"
