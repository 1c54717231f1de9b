"""The ordering edges of a stage: which object waits for which, so that every change is safe.

Pure, like render: each function adds to the objects' ``depends_on`` (the provider's wait for what the update
changes) and ``ready_first`` (pods the update leaves as they are, read from the cluster before it goes on).
Deployments that keep or gain traffic are Ready before a route moves to them, subsets exist before a route names
them, replicas losing traffic go only after the route has moved; a later step's or wave's pods wait for an
earlier one's, and pods for what they mount.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oam.kit.applied import Applied, route_weights
from oam.kit.placements import LOCAL
from oam.kit.stage import Desired

if TYPE_CHECKING:
    from oam.workflow.engine import Resolution


# Kinds that run pods, which routes and dependent components wait for.
RUNS_PODS = ("Deployment", "StatefulSet", "DaemonSet")
# Kinds whose pods wait for those of the components they dependsOn and of earlier workflow steps (a chart's objects).
WAITING = (*RUNS_PODS, "Job", "CronJob", "Chart")


def serves(d: Desired) -> bool:
    """Whether routes and dependents wait for ``d``: an object that runs pods, unless it is scaled to 0 (without
    a replica count, an autoscaler's or a DaemonSet's one pod per node, it has pods)."""
    if d.opaque:
        return True  # a chart: the provider waits for the pods of its objects
    replicas = (d.manifest.get("spec") or {}).get("replicas")
    return d.kind in RUNS_PODS and (not isinstance(replicas, int) or replicas > 0)


def _map(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of an object that runs pods (its CronJob's jobs' pods too); {} for one that runs none.

    Objects written in full are read here too: anything not shaped like a pod spec names nothing.
    """
    spec = _map(manifest.get("spec"))
    template = _map(_map(_map(spec.get("jobTemplate")).get("spec")).get("template")) or _map(spec.get("template"))
    return _map(template.get("spec"))


def named_by(pod: dict[str, Any]) -> set[tuple[str, str]]:
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


def wait_for_earlier_waves(res: Resolution, objects: list[Desired], applied: Applied) -> None:
    """A cluster that a later step deploys to changes once the pods of the clusters earlier steps deployed to are
    Ready in every one of them (a wave starts when the one before it has come up)."""
    first: dict[str, int] = {}  # cluster -> the number of the step that deploys it first at this stage
    for (cluster, _, _), number in res.order.items():
        first[cluster] = min(number, first.get(cluster, number))
    if len(set(first.values())) < 2:
        return
    serving = {c: [d for d in objects if (d.cluster or LOCAL) == c and serves(d)] for c in first}
    kept = {r["key"] for r in res.kept}
    for d in objects:
        where = d.cluster or LOCAL
        if where not in first or d.kind == "Namespace" or d.key in kept:
            continue
        earlier = [e for c, n in first.items() if n < first[where] for e in serving[c]]
        if earlier:
            pods_wait_for(d, earlier, applied)


def wait_for_earlier_steps(stepped: list[tuple[int, Desired]], applied: Applied) -> None:
    """Workflow steps run in order: a step that deploys components (deploy, apply-component) is done once their
    pods are Ready (KubeVela's apply waits for them to be healthy), and the next step starts then. So the pods
    of what a later step deploys are created or changed once the pods of what earlier steps deployed are Ready:
    the provider's wait for what the update changes, a reading of the cluster for what it leaves as it is."""
    serving = [(n, d) for n, d in stepped if d.kind == "Job" or serves(d)]
    by_key = {d.key: d for _, d in stepped}

    def waits_for(d: Desired, key: str, seen: set[str]) -> bool:
        """Whether ``d`` waits, through its edges, for the object ``key``."""
        for k in d.depends_on:
            if k == key or (k not in seen and k in by_key and (seen.add(k) or waits_for(by_key[k], key, seen))):
                return True
        return False

    for number, d in stepped:
        if d.kind not in WAITING:
            continue
        # An earlier step's component that dependsOn this one: its dependsOn decides, as the pods cannot wait for
        # each other.
        pods_wait_for(d, [e for n, e in serving if n < number and not waits_for(e, d.key, set())], applied)


def pods_wait_for(d: Desired, first: list[Desired], applied: Applied) -> None:
    """``d``'s pods are created or changed once the pods of ``first`` are Ready: the provider waits for those the
    update changes; those it leaves as they are are read from the cluster first, when ``d`` changes."""
    d.depends_on += [e.key for e in first if e.key not in d.depends_on]
    if not unchanged(d, applied):
        d.ready_first += tuple(e.key for e in first if e.kind in RUNS_PODS and unchanged(e, applied)
                               and e.key not in d.ready_first)


def wait_for_step_objects(objects: list[Desired], applied_by_steps: list[Desired]) -> None:
    """Pods are created or changed once what they name and a step applies exists (a claim, a Secret, ...)."""
    by_name = {(d.kind, d.manifest["metadata"].get("namespace"), d.manifest["metadata"]["name"]): d.key
               for d in applied_by_steps}
    for d in objects + applied_by_steps:
        if d.kind not in (*RUNS_PODS, "Job", "CronJob"):
            continue
        namespace = d.manifest["metadata"].get("namespace")
        keys = [by_name.get((kind, namespace, name)) for kind, name in sorted(named_by(pod_spec(d.manifest)))]
        d.depends_on += [k for k in keys if k is not None and k not in d.depends_on]


def moves(deployments: list[Desired], rollout, applied: Applied) -> tuple[list[str], list[Desired]]:
    """(keys of Deployments that keep or gain pods and serve, Deployments that lose pods), against what is applied."""
    gaining, losing = [], []
    for d in deployments:
        want, now = rollout.replicas[d.revision], applied.replicas.get(d.key, 0)
        if want > 0 and want >= now:
            gaining.append(d.key)
        elif want < now:
            losing.append(d)
    return gaining, losing


def order_routes(deployments: list[Desired], subsets: list[str], retiring: list[Desired], routes: list[Desired],
                  rollout, applied: Applied) -> None:
    """The edges between a rolled-out component's Deployments, its subsets and every route that weighs them.

    Every route (the mesh's and a gateway's) moves only once the Deployments that keep or
    gain traffic are Ready and once the subsets it names exist; Deployments that lose pods
    shrink, and subsets go, only after every route has moved. A Deployment that is no longer
    wanted is deleted by Pulumi at the end of the update, after every route has been updated.
    """
    gaining, losing = moves(deployments, rollout, applied)
    for route in routes:
        route.depends_on += gaining + subsets
    for d in losing + retiring:
        d.depends_on += [r.key for r in routes]  # replicas and subsets go only after their traffic has gone
    for route in routes:
        route.ready_first = tuple(more_traffic(route, deployments, applied))


def more_traffic(route: Desired, deployments: list[Desired], applied: Applied) -> list[str]:
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
        if unchanged(d, applied) or d.key not in route.depends_on:
            out.append(d.key)
    return out


def unchanged(d: Desired, applied: Applied) -> bool:
    """Whether the update leaves ``d``'s pods as the cluster has them: held by the stack, its spec as it was last
    applied (the provider then waits for nothing of it)."""
    return d.key in applied.keys and (applied.inputs.get(d.key) or {}).get("spec") == d.manifest.get("spec")
