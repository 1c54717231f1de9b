"""replication: components deployed once per key, with deploy steps (refused)."""
from __future__ import annotations

from oam.registry import POLICIES, PolicyType


@POLICIES.register
class Replication(PolicyType):
    """Components replicated once per key (not supported)."""

    name = "replication"
    refused = ("its copies are named from context.replicaKey, which KubeVela's templates read while its controller "
               "renders them; here the definitions are built in and take no such key")
    alternative = "write one component per copy, each with its own name"
