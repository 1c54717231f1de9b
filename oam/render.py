"""Pure: (application, resolved stage, what is applied) -> the objects that must exist, in order.

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
from oam.context import REVISION_LABEL, ComponentContext, Workload
from oam.errors import ApplicationError
from oam.model import AppSpec, ComponentSpec, splits_traffic
from oam.registry import COMPONENTS, TRAITS
from oam.revisions import Revision
from oam.stage import ComponentStage, Desired
from oam.workflow.engine import Resolution, resolve


@dataclass
class Plan:
    app: AppSpec
    resolution: Resolution
    objects: list[Desired]
    tokens: dict[str, str] = field(default_factory=dict)  # component -> Pulumi type of its component resource

    def by_key(self) -> dict[str, Desired]:
        return {d.key: d for d in self.objects}


def _context(app: AppSpec, comp: ComponentSpec) -> ComponentContext:
    workload = COMPONENTS.get(comp.type).workload(comp.name, comp.properties)
    ctx = ComponentContext(app.name, app.namespace, comp.name, workload.ports)
    for trait in comp.traits:
        TRAITS.get(trait.type).apply(trait.properties, ctx)
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
    props = comp.properties if rev.n == current.n else definition.parse(rev.properties)
    return definition.workload(comp.name, props)


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


def plan(app: AppSpec, history, cfg, now: Optional[datetime] = None, applied: Optional[Applied] = None,
         namespace_labels: Optional[dict[str, str]] = None, stack_known: bool = True) -> Plan:
    """resolve, then render: for callers that start from the recorded history (tests, the CLI)."""
    return render(app, resolve(app, history, cfg, now, stack_known), applied, namespace_labels)


def render(app: AppSpec, res: Resolution, applied: Optional[Applied] = None,
           namespace_labels: Optional[dict[str, str]] = None) -> Plan:
    """Everything that must exist at the resolved stage, with the edges of the safety rules.

    ``applied`` is what the cluster holds now (nothing, for a new stack). With
    ``namespace_labels`` the application's namespace is created (or kept) with those labels,
    before any object in it.
    """
    applied = applied or Applied()
    objects: list[Desired] = []
    if namespace_labels is not None:
        objects.append(Desired(namespace_key(app), "", "namespace", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": app.namespace, "labels": dict(namespace_labels)}}))
    for comp in app.components:
        mine = _component(app, comp, res, applied)
        if namespace_labels is not None:
            for d in mine:
                d.depends_on.insert(0, namespace_key(app))
        objects += mine
    _check_names(app, res, objects)
    return Plan(app, res, objects, {c.name: COMPONENTS.get(c.type).token for c in app.components})


def _component(app: AppSpec, comp: ComponentSpec, res: Resolution, applied: Applied) -> list[Desired]:
    """The component's objects: its Service, Deployments and what its traits add, in order, with their edges."""
    ctx = _context(app, comp)
    current = res.revisions[comp.name]
    rollout = res.rollouts.get(comp.name)
    if rollout is None:
        replicas = ctx.replicas if ctx.replicas is not None else 1
        deployments = [Desired(f"{app.name}-{comp.name}-deployment", comp.name, "deployment",
                               _deployment(ctx, _workload(comp, current, current), comp.name, current.name, replicas,
                                           per_revision=False))]
    else:
        deployments = [Desired(f"{app.name}-{rev.name}", comp.name, "deployment",
                               _deployment(ctx, _workload(comp, rev, current), rev.name, rev.name,
                                           rollout.replicas[rev.name], per_revision=True))
                       for rev in rollout.live]
    stage = ComponentStage(app.name, comp.name, rollout, applied, deployments)
    for trait in comp.traits:
        TRAITS.get(trait.type).stage(trait.properties, ctx, stage)
    mine: list[Desired] = []
    if ctx.service is not None:
        _declare_http(ctx.service, ctx.http_ports)
        mine.append(Desired(stage.service_key, comp.name, "service", ctx.service))
    mine += deployments + stage.added
    routes = [d for d in stage.added if d.key in stage.routes]
    for role, manifest in ctx.objects.items():
        after = [f"{stage.prefix}-{r}" for r in ctx.after.get(role, ()) if r in ctx.objects]
        if role in ctx.routes and ctx.service is not None:
            after.insert(0, stage.service_key)  # a route names the Service's host
        d = Desired(f"{stage.prefix}-{role}", comp.name, role, manifest, after)
        mine.append(d)
        if role in ctx.routes:
            routes.append(d)
    if rollout is not None and splits_traffic(comp):
        _order_routes(deployments, [d.key for d in stage.added if d.key in stage.subsets],
                      [d for d in stage.added if d.key in stage.retiring], routes, rollout, applied)
    else:
        # A route to the component's Service comes once its pods are Ready: that, not the
        # Service's own wait for endpoints, is what keeps the route from sending to nothing.
        serving = [d.key for d in deployments if d.manifest["spec"]["replicas"] > 0]
        for d in routes:
            d.depends_on += serving
        if rollout is not None:
            # No weighed routes: the pods are the traffic split. Scale up before scaling down.
            gaining, losing = _moves(deployments, rollout, applied)
            for d in losing:
                d.depends_on += gaining
    return mine


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


def _moves(deployments: list[Desired], rollout, applied: Applied) -> tuple[list[str], list[Desired]]:
    """(keys of Deployments that keep or gain pods and serve, Deployments that lose pods), against what is applied."""
    gaining, losing = [], []
    for d in deployments:
        want, now = rollout.replicas[d.manifest["metadata"]["name"]], applied.replicas.get(d.key, 0)
        if want > 0 and want >= now:
            gaining.append(d.key)
        elif want < now:
            losing.append(d)
    return gaining, losing


def _order_routes(deployments: list[Desired], subsets: list[str], retiring: list[Desired], routes: list[Desired],
                  rollout, applied: Applied) -> None:
    """The edges between a rolled-out component's Deployments, its subsets and every route that weighs them.

    Every route (the mesh's and a gateway's) moves only once the Deployments that keep or
    gain traffic are Ready and once the subsets it names exist; Deployments that lose pods
    shrink, and subsets go, only after every route has moved. A Deployment that is no longer
    wanted is deleted by Pulumi at the end of the update, after every route has been updated.
    """
    gaining, losing = _moves(deployments, rollout, applied)
    for route in routes:
        route.depends_on += gaining + subsets
    for d in losing + retiring:
        d.depends_on += [r.key for r in routes]  # replicas and subsets go only after their traffic has gone
