"""hostalias: entries of the pods' /etc/hosts."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType

HostName = Annotated[str, AfterValidator(kv.checked(kv.dns_subdomain, "host name"))]


class HostAlias(OamModel):
    ip: Annotated[str, AfterValidator(kv.checked(kv.ip_address))] = Field(description="The address")
    hostnames: list[HostName] = Field(min_length=1, description="Names that resolve to it")


class HostaliasProperties(OamModel):
    host_aliases: list[HostAlias] = Field(min_length=1, description="Entries of /etc/hosts")


@TRAITS.register
class Hostalias(TraitType):
    """Add entries to the /etc/hosts of the component's pods: names that resolve to given addresses."""

    name = "hostalias"
    Properties = HostaliasProperties

    def check(self, trait, app, comp):
        ips = [a.ip for a in trait.properties.host_aliases]
        return [app.locator.problem(trait.path + ("properties", "hostAliases", i, "ip"), f"'{ip}' is listed twice",
                                    "list its hostnames under one entry")
                for i, ip in enumerate(ips) if ip in ips[:i]]

    def patch_pod(self, p: HostaliasProperties, template: dict, ctx: ComponentContext) -> None:
        template["spec"]["hostAliases"] = [{"ip": a.ip, "hostnames": list(a.hostnames)} for a in p.host_aliases]
