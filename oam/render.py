"""Pure: (application, resolved stage, what is applied) -> the objects that must exist, in order.

No Pulumi here. This module assembles the plan: each placement's components, what steps
apply, what a stage keeps, one cluster at a time. Each object carries the keys of the
objects it must wait for; those edges are the safety rules (``oam.order``): a Deployment
gaining replicas is ready before a route sends it more traffic, a subset exists before a
route names it, and replicas losing traffic go only after the route has changed. "Gaining"
and "losing" are measured against ``Applied``, what each object holds now, so a re-run after
a failed update orders its changes from there. The whole plan is then checked
(``oam.checks``) before anything is applied.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from oam.checks import check_names, check_replacements, check_selectors
from oam.kit.applied import Applied, in_cluster
from oam.kit.context import NAME_LABEL
from oam.kit.placements import LOCAL
from oam.kit.spec import AppSpec, ComponentSpec, rollout_of, splits_traffic
from oam.kit.stage import ComponentStage, Desired
from oam.kit.workload import CLUSTER_SCOPED, component_context, revision_workload, workload_object
from oam.order import (RUNS_PODS, WAITING, moves, order_routes, pods_wait_for, serves, wait_for_earlier_steps,
                       wait_for_earlier_waves, wait_for_step_objects)
from oam.registry import COMPONENTS, POLICIES, TRAITS
from oam.workflow.engine import Resolution, resolve


@dataclass
class Plan:
    app: AppSpec
    resolution: Resolution
    objects: list[Desired]
    tokens: dict[str, str] = field(default_factory=dict)  # component -> Pulumi type of its component resource

    def by_key(self) -> dict[str, Desired]:
        return {d.key: d for d in self.objects}


def _declare_http(service: dict[str, Any], ports: set[int]) -> None:
    """Ports that carry HTTP routes say so, or Istio may take them for TCP and ignore the routes' weights."""
    for entry in service["spec"]["ports"]:
        if entry["port"] in ports and "appProtocol" not in entry:
            entry["appProtocol"] = "http"


def namespace_key(app: AppSpec, namespace: Optional[str] = None) -> str:
    """The Pulumi name of a namespace the stack creates: the application's own, or another a placement uses."""
    if namespace is None or namespace == app.namespace:
        return f"{app.name}-namespace"
    return f"{app.name}-namespace-{namespace}"


def plan(app: AppSpec, history, cfg, now: Optional[datetime] = None, applied: Optional[Applied] = None,
         namespaces: Optional[dict[str, dict[str, str]]] = None, stack_known: bool = True) -> Plan:
    """resolve, then render: for callers that start from the recorded history (tests, the CLI)."""
    return render(app, resolve(app, history, cfg, now, stack_known), applied, namespaces)


Namespaces = dict  # namespace (in the local cluster) or (cluster, namespace) -> the labels it is made with


def render(app: AppSpec, res: Resolution, applied: Optional[Applied] = None,
           namespaces: Optional[Namespaces] = None) -> Plan:
    """Everything that must exist at the resolved stage, with the edges of the safety rules.

    The application is rendered once per placement (its own namespace, unless policies and
    deploy steps say otherwise), with that placement's overrides. ``applied`` is what the
    cluster holds now (nothing, for a new stack). ``namespaces`` are created (or kept) with
    their labels, before any object in them.

    Each cluster is rendered on its own, against what the stack holds there, exactly as one
    cluster is: the safety rules hold in each. The Pulumi names of the objects of a cluster
    other than the local one start with the cluster's name and a slash.
    """
    applied = applied or Applied()
    wanted: dict[tuple[str, str], dict[str, str]] = {
        (where if isinstance(where, tuple) else (LOCAL, where)): labels for where, labels in (namespaces or {}).items()}
    clusters = list(dict.fromkeys([p.cluster for p in res.placements] + [r.get("cluster") or LOCAL for r in res.kept]
                                  + [c for c, _ in wanted]))
    generated = policy_objects(app)
    if generated and LOCAL not in clusters:
        clusters.insert(0, LOCAL)  # a policy's objects go to the local cluster, as KubeVela applies them
    if clusters in ([], [LOCAL]):
        sub = _render_cluster(app, _cluster_view(res, LOCAL), applied, {ns: v for (_, ns), v in wanted.items()},
                              generated)
        return Plan(app, res, sub.objects, sub.tokens)
    objects: list[Desired] = []
    tokens: dict[str, str] = {}
    for cluster in clusters:
        sub = _render_cluster(app, _cluster_view(res, cluster), applied.of_cluster(cluster),
                              {ns: v for (c, ns), v in wanted.items() if c == cluster},
                              generated if cluster == LOCAL else [])
        objects += [_moved_to(cluster, d) for d in sub.objects]
        tokens.update({in_cluster(cluster, owner): token for owner, token in sub.tokens.items()})
    wait_for_earlier_waves(res, objects, applied)
    return Plan(app, res, objects, tokens)


