"""The only module that creates Pulumi resources: a Plan becomes components and children.

Children are parented by the component that owns them, never by workflow step, so a
resource's URN stays the same from stage to stage.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Callable, Optional

import pulumi
from pulumi_kubernetes._utilities import get_version as k8s_version

from oam.kit.applied import Applied, route_weights
from oam.kit.charts import CHART_TOKEN, stamp
from oam.kit.durations import show_duration
from oam.kit.stage import Desired
from oam.render import Plan

APPLICATION = "oam:index:Application"


class Component(pulumi.ComponentResource):
    """One OAM component: its Deployments, Service and routing objects."""

    def __init__(self, token: str, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(token, name, None, opts)


class Application(pulumi.ComponentResource):
    """An OAM Application at one stage of its workflow."""

    def __init__(self, plan: Plan, ready_timeout: int, applied: Optional[Applied] = None,
                 opts: Optional[pulumi.ResourceOptions] = None,
                 endpoints: Optional[Callable[..., tuple[int, int]]] = None,
                 providers: Optional[dict[str, pulumi.ProviderResource]] = None,
                 chart_object: Optional[Callable[[Desired, str, dict], Optional[str]]] = None):
        app = plan.app
        self.plan = plan
        super().__init__(APPLICATION, app.name, None, opts)
        was = moved(plan, applied or Applied(), pulumi.get_stack(), pulumi.get_project())
        owners = {name: Component(token, name, pulumi.ResourceOptions(parent=self, aliases=_was(was, name)))
                  for name, token in plan.tokens.items()}
        self.children: dict[str, pulumi.CustomResource] = {}
        wait = show_duration(ready_timeout)
        by_key = plan.by_key()
        for desired in ordered(plan.objects):
            opts = pulumi.ResourceOptions(parent=owners.get(desired.owner, self),
                                          depends_on=[self.children[k] for k in desired.depends_on],
                                          aliases=_was(was, desired.key),
                                          provider=(providers or {}).get(desired.cluster) if desired.cluster else None)
            if desired.kind == "Namespace" or desired.retain:
                # pulumi destroy never deletes a namespace: it may hold objects that are not ours.
                opts.retain_on_delete = True
            if desired.ignore_changes:
                opts.ignore_changes = list(desired.ignore_changes)
            if desired.recreate_on:
                # The same name: the old object goes before the new one is created.
                opts.replace_on_changes, opts.delete_before_replace = list(desired.recreate_on), True
            if desired.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
                # How long the provider waits for the pods to be Ready (a Job: complete), on create and on update.
                opts.custom_timeouts = pulumi.CustomTimeouts(create=wait, update=wait)
            if desired.kind == "Job":
                opts.delete_before_replace = True  # its pod template cannot change: a new one replaces it, same name
            if desired.opaque:
                self.children[desired.key] = _chart(desired, opts, wait, chart_object)
                continue
            gate = None
            if endpoints is not None and desired.kind in ROUTES:
                gate = self._endpoints_gate(desired, by_key, endpoints, ready_timeout,
                                            (applied or Applied()).weights.get(desired.key, {}))
            self.children[desired.key] = _resource(desired, opts, gate)
        for owner in owners.values():
            owner.register_outputs({})
        self.register_outputs({})

    def _endpoints_gate(self, route: Desired, by_key: dict[str, Desired],
                        endpoints: Callable[..., tuple[int, int]],
                        timeout: int, was: dict[str, int]) -> Optional[pulumi.Output]:
        """What a route waits for once the Deployments it sends to are Ready: their pods listed as ready endpoints
        of the Services that select them, as istiod reads them (the endpoint controller writes them a moment after
        the pods are Ready; a route moved in between sends its share to no endpoint: 503 UH).

        Only the revisions whose share the route raises (``was``: the weights the stack applied last) are waited
        for: one whose share stays serves as it did. None when there is none. The wait is an Output the route's
        metadata resolves through, so the route is applied only after it; a preview does not wait."""
        now = route_weights(route.manifest)
        waits = []
        for key in route.depends_on:
            d = by_key.get(key)
            if d is None or d.kind not in ("Deployment", "StatefulSet") or not (d.manifest.get("spec") or {}).get(
                    "replicas"):
                continue
            if now.get(d.revision, 0) <= was.get(d.revision, 0):
                continue  # its share does not grow
            labels = ((d.manifest["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            namespace = d.manifest["metadata"].get("namespace", "default")
            services = [s.manifest["metadata"]["name"] for s in by_key.values() if s.kind == "Service"
                        and s.manifest["metadata"].get("namespace", "default") == namespace
                        and _selects((s.manifest.get("spec") or {}).get("selector"), labels)]
            if services:
                pods = dict((d.manifest["spec"].get("selector") or {}).get("matchLabels") or labels)
                waits.append((key, d.manifest["metadata"]["name"], namespace, pods, services))
        if not waits:
            return None

        def wait_all() -> bool:
            deadline = time.monotonic() + timeout
            for key, name, namespace, pods, services in waits:
                while True:
                    ready, served = (endpoints(namespace, pods, services, route.cluster) if route.cluster
                                     else endpoints(namespace, pods, services))
                    if ready and served >= ready:
                        break
                    if time.monotonic() >= deadline:
                        message = (f"{route.kind} {route.manifest['metadata']['name']} was not applied: {name}'s "
                                   f"{ready} Ready pods are {served} ready endpoints of {', '.join(services)} after "
                                   f"{show_duration(timeout)}; the route moves only once the mesh can reach them")
                        pulumi.log.error(message)
                        raise RuntimeError(message)
                    time.sleep(ENDPOINTS_POLL)
            return True

        async def gate(_urns) -> bool:
            if pulumi.runtime.is_dry_run():
                return True
            return await asyncio.get_running_loop().run_in_executor(None, wait_all)

        return pulumi.Output.all(*[self.children[key].urn for key, *_ in waits]).apply(gate)

    def settled(self, on_failure: Callable[[list[tuple[Desired, Exception]]], None]) -> pulumi.Output[bool]:
        """True once every object of the stage has been applied; False (after ``on_failure``) if any failed.

        Each resource's URN resolves only when the engine has finished its step, Ready wait
        included, and fails when that step (or one it depends on) failed. ``on_failure`` gets
        the objects that failed themselves, not those that only waited for one that did.
        """
        by_key = self.plan.by_key()

        async def wait() -> bool:
            settled: dict[str, bool] = {}
            failed = []
            for key, child in self.children.items():  # in dependency order: a cause before what waited for it
                try:
                    await child.urn.future()
                    settled[key] = True
                except Exception as err:  # noqa: BLE001 - the SDK reports a failed step as a plain Exception
                    settled[key] = False
                    desired = by_key[key]
                    if all(settled.get(dep, False) for dep in desired.depends_on):
                        failed.append((desired, err))  # its own failure, not one it waited on
            if not all(settled.values()):
                on_failure(failed)
            return all(settled.values())

        return pulumi.Output.from_input(wait())


# Annotations that tell the Kubernetes provider how to apply and await our objects.
WAIT_FOR = "pulumi.com/waitFor"
# The program is the only writer of its objects: a field someone changed by hand (kubectl
# scale, edit, patch) is taken back on the next update instead of failing it with a
# server-side apply conflict.
PATCH_FORCE = "pulumi.com/patchForce"
# Deleted in the background: an object goes at once and what it owns (a Deployment's pods)
# after it. Foreground deletion would wait for the garbage collector, which learns of a new
# kind (a DestinationRule) only on its next discovery, tens of seconds later; and nothing
# waits on a deleted object's pods: it is deleted only once no route names it.
DELETION = "pulumi.com/deletionPropagationPolicy"
# A Service is not awaited: the provider would wait for its endpoints and then 10 s more for
# them to settle. Every route to it waits for the Deployments that serve it instead (render).
SKIP_AWAIT = "pulumi.com/skipAwait"


def ready_when(replicas: int) -> str:
    """What the provider waits for after creating or updating a Deployment or StatefulSet: every wanted pod
    updated and Ready.

    The provider's own wait can report a scale-up done while the new pod is still Pending
    (it reads the rollout's conditions, which a change of replicas alone does not reset), and
    its StatefulSet wait does not compare the status's observedGeneration with the object's
    generation, so it can pass on the status of the template before; these counts are checked
    against the current generation. Both kinds count the pods of the current template in
    ``updatedReplicas``.
    """
    return json.dumps([f"jsonpath={{.status.{field}}}={replicas}"
                       for field in ("replicas", "updatedReplicas", "readyReplicas")])


def engine_metadata(m: dict) -> dict:
    """The manifest's metadata with the annotations that tell the provider how to apply and await it."""
    extra = {PATCH_FORCE: "true", DELETION: "background"}
    if m["kind"] in ("Service", "PersistentVolumeClaim", "Ingress"):
        # A claim is not awaited either: a pod that mounts it is not Ready until it is bound, and a
        # claim that binds only for its first pod would wait for the pods that wait for it. Nor an
        # Ingress: the provider would wait for its controller to publish an address, which some never
        # do; what it routes to is Ready before it is applied (render).
        extra[SKIP_AWAIT] = "true"
    if m["kind"] in ("Deployment", "StatefulSet"):
        # At 0 pods there is nothing to be Ready and nothing waits for the pods to go (a
        # scale-down comes after its traffic has left); the provider's own wait would take ~10 s,
        # and the counts above would never match (a status leaves out the ones at 0).
        spec = m.get("spec") or {}  # none: an object written in full that a take-over policy takes as it is
        if "replicas" in spec:
            extra.update({WAIT_FOR: ready_when(spec["replicas"])} if spec["replicas"] > 0 else {SKIP_AWAIT: "true"})
        # Without replicas (an autoscaler sets them) the provider's own wait for the rollout applies.
    return {**m["metadata"], "annotations": {**m["metadata"].get("annotations", {}), **extra}}


ROUTES = ("VirtualService",)  # the objects that send traffic to pods by subset, whose endpoints istiod reads
ENDPOINTS_POLL = 0.1  # seconds between two reads of a revision's endpoints


def _selects(selector: Optional[dict], labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _resource(d: Desired, opts: pulumi.ResourceOptions, gate: Optional[pulumi.Output] = None) -> pulumi.CustomResource:
    """The object as the provider's resource of its kind: type ``kubernetes:<group/version>:<Kind>``.

    Registered as a plain CustomResource with the provider's type and version, exactly the
    properties the provider's typed class for the kind would send (a Secret's data as a
    secret). The typed classes are not used: importing their modules took about 0.7 s of
    every pulumi up, for types the manifests do not need.
    """
    m = d.manifest
    metadata = engine_metadata(m)
    props = {"apiVersion": m["apiVersion"], "kind": m["kind"],
             "metadata": metadata if gate is None else gate.apply(lambda _: metadata),
             **{k: v for k, v in m.items() if k not in ("apiVersion", "kind", "metadata")}}
    extra = pulumi.ResourceOptions(version=k8s_version())
    if (m["apiVersion"], m["kind"]) == ("v1", "Secret"):
        for key in ("data", "stringData"):
            if props.get(key) is not None:
                props[key] = pulumi.Output.secret(props[key])
        extra.additional_secret_outputs = ["data", "stringData"]
    return pulumi.CustomResource(type_token(m), d.key, props,
                                 pulumi.ResourceOptions.merge(opts, extra))


def _chart(d: Desired, opts: pulumi.ResourceOptions, wait: str,
           refused: Optional[Callable[[Desired, str, dict], Optional[str]]] = None) -> pulumi.Resource:
    """A Helm chart as the provider's Chart component: the provider fetches and renders it, and registers each of
    its objects as a child. Each child carries the chart object's labels and annotations (the component's and its
    traits', the stack's mark) and the annotations that tell the provider how to apply it; the provider waits for
    the pods of each up to the ready timeout. The Chart is done once every child is: what waits for it waits for
    its pods. ``refused`` says why one of its objects may not be applied (someone else's), or None."""
    m = d.manifest
    meta, spec = m["metadata"], m.get("spec") or {}
    labels, annotations = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})

    def child(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
        if not args.type_.startswith("kubernetes:") or args.type_ == CHART_TOKEN or "kind" not in args.props:
            return None  # not one of the chart's objects
        kind = args.type_.rsplit(":", 1)[-1]
        why = refused(d, args.name, dict(args.props)) if refused is not None else None
        if why:
            pulumi.log.error(why)
            # The engine quotes the exception after its own words: kept short, the message above says it all.
            raise RuntimeError(f"{kind} {args.name.rsplit('/', 1)[-1]} is someone else's (see above)")
        props = stamp(kind, dict(args.props), labels, annotations)
        # How the provider applies and awaits it, as for the program's own objects of its kind.
        spec = dict(props["spec"]) if isinstance(props.get("spec"), dict) else {}
        if isinstance(spec.get("replicas"), float) and spec["replicas"].is_integer():
            spec["replicas"] = int(spec["replicas"])  # the engine hands numbers over as floats
        props["metadata"] = engine_metadata({"kind": kind, "metadata": props["metadata"], "spec": spec})
        timeouts = pulumi.CustomTimeouts(create=wait, update=wait) if kind in RUNS_PODS else None
        return pulumi.ResourceTransformResult(props, pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(custom_timeouts=timeouts)))

    props = {"chart": spec["chart"], "name": meta["name"], "resourcePrefix": d.key,
             **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
             **{k: spec[k] for k in ("version", "repositoryOpts", "values") if k in spec}}
    extra = pulumi.ResourceOptions(version=k8s_version(), transforms=[child])
    return pulumi.ComponentResource(CHART_TOKEN, d.key, props, pulumi.ResourceOptions.merge(opts, extra),
                                    remote=True)


