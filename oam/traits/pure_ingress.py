"""pure-ingress: an Ingress for one domain to the component's Service, which another part of the component makes."""
from __future__ import annotations

import dataclasses
from typing import Annotated

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.kit.workload import trial_context
from oam.registry import TRAITS, TraitType
from oam.traits._ingress import check_paths, check_unweighed, ingress
from oam.traits._ports import service_ports


def _ingress_host(value: str) -> str:
    if value == "*":
        return "'*' alone is not an Ingress host; write a host name like shop.example.com, or '*.example.com'"
    return kv.istio_host(value)


class PureIngressProperties(OamModel):
    domain: Annotated[str, AfterValidator(kv.checked(_ingress_host))] = Field(description="Host name served")
    http: dict[str, int] = Field(min_length=1, description="Path -> port of the component's Service, like {/: 80}")


@TRAITS.register
class PureIngress(TraitType):
    """An Ingress (networking.k8s.io/v1) for the domain to the component's Service, making no Service itself."""

    name = "pure-ingress"
    Properties = PureIngressProperties

    def check(self, trait, app, comp):
        p: PureIngressProperties = trait.properties
        problems = check_paths(p.http, trait, app)
        if comp.properties is None or any(t.properties is None for t in comp.traits):
            return problems  # the Service's ports are not known; the part that is wrong is reported
        served = service_ports(comp)
        if not served:
            problems.append(app.locator.problem(
                trait.path + ("type",), f"component '{comp.name}' has no Service, and pure-ingress makes none",
                f"add an expose trait with the ports ({', '.join(map(str, sorted(set(p.http.values()))))}), "
                "or use gateway, which makes the Service"))
        else:
            problems += [app.locator.problem(trait.path + ("properties", "http", path),
                                             f"port {port} is not a port of component '{comp.name}''s Service "
                                             f"(its ports: {', '.join(map(str, sorted(served)))})",
                                             "route to a port of the Service, or add this one to its expose trait")
                         for path, port in p.http.items() if port not in served]
        problems += check_unweighed(trait, app, comp)
        # Another trait that makes an Ingress named after the component would make the same object.
        others = trial_context(app, dataclasses.replace(comp, traits=tuple(t for t in comp.traits if t is not trait)))
        for role, manifest in (others.objects.items() if others is not None else ()):
            if manifest.get("kind") == "Ingress" and manifest["metadata"]["name"] == comp.name:
                problems.append(app.locator.problem(
                    trait.path + ("type",), f"the {others.source.get(role) or 'component'} trait makes Ingress "
                                            f"'{comp.name}' too", "route every path from one of the two"))
        return problems

    def apply(self, p: PureIngressProperties, ctx: ComponentContext) -> None:
        ingress(ctx, "ingress", ctx.component, ctx.component, dict(p.http), p.domain, "ImplementationSpecific", {}, {})
