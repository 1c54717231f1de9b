"""Building one component: its type's workload, shaped by its traits, and the object that runs its pods.

Render builds every component this way; a definition's check builds one on trial (``trial_context``,
``trial_workload``) to see what its traits make of it.
"""
from __future__ import annotations

import copy
from typing import Any, Optional

from oam.kit.context import REVISION_LABEL, ComponentContext, Workload
from oam.kit.spec import AppSpec, ComponentSpec
from oam.registry import COMPONENTS, TRAITS
from oam.revisions import Revision

# Kinds without a namespace that a component may make itself (k8s-objects).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                  "PersistentVolume", "PriorityClass", "IngressClass"}


def component_context(app: AppSpec, comp: ComponentSpec, revision: str = "") -> ComponentContext:
    """``comp`` with its type's workload and objects and every trait applied, before its revisions are known
    (``revision``: the name of the one the file makes, when known)."""
    definition = COMPONENTS.get(comp.type)
    workload = definition.workload(comp.name, definition.complete(comp.properties, app, revision))
    ctx = ComponentContext(app.name, app.namespace, comp.name, workload.ports, revision=revision)
    if workload.service is not None:
        ctx.service = ctx.service_manifest(copy.deepcopy(workload.service["ports"]), workload.service["type"])
    roles = _object_roles(workload.objects)
    for i, manifest in enumerate(workload.objects):
        obj = copy.deepcopy(manifest)
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**meta.get("labels", {}), **ctx.selector()}
        if obj["kind"] not in CLUSTER_SCOPED:
            meta.setdefault("namespace", app.namespace)
        ctx.add(roles[i], obj, after=tuple(roles[j] for j in workload.object_after.get(i, ())))
        if i < len(workload.object_paths):
            ctx.paths[roles[i]] = comp.path + ("properties", *workload.object_paths[i])
        if i == workload.main:
            ctx.main = roles[i]
        if i < len(workload.object_names) and workload.object_names[i]:
            ctx.named[workload.object_names[i]] = roles[i]
    for trait in comp.traits:
        ctx.current, before = trait.type, ctx.service
        TRAITS.get(trait.type).apply(trait.properties, ctx)
        if ctx.service is not before:
            ctx.source["service"] = trait.type
    ctx.current = ""
    # labels and annotations reach every object, whatever the order of the traits.
    for manifest in [ctx.service, *ctx.objects.values()]:
        if manifest is not None:
            meta = manifest["metadata"]
            meta["labels"] = {**meta.get("labels", {}), **ctx.labels, **ctx.selector()}
            if ctx.annotations:
                meta["annotations"] = {**meta.get("annotations", {}), **ctx.annotations}
    return ctx


def _object_roles(objects: list[dict[str, Any]]) -> list[str]:
    """The role (the end of its Pulumi name) of each object a component writes out in full: its kind, the
    namespace it names if it names one, and its name: what the file writes, whatever namespace a placement gives.

    Never its place in the list: with a new object put first, each Pulumi name would then stand for
    another object, and the engine would apply each anew and delete it under the name it had before.
    """
    roles: list[str] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        where = meta.get("namespace")
        role = "-".join([str(obj.get("kind", "object")).lower(),
                         *([str(where)] if where else []), str(meta.get("name", ""))])
        n = 2
        while role in roles:  # the same kind and name twice (another API group, say): refused elsewhere, or kept apart
            role = f"{role.rsplit('~', 1)[0]}~{n}"
            n += 1
        roles.append(role)
    return roles


def revision_workload(app: AppSpec, comp: ComponentSpec, rev: Revision,
                      current: Revision) -> tuple[Workload, list[tuple[Any, Any]]]:
    """The revision's workload and the traits that shape its pods (definition, properties): its own, stored with it."""
    definition = COMPONENTS.get(rev.type)
    if rev.n == current.n:
        props = comp.properties
        shaping = [(TRAITS.get(t.type), t.properties) for t in comp.traits if TRAITS.get(t.type).shapes_pod]
    else:
        props = definition.parse(rev.properties)
        shaping = [(TRAITS.get(t["type"]), TRAITS.get(t["type"]).parse(t["properties"])) for t in rev.traits or ()]
    return definition.workload(comp.name, definition.complete(props, app, rev.name)), shaping


