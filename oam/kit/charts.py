"""A Helm chart among a component's objects: what the Kubernetes provider renders, not the program. Plain data.

A component that installs a chart makes one object of its own kind, ``helm.sh/v4`` ``Chart``: its
``metadata`` (the release's name and namespace, the labels and annotations that the component's
traits and the stack give every object) and its ``spec`` (the provider's Chart inputs: ``chart``,
``version``, ``repositoryOpts``, ``values``). The provider fetches and renders the chart, and
registers each object it holds as a resource of its own, a child of the chart; the program
never sees them before they are applied.
"""
from __future__ import annotations

from typing import Any

import yaml

CHART_API_VERSION = "helm.sh/v4"
CHART_KIND = "Chart"
CHART_TOKEN = "kubernetes:helm.sh/v4:Chart"
# The kinds of a chart's objects whose pod template the component's labels and annotations reach too.
POD_TEMPLATES = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


def is_chart(manifest: dict[str, Any]) -> bool:
    """Whether an object of the plan is a chart (the provider renders its objects) rather than one object."""
    return manifest.get("apiVersion") == CHART_API_VERSION and manifest.get("kind") == CHART_KIND


def chart_manifest(release: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The chart as an object of the plan; ``namespace`` empty: the application's."""
    meta: dict[str, Any] = {"name": release}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": CHART_API_VERSION, "kind": CHART_KIND, "metadata": meta, "spec": spec}


def stamp(kind: str, props: dict[str, Any], labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """One of a chart's objects (the provider's inputs for it) with ``labels`` and ``annotations`` on it, and on
    its pod template when it has one; the chart's own win over neither: what the component sets wins, as
    KubeVela's patch of the workload makes it win."""
    out = dict(props)
    out["metadata"] = _with(out.get("metadata"), labels, annotations)
    spec = out.get("spec")
    if kind in POD_TEMPLATES and isinstance(spec, dict) and isinstance(spec.get("template"), dict):
        template = dict(spec["template"])
        template["metadata"] = _with(template.get("metadata"), labels, annotations)
        out["spec"] = {**spec, "template": template}
    return out


def _with(meta: Any, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    meta = dict(meta) if isinstance(meta, dict) else {}
    if labels:
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    return meta


def values_text(text: str) -> Any:
    """Helm values written as YAML (a values file, a ConfigMap's key); ValueError when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(str(err).splitlines()[0]) from None
