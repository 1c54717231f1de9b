"""build-push-image: build an image from a git repository with kaniko and push it (refused)."""
from __future__ import annotations

from oam.registry import STEPS, StepType


@STEPS.register
class BuildPushImage(StepType):
    """Build an image with kaniko and push it to a registry (not supported)."""

    name = "build-push-image"
    refused = ("it builds an image from a git repository in a kaniko pod and pushes it to a registry: a one-off "
               "build, not state Pulumi can keep (every pulumi up would build again), and the components that use "
               "the image are already written in the file before the build has run")
    alternative = ("build and push the image in your CI, then set the new tag as the component's image and pulumi "
                   "up")