def workload_object(ctx: ComponentContext, built: tuple[Workload, list], name: str, revision: str, replicas: int,
                    per_revision: bool, definition=None, props=None) -> dict[str, Any]:
    """The Deployment (or the object the component type runs its pods in) of one revision."""
    workload, shaping = built
    selector = ctx.selector() | ({REVISION_LABEL: revision} if per_revision else {})
    own_labels = {k: v for k, v in workload.labels.items() if k not in ctx.removed_labels}
    pod_labels = {**own_labels, **ctx.labels, **ctx.selector(), REVISION_LABEL: revision}
    pod_meta: dict[str, Any] = {"labels": pod_labels}
    annotations = {k: v for k, v in {**workload.annotations, **ctx.annotations}.items()
                   if k not in ctx.removed_annotations}
    if annotations:
        pod_meta["annotations"] = annotations
    pod_spec: dict[str, Any] = {"containers": [copy.deepcopy(workload.container)]}
    if workload.volumes:
        pod_spec["volumes"] = copy.deepcopy(workload.volumes)
    if workload.image_pull_secrets:
        pod_spec["imagePullSecrets"] = copy.deepcopy(workload.image_pull_secrets)
    if workload.host_aliases:
        pod_spec["hostAliases"] = copy.deepcopy(workload.host_aliases)
    # A trait's labels win over the component's own, on the workload as on its pods (as KubeVela's patch does).
    meta = ctx.metadata(name, {**own_labels, **ctx.labels, **({REVISION_LABEL: revision} if per_revision else {})})
    if annotations:
        meta["annotations"] = annotations
    template = {"metadata": pod_meta, "spec": pod_spec}
    for trait, trait_props in shaping:
        trait.patch_pod(trait_props, template, ctx)
    wrapped = definition.wrap(props, meta, template, replicas) if definition is not None else None
    if wrapped is None:
        spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template}
        if replicas is None:
            del spec["replicas"]  # an autoscaler sets them
        wrapped = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
    for trait, trait_props in shaping:
        trait.patch_workload(trait_props, wrapped, ctx)
    return wrapped


class _PodOnly:
    """A trait whose pod changes are made but whose workload changes are not (yet)."""

    def __init__(self, definition):
        self.definition = definition

    def patch_pod(self, p: Any, template: dict, ctx: ComponentContext) -> None:
        self.definition.patch_pod(p, template, ctx)

    def patch_workload(self, p: Any, manifest: dict, ctx: ComponentContext) -> None:
        pass


def trial_context(app: AppSpec, comp: ComponentSpec) -> Optional[ComponentContext]:
    """For a definition's check: ``comp``'s context once its traits have been applied (its Service and
    objects); None when a part of the component is not valid (that part's own problem is reported)."""
    if comp.properties is None or any(t.properties is None for t in comp.traits):
        return None
    try:
        return component_context(app, comp)
    except Exception:  # a part that failed its own check may not render; the check reports it
        return None


def trial_workload(app: AppSpec, comp: ComponentSpec, upto: Any) -> Optional[dict[str, Any]]:
    """For a definition's check: the object that runs ``comp``'s pods as its file's revision renders it,
    with every trait's pod changes and the workload changes of the traits listed before ``upto`` (a trait
    of ``comp``), in render's order; None when the component runs no pods or a part of it is not valid."""
    ctx = trial_context(app, comp)
    if ctx is None:
        return None
    definition = COMPONENTS.get(comp.type)
    workload = definition.workload(comp.name, definition.complete(comp.properties, app))
    if not workload.runs_pods:
        return None
    shaping, reached = [], False
    for t in comp.traits:
        reached = reached or t is upto
        trait = TRAITS.get(t.type)
        if trait.shapes_pod:
            shaping.append((_PodOnly(trait) if reached else trait, t.properties))
    replicas = ctx.replicas if ctx.replicas is not None else (None if ctx.autoscaled else 1)
    try:
        return workload_object(ctx, (workload, shaping), comp.name, f"{comp.name}-v1", replicas, False, definition,
                               comp.properties)
    except Exception:  # as above
        return None
