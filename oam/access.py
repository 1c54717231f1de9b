"""What a stage asks of the API servers, and whether the credentials allow it.

``needed_access`` lists every request a stage makes (the program's reads and dry runs, the provider's server-side
apply, awaits and deletes: measured, docs/least-privilege.md), as the API server's authorizer sees it; ``Access``
asks each cluster once what the credentials may do and says which requests they may not, before anything is
applied.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import pulumi

from oam.cluster import ProbeError, permits, plural
from oam.kit.applied import Applied, cluster_of, in_cluster, route_weights
from oam.kit.placements import LOCAL
from oam.kit.stage import Desired
from oam.ports import Clock, Cluster
from oam.render import Plan, namespace_key
from oam.resources import SKIP_AWAIT, WAIT_FOR, engine_metadata


def digest(manifest: dict) -> str:
    """What an object was applied from, in short: the stack records it for each object, and a stage asks again only
    of objects whose manifest changed since."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


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
