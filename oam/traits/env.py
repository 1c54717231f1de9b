"""env: set, replace or remove environment variables of a container of the component."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.pod import EnvName
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form


class ContainerEnv(OamModel):
    container_name: str = Field(description="The container to change")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Variables to set: name -> value")
    replace: bool = Field(False, description="The container's variables become exactly env")
    unset: list[str] = Field(default_factory=list, description="Variables to remove")


class EnvProperties(OamModel):
    env: dict[EnvName, str] = Field(default_factory=dict, description="Variables to set: name -> value")
    container_name: str = Field("", description="The container to change; the component's own when empty")
    replace: bool = Field(False, description="The container's variables become exactly env")
    unset: list[str] = Field(default_factory=list, description="Variables to remove")
    containers: list[ContainerEnv] = Field(default_factory=list, description="Changes to several containers "
                                                                             "(instead of the fields above)")

    @model_validator(mode="after")
    def _one_form(self):
        one_form(self, "containers")
        return self


@TRAITS.register
class Env(TraitType):
    """Set, replace or remove environment variables of the component's container (or a sidecar's)."""

    name = "env"
    Properties = EnvProperties

    def check(self, trait, app, comp):
        named = [(path, name) for path, name, _ in changed_containers(trait.properties, "containers") if name]
        return missing_containers(trait, app, comp, named)

    def targets(self, p: EnvProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "containers")]

    def patch_pod(self, p: EnvProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, change in changed_containers(p, "containers"):
            c = container(template, name)
            if c is None:
                continue  # refused by check
            if change.replace:
                env = [{"name": k, "value": v} for k, v in change.env.items()]
            else:
                env = [e for e in c.get("env", [])]
                for k, v in change.env.items():
                    at = next((i for i, e in enumerate(env) if e["name"] == k), None)
                    if at is None:
                        env.append({"name": k, "value": v})
                    else:
                        env[at] = {"name": k, "value": v}  # a set value replaces a valueFrom too
            env = [e for e in env if e["name"] not in change.unset]
            if env:
                c["env"] = env
            else:
                c.pop("env", None)
