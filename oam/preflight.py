"""Before anything is applied: whose objects the stage would touch, what the API servers say of them, and whether
what the stage waits for is Ready.

The namespaces the stack manages, the objects a cluster holds that are not this application's (or that another
stack made), objects held twice or never recorded, what the API servers' dry runs refuse, a chart's objects held by
others, and the pods that must be Ready before a route moves. Each reads the clusters through the ``Cluster`` port
(oam.ports); the checks return the problems they find, and oam.program stops the update, with nothing changed, when
there are any.
"""
from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import pulumi

from oam.checks import made_at
from oam.cluster import ProbeError
from oam.config import StageConfig
from oam.kit.applied import Applied, cluster_of, in_cluster, route_weights, same_object
from oam.kit.context import NAME_LABEL, STACK_LABEL
from oam.kit.durations import show_duration
from oam.kit.placements import LOCAL
from oam.kit.stage import Desired
from oam.kit.workload import CLUSTER_SCOPED
from oam.ports import Clock, Cluster
from oam.registry import POLICIES
from oam.render import Plan, namespace_key
from oam.revisions import History
from oam.workflow.engine import ROLLED_BACK


INJECTION = "istio-injection"

def namespace_to_manage(app, namespace: str, applied: Applied, cfg: StageConfig, cluster: Cluster,
                        pods: bool = True, where: str = LOCAL) -> Optional[dict[str, str]]:
    """The labels of the namespace this stack creates or keeps; None when it is someone else's.

    A namespace that does not exist is created (labelled for sidecar injection unless
    sidecarInjection is false); one this stack created stays managed; any other is left
    alone, with a warning when the application's pods there (``pods``) would get no sidecar
    (then no weight applies).
    """
    labels = {INJECTION: "enabled"} if cfg.sidecar_injection else {}
    if in_cluster(where, namespace_key(app, namespace)) in applied.namespaces:
        return labels
    of = f" of cluster '{where}'" if where != LOCAL else ""
    try:
        found = cluster.namespace_labels(namespace, where)
    except ProbeError as err:
        pulumi.log.warn(f"could not check namespace '{namespace}'{of} ({err}); it is taken to exist")
        return None
    if found is None:
        return labels
    if pods and found.get(INJECTION) != "enabled" and "istio.io/rev" not in found:
        pulumi.log.warn(f"namespace '{namespace}'{of} is not labelled for Istio sidecar injection: its pods get no "
                        f"sidecar and the route weights do not apply to their traffic; to enable it: "
                        f"kubectl label namespace {namespace} {INJECTION}=enabled (then restart the pods)")
    return None


def held_by_cluster(plan: Plan, applied: Applied, cluster: Cluster) -> Optional[dict[str, Optional[dict[str, str]]]]:
    """The stage's new objects (not held by the stack), each with the labels of the object of its kind, namespace
    and name that the cluster holds, or None when it holds none; one list per kind and namespace. None when the
    cluster could not be listed."""
    found: dict[tuple, dict[str, dict[str, str]]] = {}
    held: dict[str, Optional[dict[str, str]]] = {}
    for d in plan.objects:
        if d.key in applied.keys or d.kind == "Namespace" or d.opaque:
            continue
        meta = d.manifest["metadata"]
        group = (d.manifest["apiVersion"], d.kind, meta.get("namespace"))
        if (d.cluster, *group) not in found:
            try:
                found[d.cluster, *group] = cluster.labels_by_name(*group, d.cluster or LOCAL)
            except ProbeError as err:
                pulumi.log.warn(f"could not check whether the cluster holds the application's new objects already "
                                f"({err}); any it holds are taken over")
                return None
        held[d.key] = found[d.cluster, *group].get(meta["name"])
    return held


def _host(host: str, namespace: Optional[str]) -> tuple[str, Optional[str]]:
    """A mesh host as (service, namespace): 'web', 'web.shop' and 'web.shop.svc.cluster.local' are one."""
    parts = host.split(".")
    return parts[0], parts[1] if len(parts) > 1 else namespace


