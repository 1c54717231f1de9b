"""Pure: (application, resolved stage, what is applied) -> the objects that must exist, in order.

No Pulumi here. Each object carries the keys of the objects it must wait for; those edges
are the safety rules: a Deployment gaining replicas is ready before a route sends it more
traffic, a subset exists before a route names it, and replicas losing traffic go only
after the route has changed. "Gaining" and "losing" are measured against ``Applied``, what
each object holds now, so a re-run after a failed update orders its changes from there.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from oam.errors import ApplicationError
from oam.kit.applied import Applied, in_cluster, route_weights, same_object
from oam.kit.context import NAME_LABEL
from oam.kit.placements import LOCAL
from oam.kit.spec import AppSpec, ComponentSpec, rollout_of, splits_traffic
from oam.kit.stage import ComponentStage, Desired
from oam.kit.workload import CLUSTER_SCOPED, component_context, revision_workload, workload_object
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


# Kinds that run pods, which routes and dependent components wait for.
RUNS_PODS = ("Deployment", "StatefulSet", "DaemonSet")


def _serves(d: Desired) -> bool:
    """Whether routes and dependents wait for ``d``: an object that runs pods, unless it is scaled to 0 (without
    a replica count, an autoscaler's or a DaemonSet's one pod per node, it has pods)."""
    replicas = (d.manifest.get("spec") or {}).get("replicas")
    return d.kind in RUNS_PODS and (not isinstance(replicas, int) or replicas > 0)


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
    if clusters in ([], [LOCAL]):
        sub = _render_cluster(app, _cluster_view(res, LOCAL), applied, {ns: v for (_, ns), v in wanted.items()})
        return Plan(app, res, sub.objects, sub.tokens)
    objects: list[Desired] = []
    tokens: dict[str, str] = {}
    for cluster in clusters:
        sub = _render_cluster(app, _cluster_view(res, cluster), applied.of_cluster(cluster),
                              {ns: v for (c, ns), v in wanted.items() if c == cluster})
        objects += [_moved_to(cluster, d) for d in sub.objects]
        tokens.update({in_cluster(cluster, owner): token for owner, token in sub.tokens.items()})
    _wait_for_earlier_waves(res, objects, applied)
    return Plan(app, res, objects, tokens)


def _wait_for_earlier_waves(res: Resolution, objects: list[Desired], applied: Applied) -> None:
    """A cluster that a later step deploys to changes once the pods of the clusters earlier steps deployed to are
    Ready in every one of them (a wave starts when the one before it has come up)."""
    first: dict[str, int] = {}  # cluster -> the number of the step that deploys it first at this stage
    for (cluster, _, _), number in res.order.items():
        first[cluster] = min(number, first.get(cluster, number))
    if len(set(first.values())) < 2:
        return
    serving = {c: [d for d in objects if (d.cluster or LOCAL) == c and _serves(d)] for c in first}
    kept = {r["key"] for r in res.kept}
    for d in objects:
        where = d.cluster or LOCAL
        if where not in first or d.kind == "Namespace" or d.key in kept:
            continue
        earlier = [e for c, n in first.items() if n < first[where] for e in serving[c]]
        if earlier:
            _pods_wait_for(d, earlier, applied)


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


def _render_cluster(app: AppSpec, res: Resolution, applied: Applied, namespaces: dict[str, dict[str, str]]) -> Plan:
    """render, in one cluster (``res`` as _cluster_view gives it, ``applied`` what the stack holds there)."""
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
            serving[comp.name] = [d.key for d in mine if d.kind == "Job" or _serves(d)]
            tokens[f"{prefix}-{comp.name}"] = COMPONENTS.get(comp.type).token
            mine_all += mine
        waits = {comp.name: [key for dep in comp.depends_on for key in serving.get(dep, ())]
                 for comp in target.components if comp.depends_on}
        by_key = {d.key: d for d in mine_all}
        for d in mine_all:
            # dependsOn: a component's pods are created or changed once its dependencies' pods are Ready.
            if d.component in waits and d.kind in (*RUNS_PODS, "Job", "CronJob"):
                _pods_wait_for(d, [by_key[k] for k in waits[d.component]], applied)
        for policy in app.policies:
            for d in mine_all:
                POLICIES.get(policy.type).keep(policy.properties, d, target.component(d.component))
        for d in mine_all:
            number = res.order.get((placement.namespace, d.component), res.order.get((placement.namespace, None)))
            if number is not None:
                stepped.append((number, d))
        objects += mine_all
    applied_by_steps = _step_objects(app, res, namespaces)
    numbers = {sub.name: i for i, step in enumerate(app.steps or (), 1) for sub in (step, *step.sub_steps)}
    if res.order:  # what steps apply themselves (apply-object) takes its place in the order of the steps too
        stepped += [(numbers[d.step], d) for d in applied_by_steps if d.step in numbers]
    _wait_for_earlier_steps(stepped, applied)
    objects = _once(objects)
    _wait_for_step_objects(objects, applied_by_steps)
    objects += applied_by_steps
    objects += _kept(app, res, objects, tokens, namespaces)
    _check_names(app, res, objects)
    _check_selectors(app, objects, applied)
    _check_replacements(app, objects, applied)
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


def _step_objects(app: AppSpec, res: Resolution, namespaces: dict[str, dict[str, str]]) -> list[Desired]:
    """The objects the steps run so far apply themselves.

    Their Pulumi names come from what they are (kind, name and namespace), not from the step
    or the stage, so an object keeps its resource from stage to stage. A later step's object
    with the same identity takes the place of an earlier one's, as a second apply would.
    """
    out: dict[tuple, Desired] = {}
    for obj in res.objects:
        manifest = copy.deepcopy(obj.manifest)
        meta = manifest["metadata"]
        ns = object_namespace(app, manifest)
        if ns is not None:
            meta["namespace"] = ns
        meta["labels"] = {**(meta.get("labels") or {}), NAME_LABEL: app.name}
        where = "" if ns in (None, app.namespace) else f"{ns}-"
        d = Desired(f"{app.name}-{where}{manifest['kind'].lower()}-{meta['name']}", "", "object", manifest,
                    step=obj.step, path=obj.path)
        if ns in namespaces:
            d.depends_on.append(namespace_key(app, ns))
        out[(manifest["apiVersion"], manifest["kind"], ns, meta["name"])] = d
    return list(out.values())


def _map(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of an object that runs pods (its CronJob's jobs' pods too); {} for one that runs none.

    Objects written in full are read here too: anything not shaped like a pod spec names nothing.
    """
    spec = _map(manifest.get("spec"))
    template = _map(_map(_map(spec.get("jobTemplate")).get("spec")).get("template")) or _map(spec.get("template"))
    return _map(template.get("spec"))


