"""helm: a Helm chart from a chart repository, an OCI registry or a folder, rendered by the Kubernetes provider.

KubeVela's helm component (its FluxCD addon) makes a HelmRelease that Flux's controllers fetch, render and
install in the cluster. Here the Kubernetes provider does it at each ``pulumi up``: it fetches the chart,
renders it with Helm's library, and applies each of its objects as a resource of the stack, which a preview
shows and a diff compares like any other. Nothing runs in the cluster, and nothing is reconciled between two
updates: the intervals and retries of the controllers are accepted and have nothing to do.
"""
from __future__ import annotations

import base64
import copy
import os
from typing import Any, Literal, Optional

from pydantic import Field

from oam.errors import excerpt
from oam.kit.charts import chart_manifest, repository_chart_file, values_text
from oam.kit.context import Workload
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, ComponentType


class ValuesFrom(OamModel):
    kind: Literal["Secret", "ConfigMap"] = Field(description="Kind of the object that holds the values")
    name: str = Field(description="Its name; it is an object of this application (a k8s-objects component)")
    values_key: str = Field("values.yaml", description="The key of its data that holds the values")
    target_path: Optional[str] = Field(None, description="Where a single value goes in the values (dotted path); "
                                                         "without it the key holds YAML merged at the top")
    optional: bool = Field(False, description="Accepted; the object must be in the file either way")


class HelmProperties(OamModel):
    repo_type: Literal["helm", "oci", "git", "oss"] = Field("helm", description="Where the chart is: a Helm chart "
                                                                               "repository or an OCI registry")
    url: Optional[str] = Field(None, description="The repository's URL (http(s):// or oci://); leave it out for "
                                                 "a chart in a folder of the project")
    chart: str = Field(description="The chart's name in the repository, or the path of its folder in the project")
    version: str = Field("*", description="The chart's version, or a range of versions; '*': the latest")
    target_namespace: Optional[str] = Field(None, description="The namespace of the chart's objects (default: the "
                                                              "application's)")
    release_name: Optional[str] = Field(None, description="The release's name (default: the component's name, "
                                                          "after targetNamespace and a '-' when that is given)")
    values: dict[str, Any] = Field(default_factory=dict, description="Values for the chart")
    values_from: list[ValuesFrom] = Field(default_factory=list, description="Values held by ConfigMaps or Secrets "
                                                                            "of this application")
    values_files: list[str] = Field(default_factory=list, description="Values files inside the chart, merged in "
                                                                      "order over its default values (a chart of "
                                                                      "a repository is fetched to read them)")
    secret_ref: Optional[str] = Field(None, description="Refused: credentials read from a Secret in the cluster")
    source_name: Optional[str] = Field(None, description="Refused: a Flux source that exists in the cluster")
    git: Optional[dict[str, Any]] = Field(None, description="Refused: a chart in a Git repository")
    oss: Optional[dict[str, Any]] = Field(None, description="Refused: a chart in a bucket")
    helmrepository: Optional[dict[str, Any]] = Field(None, description="The repository's OIDC provider: accepted "
                                                                       "for 'generic' only")
    pull_interval: str = Field("5m", description="Accepted: each pulumi up fetches the chart again")
    interval: str = Field("30s", description="Accepted: each pulumi up renders the release again")
    timeout: Optional[str] = Field(None, description="Accepted: the provider's own fetch timeout applies")
    install_timeout: str = Field("10m", description="Accepted: readyTimeout bounds the wait for the chart's pods")
    retries: int = Field(3, description="Accepted: a failed pulumi up is run again by the user")
    upgrade_crd: bool = Field(False, alias="upgradeCRD", description="Accepted: the chart's CRDs are applied like its other objects")


def is_local(p: HelmProperties) -> bool:
    return not p.url


def release_name(name: str, p: HelmProperties) -> str:
    """Flux's name for the release of a HelmRelease named after the component."""
    if p.release_name:
        return p.release_name
    return f"{p.target_namespace}-{name}" if p.target_namespace else name


