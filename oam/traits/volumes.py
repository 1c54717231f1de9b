"""volumes: the sources of the pod's volumes (the older form; the component's volumes mount them)."""
from __future__ import annotations

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.kit.pod import Volume, volume_source
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import merge_by_name


class VolumeSource(Volume):
    mount_path: str = Field("", description="Not used: the component's volumes give the mount paths")


class VolumesProperties(OamModel):
    volumes: list[VolumeSource] = Field(min_length=1, description="Volumes of the pod, by name")


@TRAITS.register
class Volumes(TraitType):
    """Give the pod's volumes their sources: a volume the component names gets this source instead of its own."""

    name = "volumes"
    Properties = VolumesProperties

    def check(self, trait, app, comp):
        names = [v.name for v in trait.properties.volumes]
        return [app.locator.problem(trait.path + ("properties", "volumes", i, "name"),
                                    f"volume '{n}' is listed twice", "list each volume once")
                for i, n in enumerate(names) if n in names[:i]]

    def volume_names(self, p: VolumesProperties) -> list[str]:
        return [v.name for v in p.volumes]

    def patch_pod(self, p: VolumesProperties, template: dict, ctx: ComponentContext) -> None:
        # One source per volume: a volume the component declared (an emptyDir by default) takes
        # this one instead; two sources in one volume are refused by Kubernetes.
        spec = template["spec"]
        spec["volumes"] = merge_by_name(spec.get("volumes", []), [volume_source(v) for v in p.volumes])
