"""Pure: (application, history, stage config, what is applied) -> the objects that must exist, in order.

No Pulumi here. Each object carries the keys of the objects it must wait for; those edges
are the safety rules: a Deployment gaining replicas is ready before a route sends it more
traffic, a subset exists before a route names it, and replicas losing traffic go only
after the route has changed. "Gaining" and "losing" are measured against ``Applied``, what
each object holds now, so a re-run after a failed update orders its changes from there.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from oam.applied import Applied
from oam.config import StageConfig
from oam.context import REVISION_LABEL, ComponentContext, Workload
from oam.errors import ApplicationError
from oam.model import AppSpec, ComponentSpec
from oam.registry import COMPONENTS, TRAITS
from oam.revisions import History, Revision
from oam.traits import canary_traffic
from oam.workflow.engine import Resolution, resolve


@dataclass
class Desired:
    """One object to exist: its Pulumi name, owner component, role and manifest."""

    key: str
    component: str
    role: str
    manifest: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.manifest["kind"]


@dataclass
class Plan:
    app: AppSpec
    resolution: Resolution
    objects: list[Desired]

    def by_key(self) -> dict[str, Desired]:
        return {d.key: d for d in self.objects}


def _context(app: AppSpec, comp: ComponentSpec) -> ComponentContext:
    workload = COMPONENTS.get(comp.type).build(comp.name, comp.properties)
    ctx = ComponentContext(app.name, app.namespace, comp.name, workload.ports)
    for trait in comp.traits:
        TRAITS.get(trait.type).build(trait.properties, ctx)
    # labels and annotations reach every object, whatever the order of the traits.
    for manifest in [ctx.service, *ctx.objects.values()]:
        if manifest is not None:
            meta = manifest["metadata"]
            meta["labels"] = {**meta.get("labels", {}), **ctx.labels, **ctx.selector()}
            if ctx.annotations:
                meta["annotations"] = {**meta.get("annotations", {}), **ctx.annotations}
    return ctx


def _declare_http(service: dict[str, Any], ports: set[int]) -> None:
    """Ports that carry HTTP routes say so, or Istio may take them for TCP and ignore the routes' weights."""
    for entry in service["spec"]["ports"]:
        if entry["port"] in ports and "appProtocol" not in entry:
            entry["appProtocol"] = "http"


def _workload(comp: ComponentSpec, rev: Revision, current: Revision) -> Workload:
    definition = COMPONENTS.get(rev.type)
    props = comp.properties if rev.n == current.n else definition.properties.model_validate(rev.properties)
    return definition.build(comp.name, props)


def _deployment(ctx: ComponentContext, workload: Workload, name: str, revision: str, replicas: int,
                per_revision: bool) -> dict[str, Any]:
    selector = ctx.selector() | ({REVISION_LABEL: revision} if per_revision else {})
    pod_labels = {**workload.labels, **ctx.labels, **ctx.selector(), REVISION_LABEL: revision}
    pod_meta: dict[str, Any] = {"labels": pod_labels}
    annotations = {**workload.annotations, **ctx.annotations}
    if annotations:
        pod_meta["annotations"] = annotations
    pod_spec: dict[str, Any] = {"containers": [copy.deepcopy(workload.container)]}
    if workload.volumes:
        pod_spec["volumes"] = copy.deepcopy(workload.volumes)
    if workload.image_pull_secrets:
        pod_spec["imagePullSecrets"] = copy.deepcopy(workload.image_pull_secrets)
    meta = ctx.metadata(name, {**workload.labels, **({REVISION_LABEL: revision} if per_revision else {})})
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    }


def namespace_key(app: AppSpec) -> str:
    return f"{app.name}-namespace"


