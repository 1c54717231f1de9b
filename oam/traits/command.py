"""command: replace the command of a container of the component, and replace or edit its arguments."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form


class CommandChange(OamModel):
    command: Optional[list[str]] = Field(None, description="Command (entrypoint) that replaces the container's")
    args: Optional[list[str]] = Field(None, description="Arguments that replace the container's")
    add_args: Optional[list[str]] = Field(None, description="Arguments added after the container's (not with args)")
    del_args: Optional[list[str]] = Field(None, description="Arguments removed from the container's (not with args)")

    @model_validator(mode="after")
    def _replace_or_edit(self):
        if self.args is not None and (self.add_args is not None or self.del_args is not None):
            raise ValueError("give args (the new arguments) or addArgs and delArgs (changes to the container's), "
                             "not both")
        return self

    def changes_nothing(self) -> bool:
        return all(x is None for x in (self.command, self.args, self.add_args, self.del_args))

    def apply_to(self, c: dict) -> None:
        if self.command is not None:
            _set(c, "command", self.command)
        base = list(self.args) if self.args is not None else c.get("args", [])
        drop = set(self.del_args or ())
        # As KubeVela: an added argument the container already has is not added twice.
        _set(c, "args", [a for a in base if a not in drop] +
             [a for a in self.add_args or () if a not in drop and a not in base])


def _set(c: dict, key: str, items: list[str]) -> None:
    if items:
        c[key] = list(items)
    else:
        c.pop(key, None)  # an empty list is the image's own, as no list is


class ContainerCommand(CommandChange):
    container_name: str = Field(min_length=1, description="The container to change")


class CommandProperties(CommandChange):
    container_name: str = Field("", description="The container to change; the component's own when empty")
    containers: list[ContainerCommand] = Field(default_factory=list, description="Changes to several containers "
                                                                                 "(instead of the fields above)")

    @model_validator(mode="after")
    def _one_form(self):
        one_form(self, "containers")
        return self


@TRAITS.register
class Command(TraitType):
    """Replace the command of the component's container (or a sidecar's), and replace or edit its arguments."""

    name = "command"
    Properties = CommandProperties

    def check(self, trait, app, comp):
        changes = changed_containers(trait.properties, "containers")
        problems = missing_containers(trait, app, comp, [(path, name) for path, name, _ in changes if name])
        for path, _, change in changes:
            if change.changes_nothing():
                problems.append(app.locator.problem(trait.path + ("properties", *path[:-1]), "changes nothing",
                                                    "give command, args, addArgs or delArgs"))
        return problems

    def targets(self, p: CommandProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "containers")]

    def patch_pod(self, p: CommandProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, change in changed_containers(p, "containers"):
            c = container(template, name)
            if c is not None:  # else refused by check
                change.apply_to(c)
