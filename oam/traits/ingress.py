"""ingress: an Ingress for one domain that routes paths to the component's ports (older form of gateway)."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._ingress import check_paths, check_unweighed, ensure_service, ingress


class IngressProperties(OamModel):
    domain: Annotated[str, AfterValidator(kv.checked(kv.istio_host))] = Field(description="Host name served")
    http: dict[str, int] = Field(min_length=1, description="Path -> component port, like {/: 8080}")


@TRAITS.register
class Ingress(TraitType):
    """An Ingress for the domain, paths to the component's ports (networking.k8s.io/v1, the API clusters serve)."""

    name = "ingress"
    Properties = IngressProperties

    def check(self, trait, app, comp):
        return check_paths(trait.properties.http, trait, app) + check_unweighed(trait, app, comp)

    def service_ports(self, p: IngressProperties) -> list[int]:
        return sorted(set(p.http.values()))

    def apply(self, p: IngressProperties, ctx: ComponentContext) -> None:
        service = ensure_service(ctx, sorted(set(p.http.values())))
        ingress(ctx, "ingress", ctx.component, service, dict(p.http), p.domain, "ImplementationSpecific", {}, {})
