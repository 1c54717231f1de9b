"""kruise-rollout: a rollout plan run by the OpenKruise Rollout controller (KubeVela's kruise-rollout addon; refused)."""
from __future__ import annotations

from oam.registry import TRAITS, TraitType


@TRAITS.register
class KruiseRollout(TraitType):
    """A rollout whose canary steps the OpenKruise controller runs (not supported)."""

    name = "kruise-rollout"
    refused = ("its canary steps are run by the OpenKruise Rollout controller inside the cluster, pausing and "
               "resuming on its own; here no controller runs, and each stage is previewed and applied by pulumi up")
    alternative = ("remove the trait and give the workflow a canary-deploy step per canary step (its weight), with "
                   "a suspend step where the plan pauses")