def _named_by(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of what a pod mounts, reads its environment from, pulls its images with or runs as."""
    named = {("ServiceAccount", pod.get("serviceAccountName"))}
    named |= {("Secret", s.get("name")) for s in _maps(pod.get("imagePullSecrets"))}
    sources = []
    for volume in _maps(pod.get("volumes")):
        sources += [volume] + _maps(_map(volume.get("projected")).get("sources"))
    for source in sources:
        secret = _map(source.get("secret"))  # a volume names it secretName, a projected source name
        named |= {("ConfigMap", _map(source.get("configMap")).get("name")),
                  ("Secret", secret.get("secretName") or secret.get("name")),
                  ("PersistentVolumeClaim", _map(source.get("persistentVolumeClaim")).get("claimName"))}
    for container in _maps(pod.get("containers")) + _maps(pod.get("initContainers")):
        for ref in _maps(container.get("envFrom")):
            named |= {("ConfigMap", _map(ref.get("configMapRef")).get("name")),
                      ("Secret", _map(ref.get("secretRef")).get("name"))}
        for env in _maps(container.get("env")):
            source = _map(env.get("valueFrom"))
            named |= {("ConfigMap", _map(source.get("configMapKeyRef")).get("name")),
                      ("Secret", _map(source.get("secretKeyRef")).get("name"))}
    return {(kind, name) for kind, name in named if isinstance(name, str) and name}


def _wait_for_earlier_steps(stepped: list[tuple[int, Desired]], applied: Applied) -> None:
    """Workflow steps run in order: a step that deploys components (deploy, apply-component) is done once their
    pods are Ready (KubeVela's apply waits for them to be healthy), and the next step starts then. So the pods
    of what a later step deploys are created or changed once the pods of what earlier steps deployed are Ready:
    the provider's wait for what the update changes, a reading of the cluster for what it leaves as it is."""
    serving = [(n, d) for n, d in stepped if d.kind == "Job" or _serves(d)]
    by_key = {d.key: d for _, d in stepped}

    def waits_for(d: Desired, key: str, seen: set[str]) -> bool:
        """Whether ``d`` waits, through its edges, for the object ``key``."""
        for k in d.depends_on:
            if k == key or (k not in seen and k in by_key and (seen.add(k) or waits_for(by_key[k], key, seen))):
                return True
        return False

    for number, d in stepped:
        if d.kind not in (*RUNS_PODS, "Job", "CronJob"):
            continue
        # An earlier step's component that dependsOn this one: its dependsOn decides, as the pods cannot wait for
        # each other.
        _pods_wait_for(d, [e for n, e in serving if n < number and not waits_for(e, d.key, set())], applied)


def _pods_wait_for(d: Desired, first: list[Desired], applied: Applied) -> None:
    """``d``'s pods are created or changed once the pods of ``first`` are Ready: the provider waits for those the
    update changes; those it leaves as they are are read from the cluster first, when ``d`` changes."""
    d.depends_on += [e.key for e in first if e.key not in d.depends_on]
    if not _unchanged(d, applied):
        d.ready_first += tuple(e.key for e in first if e.kind in RUNS_PODS and _unchanged(e, applied)
                               and e.key not in d.ready_first)


def _wait_for_step_objects(objects: list[Desired], applied_by_steps: list[Desired]) -> None:
    """Pods are created or changed once what they name and a step applies exists (a claim, a Secret, ...)."""
    by_name = {(d.kind, d.manifest["metadata"].get("namespace"), d.manifest["metadata"]["name"]): d.key
               for d in applied_by_steps}
    for d in objects + applied_by_steps:
        if d.kind not in (*RUNS_PODS, "Job", "CronJob"):
            continue
        namespace = d.manifest["metadata"].get("namespace")
        keys = [by_name.get((kind, namespace, name)) for kind, name in sorted(_named_by(_pod_spec(d.manifest)))]
        d.depends_on += [k for k in keys if k is not None and k not in d.depends_on]


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
    ctx = component_context(app, comp)
    ctx.key_prefix = prefix
    current = res.revisions[comp.name]
    rollout = res.rollouts.get(comp.name)
    built = revision_workload(comp, current, current)
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
            manifest = workload_object(ctx, revision_workload(comp, rev, current), name, rev.name,
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
        _order_routes(deployments, [d.key for d in stage.added if d.key in stage.subsets],
                      [d for d in stage.added if d.key in stage.retiring], routes, rollout, applied)
    else:
        # A route to the component's Service comes once its pods are Ready: that, not the
        # Service's own wait for endpoints, is what keeps the route from sending to nothing.
        serving = [d.key for d in deployments if _serves(d)]
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
        for ident in (("pulumi", d.key), same_object(d.manifest)):  # one object, whatever version it is written in
            first = owners.setdefault(ident, d)
            if first is not d and (first.component, first.step) != (d.component, d.step):
                what = f"Pulumi resource '{d.key}'" if ident[0] == "pulumi" else f"{d.kind} '{meta['name']}'"
                problems.append(_made_twice(app, d, first, what))
            elif first is not d and d.component and first.placement == d.placement and app.component(d.component):
                problems.append(app.locator.problem(
                    d.path or app.component(d.component).path + ("name",),
                    f"component '{d.component}' makes {d.kind} '{meta['name']}' twice"
                    + (f" (as {first.manifest['apiVersion']} and {d.manifest['apiVersion']})"
                       if first.manifest["apiVersion"] != d.manifest["apiVersion"] else ""),
                    "list the object once"))
            elif first is not d and d.component and first.key != d.key and app.component(d.component):
                # One component in two placements, an object that stays where it is, rendered differently.
                problems.append(app.locator.problem(
                    app.component(d.component).path + ("name",),
                    f"component '{d.component}' is deployed to namespaces '{first.placement}' and '{d.placement}', "
                    f"and both would make {d.kind} '{meta['name']}'"
                    + (f" in namespace '{meta['namespace']}' (it names it)" if meta.get("namespace") else "")
                    + ", each differently (their overrides differ)",
                    "leave its namespace out, so that each placement makes its own; or make it in a component "
                    "that one placement deploys"))
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


def _check_selectors(app: AppSpec, objects: list[Desired], applied: Applied) -> None:
    """An object that runs pods keeps its selector: Kubernetes cannot change it, and Pulumi would replace the
    object (every pod deleted before new ones exist). The object as it was applied may have been another
    resource's (a component that changed type: ``Applied.held_as``)."""
    problems = []
    planned = {d.key for d in objects}
    for d in objects:
        if d.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        old = applied.held_as(d.key, d.manifest, planned)
        before = applied.selectors.get(old) if old else None
        now = (d.manifest.get("spec") or {}).get("selector")
        if before is None or now == before:
            continue
        was = ((before.get("matchLabels") or {}) if isinstance(before, dict) else {}).get(NAME_LABEL)
        if not d.path and was is not None and was != app.name:
            problems.append(app.locator.problem(
                ("metadata", "name"), f"this stack deployed the application as '{was}': its {d.kind}s select their "
                f"pods by {NAME_LABEL}={was}, which Kubernetes cannot change, and renamed each would be replaced, "
                "every pod deleted before new ones exist",
                f"keep the name '{was}', or deploy '{app.name}' to another namespace from a new stack (pulumi stack "
                "init), and destroy this one once the new one serves"))
            continue
        comp = app.component(d.component) if d.component else None
        where = d.path + ("spec", "selector") if d.path else comp.path + ("type",) if comp else ("metadata", "name")
        problems.append(app.locator.problem(
            where, f"the selector of {d.kind} '{d.manifest['metadata']['name']}' "
            f"differs from the one applied ({json.dumps(before, sort_keys=True)}); Kubernetes cannot change "
            "it, and the object would be replaced, every pod deleted before new ones exist",
            "keep the selector, or give the object a new name to run the new one beside it" if d.path else
            "keep the component's type (or write the object in full with that selector, as k8s-objects), or give "
            "the component a new name to run the new one beside it"))
    if problems:
        raise ApplicationError(list(dict.fromkeys(problems)))


# Fields whose change the Kubernetes provider makes by replacing the object (deleted, then created anew), for
# the kinds the program never lets it replace; a selector is checked on its own (_check_selectors). Some of
# them Kubernetes could change in place (a StatefulSet's revisionHistoryLimit): the API server's dry run
# would take the change, and the provider would still replace the object.
REPLACED_ON = {
    "StatefulSet": ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.serviceName",
                    "spec.volumeClaimTemplates"),
    "Service": ("spec.clusterIP",),
    "PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
}
_ABSENT = object()


def _at(manifest: dict[str, Any], path: str) -> Any:
    value: Any = manifest
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _shown(value: Any) -> str:
    return "unset" if value is _ABSENT else json.dumps(value, sort_keys=True)


def made_at(app: AppSpec, d: Desired) -> tuple:
    """Where the file makes ``d``: the object written out in full, else the trait that makes it, else its
    component; the application's name for what the stack makes itself."""
    comp = app.component(d.component) if d.component else None
    trait = next((t for t in comp.traits if t.type == d.source), None) if comp else None
    return d.path or (trait.path if trait else comp.path if comp else ("metadata", "name"))


def _check_replacements(app: AppSpec, objects: list[Desired], applied: Applied) -> None:
    """A change the provider would make by replacing an object that runs pods, routes to them or holds data is
    refused (a claim's, unless a resource-update policy asks for it): compared with what the object was last
    applied from, as the provider compares."""
    problems = []
    planned = {d.key for d in objects}
    for d in objects:
        fields = REPLACED_ON.get(d.kind, ())
        if not fields or (d.kind == "PersistentVolumeClaim" and d.recreate_on):
            continue
        old = applied.held_as(d.key, d.manifest, planned)
        before = applied.inputs.get(old) if old else None
        if before is None:
            continue
        for path in fields:
            was, now = _at(before, path), _at(d.manifest, path)
            if was == now:
                continue
            data = d.kind == "PersistentVolumeClaim"
            problems.append(app.locator.problem(
                made_at(app, d) + (tuple(path.split(".")) if d.path else ()),
                f"{path} of {d.kind} '{d.manifest['metadata']['name']}' would change from {_shown(was)} to "
                f"{_shown(now)}; the Kubernetes provider makes that change by deleting the {d.kind} and creating it "
                "again" + (", and with it, under a Delete reclaim policy, its volume's data" if data else
                           ", and nothing would serve in between"),
                f"keep {path} as it was applied" + (", or ask for the claim to be recreated with a resource-update "
                                                     f"policy whose recreateFields name {path}" if data else
                                                     ", or give the object a new name to run the new one beside it")))
    if problems:
        raise ApplicationError(problems)


def _maker(app: AppSpec, d: Desired) -> tuple[str, tuple]:
    """What makes ``d`` (for a message), and where the file says so; () for what the stack makes itself."""
    if d.step:
        return f"step '{d.step}'", d.path
    if d.component:
        return f"component '{d.component}'", app.component(d.component).path + ("name",)
    return "the stack", ()


def _made_twice(app: AppSpec, d: Desired, first: Desired, what: str):
    """``d`` would make what ``first`` makes already: each would own it, and one would undo the other."""
    if d.component and first.component:
        return _collision(app, d.component, first.component, what)
    mine, path = _maker(app, d)
    other, other_path = _maker(app, first)
    if not other_path:
        return app.locator.problem(path, f"{mine} would make {what}, which the stack makes itself (the namespace "
                                         "of the application or a placement)",
                                   "leave the object out: pulumi up creates the namespace when it is missing")
    line = app.locator.line(other_path)
    where = f"{app.locator.file}:{line}" if line else app.locator.file
    return app.locator.problem(path, f"{mine} and {other} ({where}) would both make {what}",
                               "rename one of them, or leave one out")


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
        want, now = rollout.replicas[d.revision], applied.replicas.get(d.key, 0)
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
    for route in routes:
        route.ready_first = tuple(_more_traffic(route, deployments, applied))


def _more_traffic(route: Desired, deployments: list[Desired], applied: Applied) -> list[str]:
    """The Deployments that ``route`` gives a larger share of the traffic than the cluster's route does, and that
    nothing else makes the route wait for: the update leaves their pods as they are (the provider awaits only what
    it changes) or changes them only after the route. Pods that were Ready when they were applied may not be now
    (a failing probe, a crash); these must be Ready, as the cluster has them, before the route moves."""
    now, was = route_weights(route.manifest), applied.weights.get(route.key, {})
    out = []
    for d in deployments:
        # A route that sent to the Service gave every revision behind it a share: no more traffic is "more" here.
        if d.key not in applied.keys or now.get(d.revision, 0) <= was.get(d.revision, was.get("", 0)):
            continue  # new (created, then awaited, before the route), or no more traffic than it has
        if _unchanged(d, applied) or d.key not in route.depends_on:
            out.append(d.key)
    return out


def _unchanged(d: Desired, applied: Applied) -> bool:
    """Whether the update leaves ``d``'s pods as the cluster has them: held by the stack, its spec as it was last
    applied (the provider then waits for nothing of it)."""
    return d.key in applied.keys and (applied.inputs.get(d.key) or {}).get("spec") == d.manifest.get("spec")
