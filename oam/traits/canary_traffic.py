"""canary-traffic: Istio routing that splits the component's traffic between its revisions."""
from __future__ import annotations

import copy

from pydantic import Field

from oam.kit.context import REVISION_LABEL, ComponentContext
from oam.kit.spec import OamModel, rollout_of
from oam.kit.stage import ComponentStage
from oam.registry import TRAITS, TraitType
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
        """The Service if no other trait made one; the subsets of the revisions; the weighed routes."""
        ctx.service = service(ctx, p.port)
        if stage.rollout is None:
            return
        rollout = stage.rollout
        after = (stage.service_key,)
        for key, manifest, order in rules(ctx, stage):
            stage.add("destinationrule", manifest, key=key, after=after,
                      subset=order == "before", retiring=order == "after")
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


def rules(ctx: ComponentContext, stage: ComponentStage) -> list[tuple[str, dict, str]]:
    """The DestinationRules of the component's subsets: (key, manifest, 'before' or 'after' the routes).

    A subset for each revision with pods (one that selects none would be a route to
    nowhere, and Istio warns of it). They live in one rule named after the component, which
    gains subsets before the routes name them and loses one only after the routes have left
    it. One update cannot do both to one object: when a stage must add a subset and drop one
    the routes still use (a release without steps, 100% from one revision to the next), the
    new subset gets a rule of its own, named after its revision, made before the routes. A
    subset that already has a rule of its own keeps it while its revision has pods; the rule
    is deleted at the end of the update that drops it, after every route has moved.
    """
    rollout = stage.rollout
    wanted = [rev.name for rev in rollout.live if rollout.replicas[rev.name] > 0]
    key = f"{stage.prefix}-destinationrule"
    separate = [rev for rev in wanted if rev in stage.applied.subsets.get(_own_key(ctx, rev), ())]
    shared = [rev for rev in wanted if rev not in separate]
    have = stage.applied.subsets.get(key)
    routed = stage.applied.routed.get(ctx.host, set())
    gains = [rev for rev in shared if have is None or rev not in have]
    if gains and any(rev not in shared and rev in routed for rev in have or ()):
        separate += gains
        shared = [rev for rev in shared if rev not in gains]
        gains = []
    out = []
    if shared:  # an applied rule left with no subset is deleted at the end of the update
        out.append((key, destination_rule(ctx, ctx.component, shared), "before" if gains else "after"))
    out += [(_own_key(ctx, rev), destination_rule(ctx, rev, [rev]), "before") for rev in wanted if rev in separate]
    return out


def _own_key(ctx: ComponentContext, revision: str) -> str:
    return f"{ctx.key_prefix or ctx.app}-{revision}-destinationrule"


def destination_rule(ctx: ComponentContext, name: str, revisions: list[str]) -> dict:
    """A rule of the component's host with a subset per revision, selected by the revision label."""
    labels = {REVISION_LABEL: name} if name != ctx.component else {}
    return {
        "apiVersion": ISTIO_API,
        "kind": "DestinationRule",
        "metadata": ctx.metadata(name, labels),
        "spec": {"host": ctx.host, "subsets": [subset(rev) for rev in revisions]},
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
