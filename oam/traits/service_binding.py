"""service-binding: environment variables of the component's container read from Secret keys."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.pod import EnvName
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import container, merge_by_name


class KeySecret(OamModel):
    secret: Annotated[str, AfterValidator(kv.checked(kv.dns_subdomain, "Secret name"))] = Field(
        description="The Secret")
    key: Optional[Annotated[str, AfterValidator(kv.checked(kv.config_key))]] = Field(
        None, description="Its key; the variable's name when absent")


class ServiceBindingProperties(OamModel):
    env_mappings: dict[EnvName, KeySecret] = Field(min_length=1, description="Variable name -> the Secret key "
                                                                             "it reads")


@TRAITS.register
class ServiceBinding(TraitType):
    """Set variables of the component's container from Secret keys (KubeVela deprecates it for storage)."""

    name = "service-binding"
    Properties = ServiceBindingProperties

    def check(self, trait, app, comp):
        # Without key, the variable's name is the key: it must be one a Secret can have.
        return [app.locator.problem(trait.path + ("properties", "envMappings", name),
                                    f"'{name[:60]}' is not a Secret key, and without key it is the key read",
                                    "give key: the Secret's key to read")
                for name, ref in trait.properties.env_mappings.items() if ref.key is None and kv.config_key(name)]

    def patch_pod(self, p: ServiceBindingProperties, template: dict, ctx: ComponentContext) -> None:
        c = container(template)
        env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key or name}}}
               for name, ref in p.env_mappings.items()]
        c["env"] = merge_by_name(c.get("env", []), env)
