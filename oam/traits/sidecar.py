"""sidecar: a second container in every pod of the component, next to its own."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.pod import ContainerName, EnvVar, Image, Probe, env_entry, probe
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import component_volumes, merge_by_name


class SidecarVolume(OamModel):
    name: str = Field(description="A volume of the pod (from the component or a volumes or storage trait)")
    path: Annotated[str, AfterValidator(kv.checked(kv.absolute_path))] = Field(description="Where it is mounted")


class SidecarProperties(OamModel):
    name: ContainerName = Field(description="Container name")
    image: Image = Field(description="Container image")
    image_pull_policy: Optional[Literal["Always", "Never", "IfNotPresent"]] = Field(None, description="When to pull")
    cmd: list[str] = Field(default_factory=list, description="Command (entrypoint) of the container")
    args: list[str] = Field(default_factory=list, description="Arguments of the command")
    env: list[EnvVar] = Field(default_factory=list, description="Environment variables")
    volumes: list[SidecarVolume] = Field(default_factory=list, description="Volumes of the pod it mounts")
    liveness_probe: Optional[Probe] = Field(None, description="Restart the container when this fails")
    readiness_probe: Optional[Probe] = Field(None, description="The pod gets no traffic until this succeeds")


@TRAITS.register
class Sidecar(TraitType):
    """Run one more container in every pod of the component (a log shipper, a proxy)."""

    name = "sidecar"
    Properties = SidecarProperties

    def check(self, trait, app, comp):
        p: SidecarProperties = trait.properties
        problems = []
        if p.name == comp.name:
            problems.append(app.locator.problem(trait.path + ("properties", "name"),
                                                f"'{p.name}' is the name of the component's own container",
                                                "give the sidecar a name of its own"))
        known = component_volumes(comp)
        for i, v in enumerate(p.volumes):
            if known is not None and v.name not in known:
                problems.append(app.locator.problem(
                    trait.path + ("properties", "volumes", i, "name"),
                    f"the pods of '{comp.name}' have no volume '{v.name}' (theirs: {', '.join(known) or 'none'})",
                    "mount a volume the component (volumes, volumeMounts) or a volumes or storage trait defines"))
        return problems

    def container_names(self, p: SidecarProperties) -> list[str]:
        return [p.name]

    def targets(self, p: SidecarProperties) -> list[Optional[str]]:
        return [p.name]

    def patch_pod(self, p: SidecarProperties, template: dict, ctx: ComponentContext) -> None:
        c: dict = {"name": p.name, "image": p.image}
        if p.image_pull_policy:
            c["imagePullPolicy"] = p.image_pull_policy
        if p.cmd:
            c["command"] = list(p.cmd)
        if p.args:
            c["args"] = list(p.args)
        if p.env:
            c["env"] = [env_entry(e) for e in p.env]
        if p.volumes:
            c["volumeMounts"] = [{"name": v.name, "mountPath": v.path} for v in p.volumes]
        if p.liveness_probe:
            c["livenessProbe"] = probe(p.liveness_probe)
        if p.readiness_probe:
            c["readinessProbe"] = probe(p.readiness_probe)
        template["spec"]["containers"] = merge_by_name(template["spec"]["containers"], [c])