def lingering(plan: Plan, applied: Applied, cfg: StageConfig) -> tuple[list[Desired], list[str]]:
    """DestinationRules that stay one more update, as applied: the stage drops them together with a route that
    names their subsets (a component, or a cluster, left out of the file). Pulumi deletes what a program no
    longer makes in the order of the edges the last update recorded, and the last update recorded a rule that
    gave up a subset after the routes (it was applied after them): the rule would go before the route, and the
    route would name a subset that is gone (503 NC) until it went too. Here the route goes in this update and the
    rule in the next. Not in a cluster the clusters config no longer names: what the stack holds there is deleted
    with the provider it recorded. Returns the rules, and a note for each."""
    planned = {d.key for d in plan.objects}
    routed: set[tuple[str, tuple[str, Optional[str]]]] = set()  # (cluster, host) a route that goes names
    for key in applied.keys - planned:
        _, kind, namespace, _ = applied.objects[key]
        if kind != "VirtualService":
            continue
        spec = (applied.manifests.get(key) or {}).get("spec") or {}
        for http in spec.get("http") or ():
            for route in (http or {}).get("route") or ():
                host = ((route or {}).get("destination") or {}).get("host")
                if host:
                    routed.add((cluster_of(key), _host(str(host), namespace)))
    out, notes = [], []
    for key in sorted(applied.keys - planned):
        _, kind, namespace, name = applied.objects[key]
        live = applied.manifests.get(key) or {}
        host = str((live.get("spec") or {}).get("host") or "")
        if kind != "DestinationRule" or not host or (cluster_of(key), _host(host, namespace)) not in routed:
            continue
        if cluster_of(key) not in (cfg.clusters or {LOCAL: None}):
            continue
        meta = live.get("metadata") or {}
        manifest = {"apiVersion": live.get("apiVersion"), "kind": kind,
                    "metadata": {k: v for k, v in (("name", name), ("namespace", namespace),
                                                   ("labels", meta.get("labels")),
                                                   ("annotations", {a: v for a, v in (meta.get("annotations")
                                                                                      or {}).items()
                                                                    if not a.startswith("pulumi.com/")}))
                                 if v},
                    "spec": live.get("spec") or {}}
        where = cluster_of(key)
        out.append(Desired(key, "", "lingering", manifest, cluster="" if where == LOCAL else where))
        notes.append(f"DestinationRule {name}{f' of cluster {where}' if where != LOCAL else ''} goes at the next "
                     "pulumi up: the route that names its subsets goes in this one, and must go first")
    return out, notes


def held_owner(applied: Applied) -> Optional[str]:
    """The mark on the objects the stack holds (the most common one), for a stack whose record has none: an update
    that failed before it could write its record left its objects marked; the next one keeps that mark."""
    marks: dict[str, int] = {}
    for manifest in applied.manifests.values():
        mark = ((manifest.get("metadata") or {}).get("labels") or {}).get(STACK_LABEL)
        if isinstance(mark, str) and mark:
            marks[mark] = marks.get(mark, 0) + 1
    return max(marks, key=lambda m: (marks[m], m)) if marks else None


