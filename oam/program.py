"""The Pulumi program: config and recorded state in, resources and status out.

The stack records two things. Pulumi's own state of every object says what is applied
(it is kept even for an object whose update failed half-way); ordering edges start from
it. Our ``oamState`` output (the revisions and where the release stands) is written only
by an update that applied everything: before any object is touched, the program registers
a status that says the stage failed, and only once every object has been applied does it
replace that status and the record. When an update fails, the engine keeps that early
status and the last ``oamState`` that was fully applied.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from datetime import datetime
from typing import Optional

import pulumi
from pulumi.runtime import rpc

from oam.cluster import ProbeError, permits, plural
from oam.config import StageConfig, read_stage_config
from oam.errors import ApplicationError, OamError
from oam.kit.applied import Applied, cluster_of, in_cluster, route_weights, same_object
from oam.kit.context import NAME_LABEL, STACK_LABEL
from oam.kit.durations import show_duration
from oam.kit.placements import LOCAL
from oam.kit.stage import Desired
from oam.kit.workload import CLUSTER_SCOPED
from oam.metrics import MetricSource
from oam import userdefs
from oam.model import read_application
from oam.ports import Clock, Cluster
from oam.registry import POLICIES
from oam.checks import made_at
from oam.render import Plan, component_records, namespace_key, object_namespace, policy_objects, render
from oam.resources import SKIP_AWAIT, WAIT_FOR, Application, engine_metadata
from oam.revisions import STATE_OUTPUT, History
from oam.status import failed_status, status
from oam.workflow.engine import ROLLED_BACK, resolve

READ_OUTPUTS = "pulumi:pulumi:readStackOutputs"
READ_RESOURCE_OUTPUTS = "pulumi:pulumi:readStackResourceOutputs"


def config_keys(project: str) -> set[str]:
    """The keys set in the project's config namespace (without the namespace)."""
    from pulumi.runtime import config as runtime_config

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {n.split(":", 1)[1] for n in names if n.startswith(f"{project}:")}


def read_recorded(clock: Clock) -> tuple[History, Applied, str]:
    """What this stack recorded at its last update: our history, each object as applied, and the raw history.

    Empty for a new or destroyed stack. The history is the stack's oamState output; each
    object's state is Pulumi's own record of it.
    """
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    raw = unwrap(_read(READ_OUTPUTS, {"name": name}, clock).get(STATE_OUTPUT)) or ""
    resources = unwrap(_read(READ_RESOURCE_OUTPUTS, {"stackName": name}, clock))
    try:
        history = History.from_json(raw)
    except (ValueError, TypeError, KeyError) as err:
        raise pulumi.RunError(f"the record of stack {name} cannot be read ({err}): it was written by another "
                              "version of this program; run the version that wrote it, or a newer one. "
                              "Nothing was changed") from None
    return history, Applied.from_resource_outputs(resources), raw


def _read(token: str, args: dict, clock: Clock, attempts: int = 20, pause: float = 0.25) -> dict:
    """The ``outputs`` an engine read returns.

    A file backend rewrites the checkpoint in place while an update starts, so a read can
    see a half-written file; it is tried again. It never falls back to nothing: an empty
    history would rename revisions.
    """
    for attempt in range(1, attempts + 1):
        try:
            return (pulumi.runtime.invoke(token, args).value or {}).get("outputs") or {}
        except Exception as err:  # noqa: BLE001 - the engine reports every failure as a plain Exception
            if attempt == attempts:
                raise pulumi.RunError(f"cannot read the recorded state of stack {next(iter(args.values()))}: "
                                      f"{err}; nothing was changed, run pulumi up again") from None
            clock.sleep(pause)
    return {}