RUNS_PODS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def type_token(manifest: dict) -> str:
    """The provider's type of an object: ``kubernetes:<group/version>:<Kind>``."""
    group_version = "core/v1" if manifest["apiVersion"] == "v1" else manifest["apiVersion"]
    return f"kubernetes:{group_version}:{manifest['kind']}"


def moved(plan: Plan, applied: Applied, stack: str, project: str) -> dict[str, str]:
    """The Pulumi resources of the stage that the stack holds under another URN: resource name -> that URN.

    A component whose type changes (webservice to worker) gets a component resource of
    another type, so its objects' URNs change although the objects stay the same; so does an
    object that moves to another component, or to another version of its API (a URN names
    the provider type, version included). Under a new URN, Pulumi would apply the object
    again, then delete it under the old one: the running Deployment would go. Each such
    resource is given its old URN as an alias, and the stack moves it in place (which object
    is the same one: ``Applied.held_as``).
    """
    root = f"urn:pulumi:{stack}::{project}::"
    planned = {d.key for d in plan.objects}
    out: dict[str, str] = {}
    for d in plan.objects:
        old = applied.held_as(d.key, d.manifest, planned)
        if old is None or old not in applied.urns:
            continue
        token = plan.tokens.get(d.owner)
        chain = f"{APPLICATION}${token}" if token else APPLICATION
        if applied.urns[old] != f"{root}{chain}${type_token(d.manifest)}::{d.key}":
            out[d.key] = applied.urns[old]
    for name, token in plan.tokens.items():
        urn = applied.components.get(name)
        if urn is not None and urn != f"{root}{APPLICATION}${token}::{name}":
            out[name] = urn
    return out


def _was(moved: dict[str, str], name: str) -> Optional[list[str]]:
    return [moved[name]] if name in moved else None


def ordered(objects: list[Desired]) -> list[Desired]:
    """Objects in an order where each comes after everything it depends on."""
    by_key = {d.key: d for d in objects}
    done: dict[str, Desired] = {}
    visiting: set[str] = set()

    def visit(d: Desired) -> None:
        if d.key in done:
            return
        if d.key in visiting:
            raise RuntimeError(f"dependency cycle at {d.key}")
        visiting.add(d.key)
        for k in d.depends_on:
            visit(by_key[k])
        visiting.discard(d.key)
        done[d.key] = d

    for d in objects:
        visit(d)
    return list(done.values())
