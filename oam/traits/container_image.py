"""container-image: replace the image of a container of the component."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.pod import Image
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form

PullPolicy = Literal["", "IfNotPresent", "Always", "Never"]


class ImageChange(OamModel):
    container_name: str = Field(min_length=1, description="The container to change")
    image: Image = Field(description="The image it runs")
    image_pull_policy: PullPolicy = Field("", description="When to pull; the container's own when empty")


class ContainerImageProperties(OamModel):
    container_name: str = Field("", description="The container to change; the component's own when empty")
    image: Optional[Image] = Field(None, description="The image it runs (required without containers)")
    image_pull_policy: PullPolicy = Field("", description="When to pull; the container's own when empty")
    containers: list[ImageChange] = Field(default_factory=list, description="Images of several containers "
                                                                               "(instead of the fields above)")

    @model_validator(mode="after")
    def _one_form(self):
        one_form(self, "containers")
        if not self.containers and self.image is None:
            raise ValueError("give image (or containers, each with its containerName and image)")
        return self


@TRAITS.register
class ContainerImage(TraitType):
    """Replace the image (and pull policy) of the component's container, or of a sidecar's."""

    name = "container-image"
    Properties = ContainerImageProperties

    def check(self, trait, app, comp):
        named = [(path, name) for path, name, _ in changed_containers(trait.properties, "containers") if name]
        return missing_containers(trait, app, comp, named)

    def targets(self, p: ContainerImageProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "containers")]

    def patch_pod(self, p: ContainerImageProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, change in changed_containers(p, "containers"):
            c = container(template, name)
            if c is None:
                continue  # refused by check
            c["image"] = change.image
            if change.image_pull_policy:
                c["imagePullPolicy"] = change.image_pull_policy