def plan(app: AppSpec, history: History, cfg: StageConfig, now: Optional[datetime] = None,
         applied: Optional[Applied] = None, namespace_labels: Optional[dict[str, str]] = None,
         stack_known: bool = True) -> Plan:
    """Everything that must exist at this stage, with the edges of the safety rules.

    ``applied`` is what the cluster holds now (nothing, for a new stack). With
    ``namespace_labels`` the application's namespace is created (or kept) with those labels,
    before any object in it.
    """
    res = resolve(app, history, cfg, now, stack_known)
    applied = applied or Applied()
    objects: list[Desired] = []
    if namespace_labels is not None:
        objects.append(Desired(namespace_key(app), "", "namespace", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": app.namespace, "labels": dict(namespace_labels)}}))
    for comp in app.components:
        ctx = _context(app, comp)
        prefix = f"{app.name}-{comp.name}"
        current = res.revisions[comp.name]
        mine: list[Desired] = []
        service = canary_traffic.service(ctx) if ctx.canary else ctx.service
        if service is not None:
            _declare_http(service, ctx.http_ports)
            mine.append(Desired(f"{prefix}-service", comp.name, "service", service))
        rollout = res.rollouts.get(comp.name)
        if rollout is None:
            replicas = ctx.replicas if ctx.replicas is not None else 1
            workload = _workload(comp, current, current)
            mine.append(Desired(f"{prefix}-deployment", comp.name, "deployment",
                                _deployment(ctx, workload, comp.name, current.name, replicas, per_revision=False)))
        else:
            mine += _rollout_objects(ctx, comp, rollout, current, applied, prefix, service is not None)
        for role, manifest in ctx.objects.items():
            if role == "gateway-route" and rollout is not None and ctx.canary is not None:
                manifest = canary_traffic.weigh_gateway_route(ctx, manifest, rollout.routes)
            deps = [f"{prefix}-service"] if service and role == "gateway-route" else []
            if role == "gateway-route" and "gateway" in ctx.objects:
                deps.append(f"{prefix}-gateway")
            mine.append(Desired(f"{prefix}-{role}", comp.name, role, manifest, deps))
        if rollout is not None and ctx.canary is not None:
            _order_routes(mine, rollout, applied)
        else:
            # A route to the component's Service comes once its pods are Ready: that, not the
            # Service's own wait for endpoints, is what keeps the route from sending to nothing.
            serving = [d.key for d in mine if d.role == "deployment" and d.manifest["spec"]["replicas"] > 0]
            for d in mine:
                if d.role == "gateway-route":
                    d.depends_on += serving
        if namespace_labels is not None:
            for d in mine:
                d.depends_on.insert(0, namespace_key(app))
        objects += mine
    _check_names(app, res, objects)
    return Plan(app, res, objects)


def _check_names(app: AppSpec, res: Resolution, objects: list[Desired]) -> None:
    """Two components must never make one object: each would own it, and one would undo the other."""
    problems = []
    owners: dict[tuple, Desired] = {}
    for d in objects:
        meta = d.manifest["metadata"]
        for ident in (("pulumi", d.key), (d.manifest["apiVersion"], d.kind, meta.get("namespace"), meta["name"])):
            first = owners.setdefault(ident, d)
            if first is not d and first.component != d.component:
                what = f"Pulumi resource '{d.key}'" if ident[0] == "pulumi" else f"{d.kind} '{meta['name']}'"
                problems.append(_collision(app, d.component, first.component, what))
    # A rolled-out component names its Deployments <component>-v<N>, for revisions still to come too.
    for comp in app.components:
        if comp.name not in res.rollouts:
            continue
        revision = res.revisions[comp.name].name
        if len(revision) > 63:
            problems.append(app.locator.problem(
                comp.path + ("name",), f"revision name '{revision}' is longer than 63 characters, the most a "
                                       "label value (and a Service name) may have",
                f"shorten the component name to at most {63 - len(revision) + len(comp.name)} characters"))
        for other in app.components:
            rest = other.name[len(comp.name):]
            if other is not comp and other.name.startswith(comp.name) and re.fullmatch(r"-v[1-9][0-9]*", rest):
                problems.append(_collision(app, other.name, comp.name,
                                           f"Deployment '{other.name}' (revision {rest[2:]} of '{comp.name}')"))
    if problems:
        raise ApplicationError(list(dict.fromkeys(problems)))


def _collision(app: AppSpec, comp: str, other: str, what: str):
    line = app.locator.line(app.component(other).path + ("name",))
    where = f"{app.locator.file}:{line}" if line else app.locator.file
    return app.locator.problem(app.component(comp).path + ("name",),
                               f"component '{comp}' and component '{other}' ({where}) would both make {what}",
                               "rename one of them")


def _rollout_objects(ctx, comp, rollout, current, applied: Applied, prefix: str, has_service: bool) -> list[Desired]:
    deployments = {}
    for rev in rollout.live:
        workload = _workload(comp, rev, current)
        deployments[rev.name] = Desired(
            f"{ctx.app}-{rev.name}", comp.name, "deployment",
            _deployment(ctx, workload, rev.name, rev.name, rollout.replicas[rev.name], per_revision=True))
    if ctx.canary is None:
        # No routes: the pods are the traffic split. Scale up before scaling down.
        gaining, losing = _moves(deployments, rollout, applied)
        for d in losing:
            d.depends_on += gaining
        return list(deployments.values())
    after_service = [f"{prefix}-service"] if has_service else []
    # A subset only for a revision with pods: one that selects none would be a route to nowhere.
    rules = [Desired(f"{ctx.app}-{rev.name}-destinationrule", comp.name, "destinationrule",
                     canary_traffic.destination_rule(ctx, rev.name), list(after_service))
             for rev in rollout.live if rollout.replicas[rev.name] > 0]
    vs = Desired(f"{prefix}-virtualservice", comp.name, "virtualservice",
                 canary_traffic.virtual_service(ctx, rollout.routes), list(after_service))
    return list(deployments.values()) + rules + [vs]


def _moves(deployments: dict[str, Desired], rollout, applied: Applied) -> tuple[list[str], list[Desired]]:
    """(keys of Deployments that keep or gain pods and serve, Deployments that lose pods), against what is applied."""
    gaining, losing = [], []
    for rev, d in deployments.items():
        want, now = rollout.replicas[rev], applied.replicas.get(d.key, 0)
        if want > 0 and want >= now:
            gaining.append(d.key)
        elif want < now:
            losing.append(d)
    return gaining, losing


def _order_routes(mine: list[Desired], rollout, applied: Applied) -> None:
    """The edges between a canaried component's Deployments, its subsets and every route that weighs them.

    Every route (the mesh VirtualService and, with istio-gateway, the gateway's) moves only
    once the Deployments that keep or gain traffic are Ready and once the subsets it names
    exist; Deployments that lose pods shrink only after every route has moved. A subset
    (and a Deployment) that is no longer wanted is deleted by Pulumi at the end of the
    update, after every route has been updated.
    """
    deployments = {d.manifest["metadata"]["name"]: d for d in mine if d.role == "deployment"}
    gaining, losing = _moves(deployments, rollout, applied)
    rules = [d.key for d in mine if d.role == "destinationrule"]
    routes = [d for d in mine if d.role in ("virtualservice", "gateway-route")]
    for route in routes:
        route.depends_on += gaining + rules
    for d in losing:
        d.depends_on += [r.key for r in routes]  # replicas go only after their traffic has gone