def new_owner(stack: str) -> str:
    """A stack's mark for its objects: its name (as a label value allows it) and a random suffix."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", stack)[:50].strip("-_.") or "stack"
    return f"{name}.{secrets.token_hex(4)}"


def mark_owner(plan: Plan, applied: Applied, owner: str) -> None:
    """Each object the stage makes carries the stack's mark (STACK_LABEL), but one the stack holds without it (made
    before marks were kept): it stays as it is, so that an upgrade changes nothing. Namespaces are left unmarked:
    they may hold what is not ours."""
    for d in plan.objects:
        if d.kind == "Namespace":
            continue
        if d.key in applied.keys and STACK_LABEL not in ((applied.manifests.get(d.key) or {}).get("metadata")
                                                          or {}).get("labels", {}):
            continue
        meta = d.manifest["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), STACK_LABEL: owner}


def not_ours(app, plan: Plan, held: Optional[dict[str, Optional[dict[str, str]]]], owner: str = "") -> list:
    """New objects of the stage that the cluster holds already and that are not this application's, or that
    another stack made, unless a policy takes them over: a problem for each (the stack would change them, and
    delete them on destroy). ``held``: what held_by_cluster found (None: nothing could be listed, and nothing is
    refused)."""
    problems = []
    for d in plan.objects:
        labels = (held or {}).get(d.key)
        other = (labels or {}).get(STACK_LABEL)
        if labels is None or (labels.get(NAME_LABEL) == app.name and other in (None, owner)):
            continue  # none, or this application's own from this stack (or from before marks were kept): kept
        meta = d.manifest["metadata"]
        comp = app.component(d.component)
        if any(POLICIES.get(p.type).takes_over(p.properties, d, comp) for p in app.policies):
            continue
        where = f" in namespace '{meta['namespace']}'" if meta.get("namespace") else ""
        where += f" of cluster '{d.cluster}'" if d.cluster else ""
        take_over = (f"a take-over policy that selects it (resourceTypes: [{d.kind}], resourceNames: "
                     f"[{meta['name']}])")
        if other not in (None, owner):
            whose = (f"{where} belongs to another stack, '{other.rsplit('.', 1)[0]}' (label {STACK_LABEL}={other})",
                     f"deploy it from that stack, or pulumi destroy it there; to take it over on purpose, add "
                     f"{take_over}")
        else:
            whose = (f" exists already{where} and is not this application's",
                     f"to take it over, add {take_over}; otherwise rename what makes it")
        problems.append(app.locator.problem(
            d.path or (comp.path + ("name",) if comp else ("metadata", "name")),
            f"{d.kind} '{meta['name']}'{whose[0]}: the stack would take it over, change it, and delete it on "
            "pulumi destroy", whose[1]))
    return problems


def held_twice(app, plan: Plan, applied: Applied) -> list:
    """Objects the stack holds as two Pulumi resources (an earlier version made an object that two placements
    deploy twice) that the stage still makes, under one resource: deleting each other resource would delete the
    object under the one that stays. A problem for each, with how to let the stack forget the others instead."""
    planned = {d.key: d for d in plan.objects}
    made = {(cluster_of(d.key), *same_object(d.manifest)): d for d in plan.objects}
    problems = []
    for ident, keys in applied.held_twice().items():
        d = made.get(ident)
        if d is None:
            continue  # the object goes with all of them
        stays = d.key if d.key in keys else sorted(keys)[0]  # the one the stage keeps (moved to its new name)
        going = [k for k in keys if k != stays and k not in planned]
        if not going:
            continue
        where, _, kind, namespace, name = ident
        comp = app.component(d.component)
        where = (f" in namespace '{namespace}'" if namespace else "") + (f" of cluster '{where}'" if where != LOCAL
                                                                          else "")
        forget = " && ".join(f"pulumi state delete '{applied.urns.get(k, k)}'" for k in going)
        problems.append(app.locator.problem(
            comp.path + ("name",) if comp else ("metadata", "name"),
            f"{kind} '{name}'{where} is held by {len(keys)} Pulumi resources of this stack ({', '.join(keys)}; an "
            f"earlier version made it once per placement); this stage makes it once, and would delete "
            f"{', '.join(going)}, and the object with it; nothing was changed",
            f"let the stack forget the ones that go, which leaves the object in the cluster: {forget}; then "
            "pulumi up"))
    return problems


def unrecorded(app, plan: Plan, applied: Applied, history: History) -> list:
    """A record written before the objects of the components that steps deploy were kept (by an earlier version)
    cannot keep the ones the workflow has not deployed again yet: the stage would delete them. Refused, with how
    to have them recorded first (a problem; none when nothing would go)."""
    res = plan.resolution
    if history.component_objects is not None or history.release is None or not res.keeps or res.phase == ROLLED_BACK:
        return []  # recorded, a new stack, or a stage that keeps nothing (what it no longer makes goes)
    planned = {d.key for d in plan.objects}
    carried = {applied.held_as(d.key, d.manifest, planned) for d in plan.objects}  # moved to a new name: kept
    dropped = sorted(k for k in applied.keys if k not in planned and k not in carried and k not in applied.namespaces)
    if not dropped:
        return []
    more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
    at = f" (it waits at '{res.gate}')" if res.gate else ""
    return [app.locator.problem(
        ("spec", "workflow"),
        f"this stack was last updated by an earlier version of this program, which did not record the objects of the "
        f"components the workflow deploys; this stage would delete {', '.join(dropped[:3])}{more}, which the "
        f"workflow has not deployed again yet{at}; nothing was changed",
        "run pulumi up once with the file and the approvals the stack was last updated with (it changes nothing and "
        "records them), then with this one")]


def refused_by_cluster(app, plan: Plan, cluster: Cluster, digests: dict[str, str], tried: dict[str, str],
                       absent: frozenset[str] = frozenset(), missing: frozenset[tuple[str, str]] = frozenset()) -> list:
    """The stage's objects the API server would refuse, each a problem at what made it; asked before anything is
    applied, so that a refused object stops the stage with nothing changed (see cluster.dry_run). The provider
    would apply the objects before it in order and then fail, and it drops a field the server does not know.
    ``digests``: key -> digest of each object of the stage but Namespaces; one exactly as the last completed
    update applied it (``tried``, the same of that update) is not asked again. ``absent``: keys of objects the
    cluster was just listed without; ``missing``: (cluster, namespace) it does not have (neither is read again)."""
    objects = [d for d in plan.objects if d.key in digests and tried.get(d.key) != digests[d.key]]

    def ask(desired: Desired):
        try:
            return cluster.dry_run(desired.manifest, desired.cluster or LOCAL, recreate=bool(desired.recreate_on),
                                   absent=desired.key in absent,
                                   namespace_missing=(desired.cluster or LOCAL,
                                                      desired.manifest["metadata"].get("namespace")) in missing)
        except ProbeError as err:
            return err

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(ask, objects))
    unchecked = [(d, a) for d, a in zip(objects, answers) if isinstance(a, ProbeError)]
    if unchecked:
        names = ", ".join(f"{d.kind} {d.manifest['metadata']['name']}" for d, _ in unchecked[:3])
        more = f" and {len(unchecked) - 3} more" if len(unchecked) > 3 else ""
        pulumi.log.warn(f"the API server could not try {names}{more} before the update ({unchecked[0][1]}); "
                        "they are applied untried")
    problems = []
    for desired, answer in zip(objects, answers):
        if not isinstance(answer, str):
            continue
        meta = desired.manifest["metadata"]
        of = f" (cluster '{desired.cluster}')" if desired.cluster else ""
        problems.append(app.locator.problem(
            made_at(app, desired), f"Kubernetes{of} refuses the {desired.kind} '{meta['name']}' made here: {answer}",
            "nothing was applied; fix what sets the field it names"))
    return problems


POLL = 1.0  # seconds between two readings of pods that a route waits for


def chart_objects(app, applied: Applied, cluster: Cluster, owner: str):
    """Why an object of a chart may not be applied, as the provider renders it (None: it may): one the stack does
    not hold yet that the cluster holds already and that is not this application's, or that another stack made (the
    chart would take it over). Asked once per kind and namespace; one that cannot be listed is taken as free, with a
    warning, as held_by_cluster does for the program's own objects."""
    found: dict[tuple, Optional[dict[str, dict[str, str]]]] = {}

    def refused(chart: Desired, name: str, props: dict) -> Optional[str]:
        if name in applied.charted:
            return None
        meta = props.get("metadata") if isinstance(props.get("metadata"), dict) else {}
        kind, api_version = str(props.get("kind", "")), str(props.get("apiVersion", ""))
        namespace = None if kind in CLUSTER_SCOPED else (meta.get("namespace") or
                                                          chart.manifest["metadata"].get("namespace"))
        group = (chart.cluster or LOCAL, api_version, kind, namespace)
        if group not in found:
            try:
                found[group] = cluster.labels_by_name(api_version, kind, namespace, chart.cluster or LOCAL)
            except ProbeError as err:
                pulumi.log.warn(f"could not check whether the cluster holds {kind} objects of chart "
                                f"{chart.manifest['metadata']['name']} already ({err}); any it holds are taken over")
                found[group] = None
        labels = (found[group] or {}).get(str(meta.get("name")))
        other = (labels or {}).get(STACK_LABEL)
        if labels is None or (labels.get(NAME_LABEL) == app.name and other in (None, owner)):
            return None
        where = (f" in namespace '{namespace}'" if namespace else "") + (
            f" of cluster '{chart.cluster}'" if chart.cluster else "")
        whose = (f"belongs to another stack, '{other.rsplit('.', 1)[0]}' (label {STACK_LABEL}={other})"
                 if other not in (None, owner) else "is not this application's")
        return (f"component '{chart.component}': chart {chart.manifest['metadata']['name']} holds {kind} "
                f"{meta.get('name')}, which exists already{where} and {whose}: the chart was not applied, and "
                "nothing that waits for it. Next: delete that object or rename the release (releaseName), then "
                "pulumi up again")
    return refused


