"""canary-traffic: Istio routing that splits the component's traffic between its revisions."""
from __future__ import annotations

import copy

from pydantic import Field

from oam.context import REVISION_LABEL, ComponentContext
from oam.model import OamModel
from oam.registry import TRAITS
from oam.traits._ports import check_ports
from oam.traits.istio_gateway import ISTIO_API


class CanaryTrafficProperties(OamModel):
    port: list[int] = Field(min_length=1, description="Service ports whose HTTP traffic is split by weight")


def check(trait, app, comp):
    ports = trait.properties.port
    problems = check_ports([(n, trait.path + ("properties", "port", i)) for i, n in enumerate(ports)], app, comp)
    if not comp.trait("rollout"):
        problems.append(app.locator.problem(trait.path + ("type",), f"component '{comp.name}' has canary-traffic but no rollout trait",
                                            "add a rollout trait (targetSize, rolloutBatches): traffic is split between its revisions"))
    return problems


@TRAITS.define("canary-traffic", CanaryTrafficProperties, check=check)
def canary_traffic(p: CanaryTrafficProperties, ctx: ComponentContext) -> None:
    """Mark the component for weighted routing; the objects depend on the rollout's stage."""
    ctx.canary = p
    ctx.http_ports.update(p.port)


def service(ctx: ComponentContext) -> dict:
    """The component's Service: the one a trait made, or one with the canary ports."""
    if ctx.service is not None:
        return ctx.service
    return ctx.service_manifest([{"name": f"http-{n}", "port": n, "targetPort": n, "protocol": "TCP"}
                                 for n in ctx.canary.port])


def virtual_service(ctx: ComponentContext, weights: dict[str, int]) -> dict:
    """Route the component's host to its revisions' subsets by weight, per canary port."""
    ports = ctx.canary.port

    def route(port: int) -> list[dict]:
        return [{"destination": {"host": ctx.host, "subset": rev, "port": {"number": port}}, "weight": w}
                for rev, w in weights.items()]

    http = [{"name": f"port-{n}", **({"match": [{"port": n}]} if len(ports) > 1 else {}), "route": route(n)}
            for n in ports]
    return {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": ctx.metadata(ctx.component),
        "spec": {"hosts": [ctx.component], "http": http},
    }


def subset(revision: str) -> dict:
    """The subset of one revision, selected by the revision label."""
    return {"name": revision, "labels": {REVISION_LABEL: revision}}


def destination_rule(ctx: ComponentContext, revision: str) -> dict:
    """The subset of one revision, in a rule of its own (Istio merges the rules of one host).

    A rule per revision lets a subset come before the routes that name it and go after the
    last route has left it within one update, whichever other subsets come and go.
    """
    return {
        "apiVersion": ISTIO_API,
        "kind": "DestinationRule",
        "metadata": ctx.metadata(revision, {REVISION_LABEL: revision}),
        "spec": {"host": ctx.host, "subsets": [subset(revision)]},
    }


def weigh_gateway_route(ctx: ComponentContext, manifest: dict, weights: dict[str, int]) -> dict:
    """The gateway's VirtualService with every route to the component split by weight like mesh traffic."""
    out = copy.deepcopy(manifest)
    for http in out["spec"]["http"]:
        routes = []
        for r in http["route"]:
            dest = r["destination"]
            if dest.get("host") != ctx.host:
                routes.append(r)
                continue
            routes += [{"destination": {**dest, "subset": rev}, "weight": w} for rev, w in weights.items()]
        http["route"] = routes
    return out