def _cluster_view(res: Resolution, cluster: str) -> Resolution:
    """The resolution as one cluster sees it: its placements, its revisions, the steps' order of its namespaces,
    the recorded objects kept there (named as in one cluster), and the objects steps apply (local only)."""
    kept = []
    for record in res.kept:
        if (record.get("cluster") or LOCAL) == cluster:
            record = dict(record)
            record.pop("cluster", None)
            for name in ("key", "owner"):
                if record.get(name) and cluster != LOCAL:
                    record[name] = record[name].removeprefix(f"{cluster}/")
            kept.append(record)
    return dataclasses.replace(
        res, placements=[p for p in res.placements if p.cluster == cluster], rollouts=res.rollouts_in(cluster),
        order={(ns, comp): n for (c, ns, comp), n in res.order.items() if c == cluster}, kept=kept,
        objects=res.objects if cluster == LOCAL else [])


def _moved_to(cluster: str, d: Desired) -> Desired:
    """An object rendered for ``cluster`` as one cluster is, named for the plan of every cluster."""
    if cluster == LOCAL:
        return d
    d.key = in_cluster(cluster, d.key)
    d.depends_on = [in_cluster(cluster, k) for k in d.depends_on]
    d.ready_first = tuple(in_cluster(cluster, k) for k in d.ready_first)
    d.owner = in_cluster(cluster, d.owner) if d.owner else ""
    d.cluster = cluster
    return d


def policy_objects(app: AppSpec) -> list[tuple[Any, dict[str, Any]]]:
    """(policy, manifest) of each object the application's policies make (a user's policy written in CUE)."""
    return [(policy, manifest) for policy in app.policies if policy.properties is not None
            for manifest in POLICIES.get(policy.type).objects(policy.properties, app, policy)]