def chart_ref(p: HelmProperties) -> dict[str, Any]:
    """The provider's Chart inputs that say where the chart is."""
    if is_local(p):
        return {"chart": p.chart}
    if p.repo_type == "oci":
        return {"chart": f"{p.url.rstrip('/')}/{p.chart}"}
    spec: dict[str, Any] = {"chart": p.chart, "repositoryOpts": {"repo": p.url}}
    return spec


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: maps merge key by key, anything else in ``over`` replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def at_path(path: str, value: Any) -> dict[str, Any]:
    """``{a: {b: value}}`` for ``a.b`` (Flux's targetPath; a '\\.' is a dot inside a key)."""
    keys = [k.replace("\0", ".") for k in path.replace("\\.", "\0").split(".")]
    out: Any = value
    for key in reversed(keys):
        out = {key: out}
    return out


def object_data(obj: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's data as text."""
    data = {k: str(v) for k, v in (obj.get("stringData") or {}).items()}
    for key, value in (obj.get("data") or {}).items():
        if obj.get("kind") == "Secret":
            try:
                value = base64.b64decode(str(value)).decode()
            except (ValueError, UnicodeDecodeError):
                continue
        data.setdefault(key, str(value))
    return data


def objects_in_file(app) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> the ConfigMaps and Secrets the application's k8s-objects components write in full."""
    out = {}
    for comp in app.components:
        for obj in (comp.raw_properties.get("objects") or []) if comp.type == "k8s-objects" else ():
            if isinstance(obj, dict) and obj.get("kind") in ("ConfigMap", "Secret"):
                out[obj["kind"], str((obj.get("metadata") or {}).get("name"))] = obj
    return out


def chart_values(p: HelmProperties, app) -> tuple[dict[str, Any], list[tuple[tuple, str, str]]]:
    """The values the release is rendered with: the files named, then valuesFrom in order, then ``values``
    (Flux's order); and the problems, as (path under properties, message, hint)."""
    values: dict[str, Any] = {}
    problems = []
    for i, name in enumerate(p.values_files):
        found, why = values_file(p, name)
        if why:
            problems.append((("valuesFiles", i), why, "name a values file that the chart's folder holds" if is_local(p)
                             else ""))
        elif not isinstance(found, dict):
            problems.append((("valuesFiles", i), f"{name} does not hold a map of values", ""))
        else:
            values = merge(values, found)
    held = objects_in_file(app) if p.values_from else {}
    for i, ref in enumerate(p.values_from):
        obj = held.get((ref.kind, ref.name))
        if obj is None:
            problems.append((("valuesFrom", i), f"{ref.kind} '{ref.name}' is not an object of this application: "
                             "its values would be read from the cluster by Flux's controller, which this program "
                             "does not run", "write the values under values, or add the "
                                             f"{ref.kind} to a k8s-objects component of this file"))
            continue
        text = object_data(obj).get(ref.values_key)
        if text is None:
            problems.append((("valuesFrom", i, "valuesKey"), f"{ref.kind} '{ref.name}' has no key "
                             f"'{ref.values_key}'", "name a key of its data"))
            continue
        if ref.target_path:
            values = merge(values, at_path(ref.target_path, text))
            continue
        try:
            found = values_text(text)
        except ValueError as err:
            problems.append((("valuesFrom", i), f"{ref.kind} '{ref.name}' key '{ref.values_key}' is not YAML "
                             f"({err})", ""))
            continue
        if not isinstance(found, dict):
            problems.append((("valuesFrom", i), f"{ref.kind} '{ref.name}' key '{ref.values_key}' does not hold a "
                             "map of values", "give targetPath for a single value"))
            continue
        values = merge(values, found)
    return merge(values, p.values), problems


def values_file(p: HelmProperties, name: str) -> tuple[Any, str]:
    """A values file of a chart in a folder of the project: (its values, "") or (None, why not)."""
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        return None, f"{excerpt(name)} is not a path inside the chart"
    if not is_local(p):
        if p.repo_type == "oci":
            return None, ("a values file inside a chart of an OCI registry is not read here (the provider renders "
                          "the chart with its own values.yaml and the values given)")
        text, why = repository_chart_file(p.url, p.chart, p.version, name)
        if text is None:
            return None, why
        try:
            return values_text(text), ""
        except ValueError as err:
            return None, f"{name} of chart {p.chart} is not YAML ({err})"
    path = os.path.join(p.chart, name)
    try:
        with open(path, encoding="utf-8") as f:
            return values_text(f.read()), ""
    except OSError:
        return None, f"the chart's folder {p.chart} has no {name}"
    except ValueError as err:
        return None, f"{path} is not YAML ({err})"


REFUSED = {
    "secret_ref": ("secretRef", "the repository's credentials would be read from a Secret in the cluster",
                   "give a repository this machine may read, or pull the chart into a folder of the project"),
    "source_name": ("sourceName", "it names a Flux source that exists in the cluster",
                    "give the repository's url"),
}


@COMPONENTS.register
class Helm(ComponentType):
    """Install a Helm chart from a chart repository, an OCI registry or a folder of the project."""

    name = "helm"
    Properties = HelmProperties
    token = "oam:component:HelmChart"
    rolls_out = False
    offers = frozenset()  # its pods are the chart's: only labels and annotations reach them
    runs = "the objects of its chart"

    def check(self, comp, app, _):
        p: HelmProperties = comp.properties
        at = comp.path + ("properties",)
        problems = []
        for field, (key, why, hint) in REFUSED.items():
            if getattr(p, field) is not None:
                problems.append(app.locator.problem(at + (key,), f"is not supported: {why}", hint))
        refusals = len(problems)  # what follows says whether the chart can be found at all
        if p.repo_type in ("git", "oss"):
            problems.append(app.locator.problem(
                at + ("repoType",), f"repoType '{p.repo_type}' is not supported: the Kubernetes provider fetches "
                "charts from a Helm chart repository or an OCI registry, or reads them from a folder",
                "publish the chart to a chart repository, or keep it in a folder of the project (leave url out)"))
        if (p.helmrepository or {}).get("provider", "generic") != "generic":
            problems.append(app.locator.problem(at + ("helmrepository", "provider"),
                                                "only the generic provider is supported",
                                                "give a repository this machine may read"))
        if is_local(p):
            if p.repo_type != "helm":
                problems.append(app.locator.problem(at + ("url",), f"repoType '{p.repo_type}' needs a url"))
            elif os.path.isabs(p.chart) or not os.path.isfile(os.path.join(p.chart, "Chart.yaml")):
                problems.append(app.locator.problem(
                    at + ("chart",), f"{excerpt(p.chart)} is not a chart folder of the project (no Chart.yaml there)",
                    "without url, chart is the path of a chart's folder, relative to the project (where "
                    "Pulumi.yaml is); with url, the chart's name in that repository"))
        else:
            scheme = "oci://" if p.repo_type == "oci" else ("http://", "https://")
            if not p.url.startswith(scheme):
                want = "oci://" if p.repo_type == "oci" else "http:// or https://"
                problems.append(app.locator.problem(at + ("url",), f"{excerpt(p.url)} is not a {want} URL",
                                                    "set repoType: oci for an OCI registry" if p.url.startswith(
                                                        "oci://") else ""))
        if len(problems) == refusals:  # the values are read only from a chart that can be found
            _, found = chart_values(p, app)
            problems += [app.locator.problem(at + path, message, hint) for path, message, hint in found]
        return problems

    def complete(self, p: HelmProperties, app, revision: str = "") -> HelmProperties:
        """The values read from the rest of the file (valuesFiles, valuesFrom) put into ``values``."""
        if not (p.values_files or p.values_from):
            return p
        values, _ = chart_values(p, app)
        return p.model_copy(update={"values": values, "values_files": [], "values_from": []})

    def workload(self, name: str, p: HelmProperties) -> Workload:
        spec = {**chart_ref(p), **({"version": p.version} if p.version not in ("*", "") else {})}
        if p.values:
            spec["values"] = copy.deepcopy(p.values)
        chart = chart_manifest(release_name(name, p), p.target_namespace or "", spec)
        return Workload(container={}, objects=[chart], object_paths=[()])