def unwrap(value):
    """Drop Pulumi's secret wrappers, all the way down: the record is read here, never shown."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


INJECTION = "istio-injection"


def unreachable(cfg: StageConfig, cluster: Cluster, clusters: list[str]) -> list[str]:
    """Before anything is changed anywhere: each cluster other than the local one that the stage deploys to must
    answer. One line per cluster that does not, naming it and what failed."""
    def ask(name: str) -> Optional[str]:
        try:
            kubeconfig, context = cfg.connection(name)
        except ProbeError as err:
            return f"cluster '{name}' cannot be reached: {err}"
        try:
            cluster.probe(name)
            return None
        except ProbeError as err:
            how = ", ".join(x for x in (f"kubeconfig {kubeconfig}" if kubeconfig and "\n" not in kubeconfig else "",
                                        f"context {context}" if context else "") if x)
            return f"cluster '{name}' cannot be reached ({how or 'default kubeconfig'}): {err}"
    others = [c for c in dict.fromkeys(clusters) if c not in ("", LOCAL)]
    if not others:
        return []
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [line for line in pool.map(ask, others) if line]


@dataclasses.dataclass(frozen=True)
class Need:
    """One request the stage makes of a cluster's API server, as its authorizer sees it, and why it is made."""

    cluster: str  # LOCAL or the name of another cluster
    namespace: Optional[str]  # None: a cluster-scoped request
    verb: str
    group: str  # the API group ("" for the core one)
    resource: str
    name: Optional[str]  # the object, when the request names one (a rule's resourceNames match it)
    why: str

    @property
    def what(self) -> str:
        """The resource as kubectl names it: deployments.apps, services."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


# Kinds whose create or update the Kubernetes provider waits for (unless told to skip it), watching their objects and,
# for some, what they make; it waits for no other kind we make (measured: docs/least-privilege.md).
AWAITED = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def _group(api_version: str) -> str:
    return str(api_version).rpartition("/")[0]


def namespace_reads(app, wheres: list[tuple[str, Optional[str]]], applied: Applied) -> list[Need]:
    """What the program asks first of each namespace the stage uses (namespace_to_manage): whether it exists, with
    its labels; not asked of a namespace this stack created."""
    return [Need(where or LOCAL, ns, "get", "", "namespaces", ns, f"read whether namespace {ns} exists")
            for where, ns in dict.fromkeys(wheres)
            if ns is not None and in_cluster(where, namespace_key(app, ns)) not in applied.namespaces]


def needed_access(plan: Plan, applied: Applied, tried: dict[str, str]) -> list[Need]:
    """Every request the stage makes of the API servers that the credentials must be allowed, measured for the
    program's reads and dry runs and the provider's server-side apply, awaits and deletes (docs/least-privilege.md).

    An object the stack does not hold yet is listed (is it someone else's?) and created by an apply; one it holds
    whose manifest changed since the last completed update (``tried``: key -> digest) is read, then applied (a
    Job, or an object a resource-update policy recreates, may be deleted and created again); one it no longer
    makes is deleted, and its deletion awaited. The provider watches the objects of the kinds it awaits (AWAITED),
    and for some what they make. A route that gives a revision more traffic first reads its pods and endpoints,
    and what must be Ready before the stage is read. Objects the stage leaves as they are ask nothing."""
    needs: list[Need] = []
    planned = {d.key for d in plan.objects}
    by_key = plan.by_key()

    def add(where: str, namespace: Optional[str], verbs: tuple[str, ...], group: str, resource: str,
            name: Optional[str], why: str) -> None:
        needs.extend(Need(where, namespace, v, group, resource, name, why) for v in verbs)

    carried = set()
    for d in plan.objects:
        meta, where = d.manifest["metadata"], d.cluster or LOCAL
        name, namespace = meta["name"], meta.get("namespace")
        group, resource = _group(d.manifest["apiVersion"]), plural(d.kind)
        held = applied.held_as(d.key, d.manifest, planned)
        carried.add(held)
        if d.opaque:
            continue  # a chart: its objects are known once the provider has rendered it
        if d.kind == "Namespace":
            # The authorizer sees a request for a namespace as made in that namespace.
            if d.key not in applied.namespaces:
                add(where, name, ("create", "patch"), "", "namespaces", name, f"create Namespace {name}")
            elif ((applied.manifests.get(d.key) or {}).get("metadata") or {}).get("labels") != meta.get("labels"):
                add(where, name, ("get", "patch"), "", "namespaces", name, f"label Namespace {name}")
            continue
        if held is None:
            add(where, namespace, ("list",), group, resource, None, f"check that no one else holds {d.kind} {name}")
            add(where, namespace, ("create", "patch"), group, resource, name, f"create {d.kind} {name}")
        elif tried.get(d.key) != digest(d.manifest):
            add(where, namespace, ("get", "patch"), group, resource, name, f"apply {d.kind} {name}")
            if d.kind == "Job" or d.recreate_on:
                add(where, namespace, ("delete", "create"), group, resource, name, f"replace {d.kind} {name}")
        else:
            continue
        annotations = engine_metadata(d.manifest)["annotations"]
        if d.kind in AWAITED and annotations.get(SKIP_AWAIT) != "true":
            why = f"wait for {d.kind} {name} to be ready"
            add(where, namespace, ("list", "watch"), group, resource, None, why)
            made = (("apps", "replicasets"), ("", "pods"), ("", "persistentvolumeclaims")) if (
                d.kind == "Deployment" and WAIT_FOR not in annotations) else (
                (("", "pods"),) if d.kind in ("DaemonSet", "Job") else ())
            for made_group, made_resource in made:
                add(where, namespace, ("list", "watch"), made_group, made_resource, None, why)
        ref = d.manifest.get("roleRef") or {}
        if d.kind == "RoleBinding" and held is None and ref.get("kind") == "Role" and any(
                o.kind == "Role" and o.manifest["metadata"]["name"] == ref.get("name")
                and o.manifest["metadata"].get("namespace") == namespace and o.cluster == d.cluster
                and applied.held_as(o.key, o.manifest, planned) is None for o in plan.objects):
            # A binding may be made by who may bind its role or holds all it grants; the dry run of one whose role
            # is made in the same stage cannot tell the latter (the role is not there yet).
            add(where, namespace, ("bind",), "rbac.authorization.k8s.io", "roles", ref.get("name"),
                f"try RoleBinding {name} before its Role {ref.get('name')} exists")
        if d.kind == "VirtualService" and _raises_traffic(d, by_key, applied):
            why = f"wait for the endpoints of the pods VirtualService {name} gives more traffic"
            add(where, namespace, ("list",), "", "pods", None, why)
            add(where, namespace, ("list",), "discovery.k8s.io", "endpointslices", None, why)
    for d in plan.objects:
        for key in d.ready_first:
            first = by_key[key]
            meta = first.manifest["metadata"]
            add(first.cluster or LOCAL, meta.get("namespace"), ("get",), _group(first.manifest["apiVersion"]),
                plural(first.kind), meta["name"], f"read whether {first.kind} {meta['name']}'s pods are Ready")
    for key in sorted(applied.keys - planned - carried - applied.namespaces):
        api_version, kind, namespace, name = applied.objects[key]
        group, resource, why = _group(api_version), plural(str(kind)), f"delete {kind} {name}"
        add(cluster_of(key), namespace, ("delete", "get"), group, resource, name, why)
        add(cluster_of(key), namespace, ("list", "watch"), group, resource, None, why)
    return needs


def _raises_traffic(route: Desired, by_key: dict[str, Desired], applied: Applied) -> bool:
    """Whether applying the route waits for the endpoints of a revision it gives more traffic than the stack
    applied (the Application's endpoints gate): a Deployment or StatefulSet with pods that a Service selects."""
    now, was = route_weights(route.manifest), applied.weights.get(route.key, {})
    namespace = route.manifest["metadata"].get("namespace", "default")
    for key in route.depends_on:
        d = by_key.get(key)
        if d is None or d.kind not in ("Deployment", "StatefulSet") or not (d.manifest.get("spec") or {}).get(
                "replicas") or now.get(d.revision, 0) <= was.get(d.revision, 0):
            continue
        labels = ((d.manifest["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        if any(s.kind == "Service" and s.manifest["metadata"].get("namespace", "default") == namespace
               and (selector := (s.manifest.get("spec") or {}).get("selector"))
               and all(labels.get(k) == v for k, v in selector.items()) for s in by_key.values()):
            return True
    return False


class Access:
    """What the credentials of each cluster may do, asked of its API server once per cluster and namespace (a
    SelfSubjectRulesReview, evaluated here), the clusters in parallel; when the server says its rules are
    incomplete, what they do not grant is asked one by one (SelfSubjectAccessReview), as is a cluster-scoped
    request. A cluster that cannot be asked is not checked: a warning, and the stage goes on."""

    def __init__(self, cluster: Cluster, clock: Clock):
        self.cluster, self.clock = cluster, clock
        self.rules: dict[tuple[str, str], object] = {}  # (cluster, namespace) -> (rules, incomplete), None, error
        self.answers: dict[tuple, Optional[bool]] = {}
        self.warned: set[str] = set()
        self.seconds = 0.0
        self.requests = 0

    def ask(self, wheres) -> None:
        """Ask each (cluster, namespace) not asked yet for its rules."""
        todo = [w for w in dict.fromkeys(wheres) if w[1] and w not in self.rules]

        def one(where: tuple[str, str]):
            try:
                return self.cluster.access_rules(where[1], where[0])
            except ProbeError as err:
                return err
        start = self.clock.monotonic()
        if len(todo) == 1:  # on this thread, whose open connection the program's later reads use
            answers = [one(todo[0])]
        elif todo:
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(one, todo))
        else:
            answers = []
        self.rules.update(zip(todo, answers))
        self.requests += len(todo)
        self.seconds += self.clock.monotonic() - start

    def refused(self, needs: list[Need]) -> Optional[str]:
        """Why the stage cannot go on: a line for each verb, resource and namespace the credentials may not, with
        what needs it; None when every need is allowed (or could not be asked)."""
        self.ask([(n.cluster, n.namespace) for n in needs])
        undecided: dict[tuple, list[Need]] = {}
        missing: dict[tuple, list[Need]] = {}  # (cluster, namespace, resource) -> what it is needed for
        for n in needs:
            known = self.rules.get((n.cluster, n.namespace)) if n.namespace else None
            if isinstance(known, ProbeError) or (n.namespace and known is None):
                self._warn(n.cluster, str(known) if known is not None else
                           "the API server does not serve SelfSubjectRulesReview")
                continue
            if known is not None and permits(known[0], n.verb, n.group, n.resource, n.name):
                continue
            if known is not None and not known[1]:
                missing.setdefault((n.cluster, n.namespace, n.what), []).append(n)
            else:  # rules the server could not list in full, or a cluster-scoped request: asked exactly
                undecided.setdefault((n.cluster, n.namespace, n.verb, n.group, n.resource, n.name), []).append(n)
        for (where, namespace, *_), group_needs in self._decide(undecided).items():
            missing.setdefault((where, namespace, group_needs[0].what), []).extend(group_needs)
        pulumi.log.debug(f"access check: {self.requests} requests in {self.seconds * 1000:.0f} ms so far")
        if not missing:
            return None
        lines = []
        for (where, namespace, what), why in missing.items():
            whose = "the credentials" + (f" of cluster '{where}'" if where != LOCAL else "")
            verbs = list(dict.fromkeys(n.verb for n in why))
            verbs = verbs[0] if len(verbs) == 1 else f"{', '.join(verbs[:-1])} or {verbs[-1]}"
            # A request for a namespace is authorized as one made in that namespace: named here as its object.
            scope = (f" named '{namespace}'" if what == "namespaces" else f" in namespace '{namespace}'") if namespace \
                else ""
            reasons = list(dict.fromkeys(n.why for n in why))
            more = f" and {len(reasons) - 2} more" if len(reasons) > 2 else ""
            lines.append(f"{whose} may not {verbs} {what}{scope} (needed to {', '.join(reasons[:2])}{more})")
        return ("; ".join(lines) + ": nothing was changed. Next: grant what is missing (the Role of each namespace "
                "the stage deploys to: docs/least-privilege.md), then pulumi up again")

    def _decide(self, undecided: dict[tuple, list[Need]]) -> dict[tuple, list[Need]]:
        """The requests of ``undecided`` the API server does not allow, each asked once (SelfSubjectAccessReview)."""
        todo = [k for k in undecided if k not in self.answers]

        def one(key: tuple):
            where, namespace, verb, group, resource, name = key
            try:
                return self.cluster.may(verb, group, resource, namespace, name, where)
            except ProbeError as err:
                return err
        if todo:
            start = self.clock.monotonic()
            with ThreadPoolExecutor(max_workers=4) as pool:
                for key, answer in zip(todo, pool.map(one, todo)):
                    if isinstance(answer, ProbeError) or answer is None:
                        self._warn(key[0], str(answer) if answer is not None else
                                   "the API server does not serve SelfSubjectAccessReview")
                        answer = True
                    self.answers[key] = answer
            self.requests += len(todo)
            self.seconds += self.clock.monotonic() - start
        return {k: needs for k, needs in undecided.items() if self.answers.get(k) is False}

    def _warn(self, where: str, why: str) -> None:
        if where in self.warned:
            return
        self.warned.add(where)
        of = f" of cluster '{where}'" if where != LOCAL else ""
        pulumi.log.warn(f"could not ask the API server{of} what its credentials may do ({why}); the stage goes on "
                        "without that check")


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


def digest(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


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


def rollback_command(app, history: History, cfg: StageConfig, resolution, now: datetime) -> str:
    """The rollback a failure message offers, or "" when it would not be taken: every command printed must work.

    It is the same resolution that ``pulumi config set rollback true && pulumi up`` would make (no gate is asked:
    a rollback asks none), so a stage already rolling back, a file that rolls nothing out, or a component with no
    earlier revision to return to get no such hint.
    """
    if resolution.phase == ROLLED_BACK:
        return ""
    try:
        resolve(app, history, dataclasses.replace(cfg, rollback=True), now)
    except OamError:
        return ""
    return "pulumi config set rollback true && pulumi up"


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


EXIT_AFTER_MESSAGE = 32  # what Pulumi's Python runner exits with after a message the user can act on


def leave() -> None:
    """End the program once its report is out: all the SDK would add after a failed step is noise."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_AFTER_MESSAGE)


def report_failures(plan: Plan, cluster: Cluster, timeout: int, failed: list[tuple[Desired, Exception]],
                    back: str = "") -> None:
    """After Pulumi's own error: what did not get applied or Ready, what was left alone, what to run next."""
    nothing_else = "nothing that waits for it was changed (the routes, the revisions that give up pods)"
    next_step = "Next: fix the cause and run pulumi up again (it goes on from where the cluster is)" + (
        f", or roll back: {back}" if back else "")
    for desired, _ in failed:
        meta = desired.manifest["metadata"]
        if desired.kind not in ("Deployment", "StatefulSet"):
            pulumi.log.error(f"{desired.kind} {meta['name']} was not applied; {nothing_else}. {next_step}")
            continue
        wanted = (desired.manifest.get("spec") or {}).get("replicas")  # none: an autoscaler (or the cluster) sets them
        try:
            live = cluster.get(desired.manifest, desired.cluster or LOCAL)
            if live is None:
                pulumi.log.error(f"{desired.kind} {meta['name']} was not created (the error above says why); "
                                 f"{nothing_else}. {next_step}")
                continue
            wanted = wanted if wanted is not None else (live.get("spec") or {}).get("replicas", "?")
            ready = f"{(live.get('status') or {}).get('readyReplicas') or 0}/{wanted} pods Ready"
        except ProbeError:
            ready = "not all of its pods Ready"
        of = f" (cluster {desired.cluster})" if desired.cluster else ""
        pulumi.log.error(f"{meta['name']}{of}: {ready} when the update stopped (it waits up to "
                         f"{show_duration(timeout)}: readyTimeout, or the step's timeout); {nothing_else}. {next_step}")
    leave()


def providers(cfg: StageConfig, plan: Plan) -> dict[str, pulumi.ProviderResource]:
    """A Kubernetes provider for each cluster other than the local one that the stage deploys to, named after it.
    Its clusterIdentifier is the cluster's name: new credentials, another kubeconfig or a renamed context update
    the provider and never replace the objects."""
    names = list(dict.fromkeys(d.cluster for d in plan.objects if d.cluster))
    if not names:
        return {}
    from pulumi_kubernetes.provider import Provider  # only a stack of several clusters pays for the import

    out = {}
    for name in names:
        kubeconfig, context = cfg.connection(name)
        out[name] = Provider(f"cluster-{name}", kubeconfig=kubeconfig, context=context, cluster_identifier=name,
                             opts=pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"]))
    return out


def stack_config(root: Path) -> StageConfig:
    """The stack's config, read once: our keys, checked, and how the stack's own Kubernetes provider reaches its
    cluster (its kubeconfig and context keys). A mistake in it stops the update with its message."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    stack_file = f"stacks/Pulumi.{stack}.yaml"
    k8s = pulumi.Config("kubernetes")
    try:
        cfg = read_stage_config(pulumi.Config().get, project, root / stack_file, stack_file, config_keys(project))
    except OamError as err:
        raise pulumi.RunError(str(err)) from None
    return dataclasses.replace(cfg, kubernetes=(k8s.get("kubeconfig"), k8s.get("context")))


def run(root: Path, cfg: StageConfig, cluster: Cluster, clock: Clock, metrics: MetricSource) -> dict:
    """Validate everything, then register the resources of this stage and export its status.

    ``cluster`` answers what the program asks the clusters, ``clock`` tells the time, ``metrics`` answers the metric
    gates' queries: the entry point passes the real ones, the tests fakes.
    """
    now = clock.now()
    try:
        users = userdefs.load(list(cfg.definitions), root, lambda path: cfg.problem(
            "definitions", f"'{path}' is not a file or folder of the project",
            "pulumi config set --path 'definitions[0]' PATH, a file or folder of ComponentDefinition, "
            "TraitDefinition and PolicyDefinition objects"))
        for note in users.notes:
            pulumi.log.info(note)
        app = read_application(root / cfg.app, cfg.app)
        history, applied, recorded = read_recorded(clock)
        resolution = resolve(app, history, cfg, now, metrics=metrics, cluster=cluster)
        placed = [p.where for p in resolution.placements]
        used = [(LOCAL, object_namespace(app, o.manifest)) for o in resolution.objects]  # what steps apply themselves
        used += [(LOCAL, object_namespace(app, manifest)) for _, manifest in policy_objects(app)]  # and policies make
        used += [(o.get("cluster") or LOCAL, o.get("placement")) for o in resolution.kept]  # what stays as applied
        down = unreachable(cfg, cluster, [c for c, _ in placed + used]
                           + [r.get("cluster") or LOCAL for r in resolution.kept])
        if down:
            raise pulumi.RunError("; ".join(down) + ": nothing was changed in any cluster. Next: make it reachable "
                                  "(or fix its entry: pulumi config set --path 'clusters.NAME.kubeconfig' PATH), then "
                                  "pulumi up again")
        access = Access(cluster, clock)
        denied = access.refused(namespace_reads(app, placed + used, applied))
        if denied:
            raise pulumi.RunError(denied)
        managed = {where: namespace_to_manage(app, where[1], applied, cfg, cluster, pods=where in placed,
                                              where=where[0])
                   for where in dict.fromkeys(placed + [w for w in used if w[1] is not None])}
        plan = render(app, resolution, applied, {w: labels for w, labels in managed.items() if labels is not None})
        staying, notes = lingering(plan, applied, cfg)
        plan.objects += staying
        plan.resolution.notes += notes
        owner = history.owner or held_owner(applied) or new_owner(pulumi.get_stack())
        plan.resolution.history.owner = owner
        mark_owner(plan, applied, owner)
        denied = access.refused(needed_access(plan, applied, history.tried))
        if denied:
            raise pulumi.RunError(denied)
        held = held_by_cluster(plan, applied, cluster)
        taken = not_ours(app, plan, held, owner) + held_twice(app, plan, applied) + unrecorded(
            app, plan, applied, history)
        if taken:
            raise ApplicationError(taken)
        digests = {d.key: digest(d.manifest) for d in plan.objects if d.kind != "Namespace" and not d.opaque}
        # Known not to be there, so not read again before each dry run: objects the listing did not find, and the
        # namespaces this stack is to create (it manages them and has none of them yet: the cluster has none).
        absent = frozenset(k for k, labels in (held or {}).items() if labels is None)
        missing = frozenset(where for where, labels in managed.items()
                            if labels is not None and in_cluster(where[0], namespace_key(app, where[1]))
                            not in applied.namespaces)
        refused = refused_by_cluster(app, plan, cluster, digests, history.tried, absent, missing)
        if refused:
            raise ApplicationError(refused)
        plan.resolution.history.tried = digests  # recorded once the update completes
        plan.resolution.history.component_objects = component_records(plan)
    except OamError as err:
        raise pulumi.RunError(str(err)) from None
    for note in plan.resolution.messages + plan.resolution.notes:
        pulumi.log.warn(note)
    timeout = plan.resolution.ready_timeout or cfg.ready_timeout
    back = rollback_command(app, history, cfg, plan.resolution, now)
    failed_view = failed_status(plan, cfg, back)
    # First what a failed update leaves behind; the record itself only once everything is applied.
    pulumi.runtime.get_root_resource().register_outputs({"status": failed_view})
    stopped = wait_for_ready(plan, applied, timeout, pulumi.runtime.is_dry_run(), cluster, clock, back)
    if stopped:
        # The stack's outputs once the program stops: the status says the stage failed, the record stays as it was.
        pulumi.export("status", failed_view)
        pulumi.export(STATE_OUTPUT, pulumi.Output.secret(recorded))
        raise pulumi.RunError(stopped)
    application = Application(plan, timeout, applied, endpoints=endpoints_reader(cluster),
                              providers=providers(cfg, plan),
                              chart_object=chart_objects(app, applied, cluster, plan.resolution.history.owner))
    done = application.settled(lambda failed: report_failures(plan, cluster, timeout, failed, back))
    outputs = {"status": status(plan, cfg), STATE_OUTPUT: plan.resolution.history.to_json()}
    pulumi.export("status", done.apply(lambda ok: outputs["status"] if ok else failed_view))
    # Kept as a secret only so that `pulumi stack output` stays short: it is bookkeeping, not a secret.
    pulumi.export(STATE_OUTPUT, pulumi.Output.secret(done.apply(lambda ok: outputs[STATE_OUTPUT] if ok else recorded)))
    return outputs