def _render_cluster(app: AppSpec, res: Resolution, applied: Applied, namespaces: dict[str, dict[str, str]],
                    generated: list[tuple[Any, dict[str, Any]]]) -> Plan:
    """render, in one cluster (``res`` as _cluster_view gives it, ``applied`` what the stack holds there,
    ``generated`` the policies' objects that go there)."""
    objects: list[Desired] = [
        Desired(namespace_key(app, ns), "", "namespace", {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": ns, "labels": dict(labels)}})
        for ns, labels in namespaces.items()]
    tokens: dict[str, str] = {}
    stepped: list[tuple[int, Desired]] = []  # objects of components a step deployed, with that step's number
    for placement in res.placements:
        target = placed(app, placement)
        prefix = app.name if placement.namespace == app.namespace else f"{app.name}-{placement.namespace}"
        serving: dict[str, list[str]] = {}
        mine_all: list[Desired] = []
        for comp in target.components:
            mine = _component(target, comp, res, applied, prefix)
            for d in mine:
                d.owner, d.placement = f"{prefix}-{comp.name}", placement.namespace
                if placement.moves and d.kind not in CLUSTER_SCOPED:
                    d.manifest["metadata"]["namespace"] = placement.namespace  # what it names, overridden
                if placement.namespace in namespaces:
                    d.depends_on.insert(0, namespace_key(app, placement.namespace))
            # What a dependent component waits for: what runs its pods, with pods, and Jobs (until complete).
            serving[comp.name] = [d.key for d in mine if d.kind == "Job" or serves(d)]
            tokens[f"{prefix}-{comp.name}"] = COMPONENTS.get(comp.type).token
            mine_all += mine
        waits = {comp.name: [key for dep in comp.depends_on for key in serving.get(dep, ())]
                 for comp in target.components if comp.depends_on}
        by_key = {d.key: d for d in mine_all}
        for d in mine_all:
            # dependsOn: a component's pods are created or changed once its dependencies' pods are Ready.
            if d.component in waits and d.kind in WAITING:
                pods_wait_for(d, [by_key[k] for k in waits[d.component]], applied)
        for policy in app.policies:
            for d in mine_all:
                POLICIES.get(policy.type).keep(policy.properties, d, target.component(d.component))
        for d in mine_all:
            number = res.order.get((placement.namespace, d.component), res.order.get((placement.namespace, None)))
            if number is not None:
                stepped.append((number, d))
        objects += mine_all
    applied_by_steps = _step_objects(app, res, namespaces, generated)
    numbers = {sub.name: i for i, step in enumerate(app.steps or (), 1) for sub in (step, *step.sub_steps)}
    if res.order:  # what steps apply themselves (apply-object) takes its place in the order of the steps too
        stepped += [(numbers[d.step], d) for d in applied_by_steps if d.step in numbers]
    wait_for_earlier_steps(stepped, applied)
    objects = _once(objects)
    wait_for_step_objects(objects, applied_by_steps)
    objects += applied_by_steps
    objects += _kept(app, res, objects, tokens, namespaces)
    check_names(app, res, objects)
    check_selectors(app, objects, applied)
    check_replacements(app, objects, applied)
    return Plan(app, res, objects, tokens)


def _once(objects: list[Desired]) -> list[Desired]:
    """A component that two placements deploy makes an object that stays where it is (one without a namespace,
    or one that names its own) once, as the first placement renders it: two Pulumi resources of one object would
    each apply it, and the first to go would delete it under the other. Edges to the one left out go to it."""
    first: dict[tuple, Desired] = {}
    same: dict[str, str] = {}  # key left out -> key kept
    out = []
    for d in objects:
        kept = first.setdefault(identity(d.manifest), d)
        if kept is not d and kept.component == d.component and d.component and kept.manifest == d.manifest:
            same[d.key] = kept.key
            continue
        out.append(d)
    for d in out:
        d.depends_on = list(dict.fromkeys(same.get(k, k) for k in d.depends_on if same.get(k, k) != d.key))
        d.ready_first = tuple(dict.fromkeys(same.get(k, k) for k in d.ready_first if same.get(k, k) != d.key))
    return out


def _kept(app: AppSpec, res: Resolution, objects: list[Desired], tokens: dict[str, str],
          namespaces: dict[str, dict[str, str]]) -> list[Desired]:
    """The objects of components no step of this run has placed again, exactly as the last update applied them.

    One that this stage makes anew (the same Pulumi name or the same object) is left to it. Unchanged, they
    wait for nothing but the namespace the stack makes for them.
    """
    made = {d.key for d in objects} | {identity(d.manifest) for d in objects}
    restored = [(Desired.restore(r), r["token"]) for r in res.kept]
    restored = [(d, token) for d, token in restored if d.key not in made and identity(d.manifest) not in made]
    for d, token in restored:
        d.depends_on = [namespace_key(app, d.placement)] if d.placement in namespaces else []
        tokens.setdefault(d.owner, token)
    return [d for d, _ in restored]


def identity(manifest: dict[str, Any]) -> tuple:
    """Which object of the cluster a manifest is: (apiVersion, kind, namespace or None, name)."""
    meta = manifest["metadata"]
    return manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]


def component_records(plan: Plan) -> list[dict[str, Any]]:
    """What the stack records of the objects of its components, for a later workflow whose steps deploy them to
    keep them as they are until it reaches those steps (see Resolution.kept)."""
    return [d.record(plan.tokens[d.owner]) for d in plan.objects if d.placement and d.owner in plan.tokens]


def object_namespace(app: AppSpec, manifest: dict[str, Any]) -> Optional[str]:
    """Where an object written in full goes: the namespace it names, else the application's; None for a kind
    without a namespace."""
    if manifest["kind"] in CLUSTER_SCOPED:
        return None
    return manifest["metadata"].get("namespace") or app.namespace


def _step_objects(app: AppSpec, res: Resolution, namespaces: dict[str, dict[str, str]],
                  generated: list[tuple[Any, dict[str, Any]]]) -> list[Desired]:
    """The objects the policies make (at every stage, as KubeVela applies them before the workflow runs) and the
    steps run so far apply themselves.

    Their Pulumi names come from what they are (kind, name and namespace), not from the step
    or the stage, so an object keeps its resource from stage to stage. A later step's object
    with the same identity takes the place of an earlier one's, as a second apply would.
    """
    out: dict[tuple, Desired] = {}
    made = [(manifest, {"policy": policy.name, "path": policy.path}) for policy, manifest in generated]
    made += [(obj.manifest, {"step": obj.step, "path": obj.path}) for obj in res.objects]
    for original, by in made:
        manifest = copy.deepcopy(original)
        meta = manifest["metadata"]
        ns = object_namespace(app, manifest)
        if ns is not None:
            meta["namespace"] = ns
        meta["labels"] = {**(meta.get("labels") or {}), NAME_LABEL: app.name}
        where = "" if ns in (None, app.namespace) else f"{ns}-"
        d = Desired(f"{app.name}-{where}{manifest['kind'].lower()}-{meta['name']}", "", "object", manifest, **by)
        if ns in namespaces:
            d.depends_on.append(namespace_key(app, ns))
        out[(manifest["apiVersion"], manifest["kind"], ns, meta["name"])] = d
    return list(out.values())


def placed(app: AppSpec, placement) -> AppSpec:
    """The application as a placement deploys it: in its namespace, with its overrides."""
    out = dataclasses.replace(app, namespace=placement.namespace)
    for policy in placement.overrides:
        out = POLICIES.get(policy.type).transform(policy.properties, out, policy)
    if placement.components is not None:
        out = dataclasses.replace(out, components=tuple(c for c in out.components if c.name in placement.components))
    return out


def _component(app: AppSpec, comp: ComponentSpec, res: Resolution, applied: Applied, prefix: str) -> list[Desired]:
    """The component's objects: its Service, Deployments and what its traits add, in order, with their edges.

    ``prefix`` starts the Pulumi name of each object: the application's name, and the namespace for a
    placement in another one.
    """
    current = res.revisions[comp.name]
    ctx = component_context(app, comp, current.name)
    ctx.key_prefix = prefix
    rollout = res.rollouts.get(comp.name)
    built = revision_workload(app, comp, current, current)
    if not built[0].runs_pods:
        deployments = []
    elif rollout is None:
        replicas = ctx.replicas if ctx.replicas is not None else (None if ctx.autoscaled else 1)
        definition = COMPONENTS.get(comp.type)
        manifest = workload_object(ctx, built, comp.name, current.name, replicas, False, definition, comp.properties)
        role = "deployment" if manifest["kind"] == "Deployment" else manifest["kind"].lower()
        deployments = [Desired(f"{prefix}-{comp.name}-{role}", comp.name, role, manifest)]
    else:
        deployments = []
        in_place = rollout_of(comp)[0].in_place
        for i, rev in enumerate(rollout.live):
            if in_place and i == 0:  # the stable revision, in the component's own Deployment
                key, name, own = f"{prefix}-{comp.name}-deployment", comp.name, False
            else:
                key, name, own = f"{prefix}-{rev.name}", rev.name, True
            manifest = workload_object(ctx, revision_workload(app, comp, rev, current), name, rev.name,
                                       rollout.replicas[rev.name], per_revision=own)
            deployments.append(Desired(key, comp.name, "deployment", manifest, revision=rev.name))
    needed = [f"{prefix}-{comp.name}-{role}" for role in ctx.objects if role in ctx.before_pods]
    for d in deployments:
        d.depends_on += needed  # what the pods mount exists before them
    stage = ComponentStage(prefix, comp.name, rollout, applied, deployments)
    for trait in comp.traits:
        ctx.current = stage.current = trait.type
        before = ctx.service
        TRAITS.get(trait.type).stage(trait.properties, ctx, stage)
        if ctx.service is not before:
            ctx.source["service"] = trait.type
    ctx.current = stage.current = ""
    mine: list[Desired] = []
    if ctx.service is not None:
        _declare_http(ctx.service, ctx.http_ports)
        mine.append(Desired(stage.service_key, comp.name, "service", ctx.service, source=ctx.source.get("service", "")))
    mine += deployments + stage.added
    routes = [d for d in stage.added if d.key in stage.routes]
    for role, manifest in ctx.objects.items():
        after = [f"{stage.prefix}-{r}" for r in ctx.after.get(role, ()) if r in ctx.objects]
        if role in ctx.routes and ctx.service is not None:
            after.insert(0, stage.service_key)  # a route names the Service's host
        d = Desired(f"{stage.prefix}-{role}", comp.name, role, manifest, after, ctx.source.get(role, ""),
                    path=ctx.paths.get(role, ()))
        mine.append(d)
        if role in ctx.routes:
            routes.append(d)
    if rollout is not None and splits_traffic(comp):
        order_routes(deployments, [d.key for d in stage.added if d.key in stage.subsets],
                      [d for d in stage.added if d.key in stage.retiring], routes, rollout, applied)
    else:
        # A route to the component's Service comes once its pods are Ready: that, not the
        # Service's own wait for endpoints, is what keeps the route from sending to nothing.
        serving = [d.key for d in deployments if serves(d)]
        for d in routes:
            d.depends_on += serving
        if rollout is not None:
            # No weighed routes: the pods are the traffic split. Scale up before scaling down.
            gaining, losing = moves(deployments, rollout, applied)
            for d in losing:
                d.depends_on += gaining
    return mine


