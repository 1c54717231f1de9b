"""canary-traffic: Istio routing that splits the component's traffic between its revisions."""
from __future__ import annotations

import copy

from pydantic import Field

from oam.context import REVISION_LABEL, ComponentContext
from oam.model import OamModel, rollout_of
from oam.registry import TRAITS, TraitType
from oam.stage import ComponentStage
from oam.traits._ports import check_ports
from oam.traits.istio_gateway import ISTIO_API


class CanaryTrafficProperties(OamModel):
    port: list[int] = Field(min_length=1, description="Service ports whose HTTP traffic is split by weight")


@TRAITS.register
class CanaryTraffic(TraitType):
    """Split the component's HTTP traffic between its revisions by weight (Istio VirtualService and subsets)."""

    name = "canary-traffic"
    Properties = CanaryTrafficProperties
    splits_traffic = True

    def check(self, trait, app, comp):
        ports = trait.properties.port
        problems = check_ports([(n, trait.path + ("properties", "port", i)) for i, n in enumerate(ports)], app, comp)
        if not rollout_of(comp):
            problems.append(app.locator.problem(
                trait.path + ("type",), f"component '{comp.name}' has canary-traffic but no rollout trait",
                "add a rollout trait (targetSize, rolloutBatches): traffic is split between its revisions"))
        return problems

    def apply(self, p: CanaryTrafficProperties, ctx: ComponentContext) -> None:
        ctx.http_ports.update(p.port)

    def service_ports(self, p: CanaryTrafficProperties) -> list[int]:
        return list(p.port)

    def stage(self, p: CanaryTrafficProperties, ctx: ComponentContext, stage: ComponentStage) -> None:
        """The Service if no other trait made one; a subset per revision with pods; the weighed routes."""
        ctx.service = service(ctx, p.port)
        if stage.rollout is None:
            return
        rollout = stage.rollout
        after = (stage.service_key,)
        # A subset only for a revision with pods: one that selects none would be a route to nowhere.
        for rev in rollout.live:
            if rollout.replicas[rev.name] > 0:
                stage.add("destinationrule", destination_rule(ctx, rev.name), key=f"{ctx.app}-{rev.name}-destinationrule",
                          after=after, subset=True)
        stage.add("virtualservice", virtual_service(ctx, p.port, rollout.routes), after=after, route=True)
        # Every other route to the component (a gateway's) is weighed the same way.
        for role in ctx.routes:
            ctx.objects[role] = weigh_route(ctx, ctx.objects[role], rollout.routes)


def service(ctx: ComponentContext, ports: list[int]) -> dict:
    """The component's Service: the one a trait made, or one with the canary ports."""
    if ctx.service is not None:
        return ctx.service
    return ctx.service_manifest([{"name": f"http-{n}", "port": n, "targetPort": n, "protocol": "TCP"}
                                 for n in ports])


def virtual_service(ctx: ComponentContext, ports: list[int], weights: dict[str, int]) -> dict:
    """Route the component's host to its revisions' subsets by weight, per canary port."""

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


def weigh_route(ctx: ComponentContext, manifest: dict, weights: dict[str, int]) -> dict:
    """A VirtualService (a gateway's) with every route to the component split by weight like mesh traffic."""
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