def endpoints_reader(cluster: Cluster):
    """How a route's wait reads a revision's endpoints (in the route's cluster); one that cannot be read is not
    waited for, with a warning, as the other readiness reads do."""
    warned: set[tuple[str, str]] = set()

    def read(namespace: str, pods: dict, services: list[str], where: str = LOCAL) -> tuple[int, int]:
        try:
            return cluster.endpoints(namespace, pods, services, where or LOCAL)
        except ProbeError as err:
            if (where, namespace) not in warned:
                warned.add((where, namespace))
                pulumi.log.warn(f"could not read the endpoints of {', '.join(services)} ({err}); routes move once "
                                "the pods are Ready, without that check")
            return 1, 1
    return read


def wait_for_ready(plan: Plan, applied: Applied, timeout: int, preview: bool, cluster: Cluster, clock: Clock,
                   back: str = "") -> Optional[str]:
    """Before anything is applied: what the stage's objects wait for, and the update leaves as it is, is Ready as
    the cluster has it now (``Desired.ready_first``): the Deployments that routes give more traffic, the pods of
    the components that changing components dependsOn or that earlier workflow steps deployed. Those pods were
    Ready when they were applied, but a pod can lose its readiness since (a failing probe, a crash), and the
    provider waits only for what it changes. A preview
    says which are not Ready now; an update waits for them up to ``timeout``. Returns why the stage stops, with
    nothing changed, when they are not Ready by then."""
    by_key = plan.by_key()
    waits: dict[str, tuple[Desired, str]] = {}  # key -> (what must be Ready, why)
    for d in plan.objects:
        for key in d.ready_first:
            first = by_key[key]
            if d.kind == "VirtualService":
                was = applied.weights.get(d.key, {})
                now = route_weights(d.manifest).get(first.revision, 0)
                why = (f"VirtualService {d.manifest['metadata']['name']} raises its share of the traffic from "
                       f"{was.get(first.revision, was.get('', 0))}% to {now}%")
            elif d.component and first.component in plan.app.component(d.component).depends_on:
                why = (f"component '{d.component}' dependsOn '{first.component}', and this stage changes its "
                       f"{d.kind} {d.manifest['metadata']['name']}")
            else:
                maker = f"'{d.component}'" if d.component else f"step '{d.step}'"
                why = (f"an earlier workflow step deployed '{first.component}', and this stage changes "
                       f"{d.kind} {_named(d, plan.app.namespace)} of {maker}, which a later step deploys")
            waits.setdefault(key, (first, why))
    if not waits:
        return None
    deadline, told = clock.monotonic() + timeout, False
    while True:
        pending, gone = {}, []
        for key, (d, why) in waits.items():
            try:
                counts = cluster.readiness(d.manifest, d.cluster or LOCAL)
            except ProbeError as err:
                pulumi.log.warn(f"could not read whether {d.kind} {d.manifest['metadata']['name']}'s pods are Ready "
                                f"({err}); applied without that check, although {why}")
                continue
            if counts is None:  # the stack holds it, the cluster does not: deleted by hand; it will not come back
                gone.append(f"{d.kind} {d.manifest['metadata']['name']} is not in the cluster (deleted outside "
                            f"pulumi?), and {why}")
            elif not counts[2]:
                pending[key] = (d, why, counts)
        if gone:
            refresh = "; run pulumi refresh (the stack then forgets it), then pulumi up makes it again first"
            if preview:
                for line in gone:
                    pulumi.log.warn(f"{line}{refresh}")
            else:
                return "; ".join(gone) + f": nothing was changed{refresh}"
        waits = {key: waits[key] for key in pending}
        if not pending:
            return None
        lines = [f"{_named(d, plan.app.namespace)}: {ready}/{wanted} pods Ready, and {why}"
                 for d, why, (ready, wanted, _) in pending.values()]
        if preview:
            for line in lines:
                pulumi.log.warn(f"{line}; pulumi up will wait up to {show_duration(timeout)} for its pods to be Ready "
                                "before it applies anything")
            return None
        if clock.monotonic() >= deadline:
            back = f", or roll back: {back}" if back else ""
            return ("; ".join(lines) + ". A route gives more traffic, and a component changes after what it "
                    "dependsOn or what earlier steps deployed, only once those pods are Ready, and these were not "
                    f"within {show_duration(timeout)} (readyTimeout, or the step's timeout): nothing was changed. "
                    f"Next: make the pods Ready (or replace them), then pulumi up again{back}")
        if not told:
            told = True
            for line in lines:
                pulumi.log.info(f"{line}: waiting for its pods to be Ready before anything is applied")
        clock.sleep(POLL)


def _named(d: Desired, home: str) -> str:
    """An object's name, with its namespace when it is not ``home`` (the application's), and its cluster."""
    ns = d.manifest["metadata"].get("namespace")
    return d.manifest["metadata"]["name"] + (f" in namespace {ns}" if ns and ns != home else "") + (
        f" of cluster {d.cluster}" if d.cluster else "")
