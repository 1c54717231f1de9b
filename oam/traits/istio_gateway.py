"""istio-gateway: let traffic from an Istio ingress gateway reach the component."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._ports import check_ports, service_ports

ISTIO_API = "networking.istio.io/v1"


class Match(OamModel):
    exact: Optional[str] = Field(None, description="Route requests whose path is exactly this")
    prefix: Optional[str] = Field(None, description="Route requests whose path starts with this")

    @model_validator(mode="after")
    def _one(self):
        if (self.exact is None) == (self.prefix is None):
            raise ValueError("give exactly one of exact and prefix")
        return self


class IstioGatewayProperties(OamModel):
    hosts: list[Annotated[str, AfterValidator(kv.checked(kv.istio_host))]] = Field(
        min_length=1, description="Hosts the gateway accepts, '*' for any")
    gateway: str = Field("ingressgateway", description="Selects the gateway pods labelled istio: <gateway>")
    match: list[Match] = Field(default_factory=list, description="URI matches routed to the component; "
                                                                "every path when none is given")
    port: int = Field(ge=1, le=65535, description="Component port the requests go to")


def hosts_overlap(a: str, b: str) -> bool:
    """Whether two Gateway hosts can match one request host ('*' and '*.suffix' wildcards)."""
    if a == b or "*" in (a, b):
        return True
    for wild, other in ((a, b), (b, a)):
        if wild.startswith("*.") and (other.endswith(wild[1:]) or other.startswith("*.") and
                                      (other.endswith(wild[1:]) or wild.endswith(other[1:]))):
            return True
    return False


@TRAITS.register
class IstioGateway(TraitType):
    """An Istio Gateway on port 80 and a VirtualService bound to it routing the matches."""

    name = "istio-gateway"
    Properties = IstioGatewayProperties

    def check(self, trait, app, comp):
        problems = check_ports([(trait.properties.port, trait.path + ("properties", "port"))], app, comp)
        # Two Gateways on the same gateway pods and port that accept the same host conflict: Istio
        # serves one of them (its analyzer reports IST0145). Reported once, at the later component.
        for other in app.components:
            if other is comp:
                break
            theirs = other.trait("istio-gateway")
            if theirs is None or theirs.properties is None or theirs.properties.gateway != trait.properties.gateway:
                continue
            shared = [h for h in trait.properties.hosts if any(hosts_overlap(h, t) for t in theirs.properties.hosts)]
            if shared:
                line = app.locator.line(theirs.path + ("properties", "hosts"))
                where = f"{app.locator.file}:{line}" if line else app.locator.file
                problems.append(app.locator.problem(
                    trait.path + ("properties", "hosts"),
                    f"host {shared[0]} is also served by component '{other.name}' ({where}) on gateway "
                    f"'{trait.properties.gateway}'; Istio would serve only one of the two Gateways",
                    "give each component its own hosts, or route both from one component"))
        served = service_ports(comp)
        if served is not None and not served:
            problems.append(app.locator.problem(trait.path + ("type",), f"component '{comp.name}' has no Service to route to",
                                                "add an expose trait with this port"))
        elif served and not problems:
            if trait.properties.port not in served:
                problems.append(app.locator.problem(
                    trait.path + ("properties", "port"),
                    f"port {trait.properties.port} is not a port of component '{comp.name}''s Service "
                    f"(its ports: {', '.join(str(n) for n in sorted(set(served)))})",
                    "route to a port the expose (or canary-traffic) trait lists, or list this one there"))
        return problems

    def apply(self, p: IstioGatewayProperties, ctx: ComponentContext) -> None:
        name = f"{ctx.component}-gateway"
        ctx.http_ports.add(p.port)
        ctx.add("gateway", {
            "apiVersion": ISTIO_API,
            "kind": "Gateway",
            "metadata": ctx.metadata(name),
            "spec": {
                "selector": {"istio": p.gateway},
                "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": list(p.hosts)}],
            },
        })
        ctx.add("gateway-route", {
            "apiVersion": ISTIO_API,
            "kind": "VirtualService",
            "metadata": ctx.metadata(name),
            "spec": {
                "hosts": list(p.hosts),
                "gateways": [name],
                "http": [{
                    **({"match": [{"uri": {"exact": m.exact} if m.exact is not None else {"prefix": m.prefix}}
                                  for m in p.match]} if p.match else {}),
                    "route": [{"destination": {"host": ctx.host, "port": {"number": p.port}}}],
                }],
            },
        }, after=("gateway",), route=True)
