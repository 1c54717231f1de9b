"""init-container: a container that runs to completion before the component's, sharing a scratch volume with it."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.kit.pod import AbsolutePath, ContainerName, EnvVar, Image, VolumeName, env_entry
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import component_containers, component_volumes, container, merge_by_name


class ExtraMount(OamModel):
    name: VolumeName = Field(description="A volume of the pod (from the component or a volumes or storage trait)")
    mount_path: AbsolutePath = Field(description="Where the init container mounts it")


class InitContainerProperties(OamModel):
    name: ContainerName = Field(description="Init container name")
    image: Image = Field(description="Init container image")
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field("IfNotPresent", description="When to pull")
    cmd: Optional[list[str]] = Field(None, description="Command (entrypoint) of the init container")
    args: Optional[list[str]] = Field(None, description="Arguments of the command")
    env: Optional[list[EnvVar]] = Field(None, description="Environment variables")
    mount_name: VolumeName = Field("workdir", description="Name of the scratch volume both containers mount")
    app_mount_path: AbsolutePath = Field(description="Where the component's container mounts it")
    init_mount_path: AbsolutePath = Field(description="Where the init container mounts it")
    extra_volume_mounts: list[ExtraMount] = Field(default_factory=list, description="Other volumes of the pod "
                                                                                    "the init container mounts")


@TRAITS.register
class InitContainer(TraitType):
    """Run a container to completion before the component's starts; both mount one scratch (emptyDir) volume."""

    name = "init-container"
    Properties = InitContainerProperties

    def check(self, trait, app, comp):
        p: InitContainerProperties = trait.properties
        at = trait.path + ("properties",)
        problems = []
        # Kubernetes wants every container name of a pod, init containers' too, unique.
        if p.name in component_containers(comp):
            problems.append(app.locator.problem(at + ("name",), f"the pods of '{comp.name}' already have a "
                                                               f"container '{p.name}'",
                                                "give the init container a name of its own"))
        known = component_volumes(comp)
        if known is not None and known.count(p.mount_name) > 1:
            problems.append(app.locator.problem(at + ("mountName",), f"the pods of '{comp.name}' already have a "
                                                                     f"volume '{p.mount_name}'",
                                                "give the shared scratch volume a name of its own"))
        paths = {p.init_mount_path: p.mount_name}
        for i, m in enumerate(p.extra_volume_mounts):
            where = at + ("extraVolumeMounts", i)
            if known is not None and m.name not in known:
                problems.append(app.locator.problem(where + ("name",), f"the pods of '{comp.name}' have no volume "
                                                                       f"'{m.name}' (theirs: {', '.join(known)})",
                                                    "mount a volume the component or a volumes or storage "
                                                    "trait defines"))
            if m.mount_path in paths:
                problems.append(app.locator.problem(where + ("mountPath",), f"'{m.mount_path[:60]}' is already where "
                                                                            f"'{paths[m.mount_path]}' is mounted",
                                                    "mount one volume per path"))
            paths.setdefault(m.mount_path, m.name)
        return problems

    def volume_names(self, p: InitContainerProperties) -> list[str]:
        return [p.mount_name]

    def targets(self, p: InitContainerProperties) -> list[Optional[str]]:
        return [p.name]

    def patch_pod(self, p: InitContainerProperties, template: dict, ctx: ComponentContext) -> None:
        spec = template["spec"]
        init: dict = {"name": p.name, "image": p.image, "imagePullPolicy": p.image_pull_policy}
        if p.cmd is not None:
            init["command"] = list(p.cmd)
        if p.args is not None:
            init["args"] = list(p.args)
        if p.env is not None:
            init["env"] = [env_entry(e) for e in p.env]
        init["volumeMounts"] = [{"name": p.mount_name, "mountPath": p.init_mount_path},
                                *({"name": m.name, "mountPath": m.mount_path} for m in p.extra_volume_mounts)]
        spec["initContainers"] = merge_by_name(spec.get("initContainers", []), [init])
        own = container(template)
        own["volumeMounts"] = merge_by_name(own.get("volumeMounts", []),
                                            [{"name": p.mount_name, "mountPath": p.app_mount_path}])
        spec["volumes"] = merge_by_name(spec.get("volumes", []), [{"name": p.mount_name, "emptyDir": {}}])
