"""The only module that creates Pulumi resources: a Plan becomes components and children.

Children are parented by the component that owns them, never by workflow step, so a
resource's URN stays the same from stage to stage.
"""
from __future__ import annotations

import json
from typing import Callable, Optional

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes._utilities import get_version as k8s_version

from oam.durations import show_duration
from oam.render import Plan
from oam.stage import Desired


class Component(pulumi.ComponentResource):
    """One OAM component: its Deployments, Service and routing objects."""

    def __init__(self, token: str, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(token, name, None, opts)


class Application(pulumi.ComponentResource):
    """An OAM Application at one stage of its workflow."""

    def __init__(self, plan: Plan, ready_timeout: int, opts: Optional[pulumi.ResourceOptions] = None):
        app = plan.app
        self.plan = plan
        super().__init__("oam:index:Application", app.name, None, opts)
        owners = {name: Component(token, name, pulumi.ResourceOptions(parent=self))
                  for name, token in plan.tokens.items()}
        self.children: dict[str, pulumi.CustomResource] = {}
        wait = show_duration(ready_timeout)
        for desired in ordered(plan.objects):
            opts = pulumi.ResourceOptions(parent=owners.get(desired.owner, self),
                                          depends_on=[self.children[k] for k in desired.depends_on])
            if desired.kind == "Namespace" or desired.retain:
                # pulumi destroy never deletes a namespace: it may hold objects that are not ours.
                opts.retain_on_delete = True
            if desired.ignore_changes:
                opts.ignore_changes = list(desired.ignore_changes)
            if desired.kind in ("Deployment", "Job"):
                # How long the provider waits for the pods to be Ready (a Job: complete), on create and on update.
                opts.custom_timeouts = pulumi.CustomTimeouts(create=wait, update=wait)
            if desired.kind == "Job":
                opts.delete_before_replace = True  # its pod template cannot change: a new one replaces it, same name
            self.children[desired.key] = _resource(desired, opts)
        for owner in owners.values():
            owner.register_outputs({})
        self.register_outputs({})

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
    """What the provider waits for after creating or updating a Deployment: every wanted pod updated and Ready.

    The provider's own wait can report a scale-up done while the new pod is still Pending
    (it reads the rollout's conditions, which a change of replicas alone does not reset);
    these counts are checked against the Deployment's current generation.
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
    if m["kind"] == "Deployment":
        # At 0 pods there is nothing to be Ready and nothing waits for the pods to go (a
        # scale-down comes after its traffic has left); the provider's own wait would take ~10 s.
        if "replicas" in m["spec"]:
            extra.update({WAIT_FOR: ready_when(m["spec"]["replicas"])} if m["spec"]["replicas"] > 0 else
                         {SKIP_AWAIT: "true"})
        # Without replicas (an autoscaler sets them) the provider's own wait for the rollout applies.
    return {**m["metadata"], "annotations": {**m["metadata"].get("annotations", {}), **extra}}


# The provider's typed resource for each built-in kind we make: (module path, class, fields besides metadata).
# Anything else (Istio's kinds) is a CustomResource. Modules are imported on first use.
TYPED = {
    ("apps/v1", "Deployment"): ("apps.v1", "Deployment", ("spec",)),
    ("v1", "Service"): ("core.v1", "Service", ("spec",)),
    ("v1", "Namespace"): ("core.v1", "Namespace", ()),
    ("v1", "ConfigMap"): ("core.v1", "ConfigMap", ("data", "binary_data")),
    ("v1", "Secret"): ("core.v1", "Secret", ("data", "string_data", "type")),
    ("v1", "PersistentVolumeClaim"): ("core.v1", "PersistentVolumeClaim", ("spec",)),
    ("v1", "ServiceAccount"): ("core.v1", "ServiceAccount", ("automount_service_account_token", "image_pull_secrets",
                                                            "secrets")),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.v1", "Role", ("rules",)),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.v1", "RoleBinding", ("role_ref", "subjects")),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("rbac.v1", "ClusterRole", ("rules", "aggregation_rule")),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("rbac.v1", "ClusterRoleBinding", ("role_ref", "subjects")),
    ("networking.k8s.io/v1", "Ingress"): ("networking.v1", "Ingress", ("spec",)),
    ("autoscaling/v1", "HorizontalPodAutoscaler"): ("autoscaling.v1", "HorizontalPodAutoscaler", ("spec",)),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling.v2", "HorizontalPodAutoscaler", ("spec",)),
    ("batch/v1", "Job"): ("batch.v1", "Job", ("spec",)),
    ("batch/v1", "CronJob"): ("batch.v1", "CronJob", ("spec",)),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def _resource(d: Desired, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    m = d.manifest
    metadata = engine_metadata(m)
    typed = TYPED.get((m["apiVersion"], m["kind"]))
    rest = {k: v for k, v in m.items() if k not in ("apiVersion", "kind", "metadata")}
    if typed is None and "/" in m["apiVersion"] and set(rest) <= {"spec"}:
        return k8s.apiextensions.CustomResource(d.key, api_version=m["apiVersion"], kind=m["kind"],
                                                metadata=metadata, spec=m.get("spec"), opts=opts)
    if typed is None:
        # Any other kind (a k8s-objects component's Role, say), under the provider's own type for it.
        group_version = "core/v1" if m["apiVersion"] == "v1" else m["apiVersion"]
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s_version()))
        return pulumi.CustomResource(f"kubernetes:{group_version}:{m['kind']}", d.key,
                                     {"apiVersion": m["apiVersion"], "kind": m["kind"], "metadata": metadata, **rest},
                                     opts)
    module, cls, fields = typed
    target = k8s
    for part in module.split("."):
        target = getattr(target, part)
    args = {f: m[_camel(f)] for f in fields if _camel(f) in m}
    return getattr(target, cls)(d.key, metadata=metadata, opts=opts, **args)


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
