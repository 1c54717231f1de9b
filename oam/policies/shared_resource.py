"""shared-resource: objects several Applications make, written by the first only (refused)."""
from __future__ import annotations

from oam.registry import POLICIES, PolicyType


@POLICIES.register
class SharedResource(PolicyType):
    """Objects shared between Applications (not supported)."""

    name = "shared-resource"
    refused = ("which Application wrote a shared object first, and which others only read it, is kept by KubeVela's "
               "controller in the object's annotations; here each stack applies and owns what it renders, so two "
               "stacks would both write it and the first destroy would delete it")
    alternative = ("make the shared objects in one application (one stack) only, and leave them out of the others, "
                   "which may name them")
