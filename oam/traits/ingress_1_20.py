"""ingress-1-20: an Ingress for one domain, with an ingress class (older form of gateway)."""
from __future__ import annotations

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.registry import TRAITS, TraitType
from oam.traits._ingress import check_paths, check_unweighed, ensure_service, ingress
from oam.traits.ingress import IngressProperties


class Ingress120Properties(IngressProperties):
    class_: str = Field("nginx", alias="class", description="Ingress class (an annotation)")


@TRAITS.register
class Ingress120(TraitType):
    """An Ingress for the domain with an ingress class annotation, paths to the component's ports."""

    name = "ingress-1-20"
    Properties = Ingress120Properties

    def check(self, trait, app, comp):
        return check_paths(trait.properties.http, trait, app) + check_unweighed(trait, app, comp)

    def service_ports(self, p: Ingress120Properties) -> list[int]:
        return sorted(set(p.http.values()))

    def apply(self, p: Ingress120Properties, ctx: ComponentContext) -> None:
        service = ensure_service(ctx, sorted(set(p.http.values())))
        ingress(ctx, "ingress", ctx.component, service, dict(p.http), p.domain, "ImplementationSpecific",
                {"kubernetes.io/ingress.class": p.class_}, {})
