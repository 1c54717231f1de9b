"""A Helm chart among a component's objects: what the Kubernetes provider renders, not the program. Plain data.

A component that installs a chart makes one object of its own kind, ``helm.sh/v4`` ``Chart``: its
``metadata`` (the release's name and namespace, the labels and annotations that the component's
traits and the stack give every object) and its ``spec`` (the provider's Chart inputs: ``chart``,
``version``, ``repositoryOpts``, ``values``). The provider fetches and renders the chart, and
registers each object it holds as a resource of its own, a child of the chart; the program
never sees them before they are applied.
"""
from __future__ import annotations

import io
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

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


FETCH_TIMEOUT = 30  # seconds for one request to a chart repository
_fetched: dict[tuple[str, str, str], dict[str, bytes]] = {}  # (url, chart, version) -> the archive's files


def _semver(text: str) -> Optional[tuple]:
    m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?", text.strip())
    if not m:
        return None
    # A pre-release sorts before its release.
    return (int(m[1]), int(m[2] or 0), int(m[3] or 0), 0 if m[4] else 1, m[4] or "")


def pick_version(wanted: str, offered: list[str]) -> tuple[Optional[str], str]:
    """The version of ``offered`` a chart version or range selects, as Helm does for the common forms: an exact
    version, '*' or none (the latest release), or comparisons (>=, <=, >, <, =, !=) joined by spaces or commas;
    (None, why) when none fits or the range is of another form."""
    versions = [(v, _semver(v)) for v in offered if _semver(v) is not None]
    wanted = wanted.strip()
    if wanted in ("", "*"):
        releases = [(v, k) for v, k in versions if k[3] == 1]
        return (max(releases, key=lambda x: x[1])[0], "") if releases else (None, "the repository offers no release")
    if wanted in offered:
        return wanted, ""
    terms = [t for t in re.split(r"[\s,]+", re.sub(r"(>=|<=|!=|>|<|=)\s+", r"\1", wanted)) if t]
    tests = []
    for term in terms:
        m = re.fullmatch(r"(>=|<=|!=|>|<|=)?(.+)", term)
        bound = _semver(m[2]) if m else None
        if bound is None:
            return None, (f"version '{wanted}' is a range of a form read here only by the provider: give an exact "
                          "version, or comparisons such as >=1.2.0 <2.0.0")
        tests.append((m[1] or "=", bound))
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
           "=": lambda a, b: a == b, "!=": lambda a, b: a != b}
    fits = [(v, k) for v, k in versions if k[3] == 1 and all(ops[op](k[:3], b[:3]) for op, b in tests)]
    if not fits:
        return None, f"the repository offers no version in '{wanted}' (it offers {', '.join(offered[:8]) or 'none'})"
    return max(fits, key=lambda x: x[1])[0], ""


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as answer:  # noqa: S310 - http(s) only, checked
        return answer.read()


def repository_chart_file(url: str, chart: str, version: str, name: str) -> tuple[Optional[str], str]:
    """A file of a chart in a Helm chart repository (its values file): (its text, "") or (None, why not). The
    repository's index and the chart's archive are fetched once per program run."""
    base = url.rstrip("/") + "/"
    key = (base, chart, version)
    if key not in _fetched:
        try:
            index = yaml.safe_load(_get(urllib.parse.urljoin(base, "index.yaml"))) or {}
        except (urllib.error.URLError, OSError, ValueError) as err:
            return None, f"could not read the repository's index.yaml at {base} ({getattr(err, 'reason', err)})"
        except yaml.YAMLError:
            return None, f"{base}index.yaml is not a chart repository's index"
        entries = [e for e in ((index.get("entries") or {}).get(chart) or []) if isinstance(e, dict)]
        if not entries:
            return None, f"the repository at {base} has no chart '{chart}'"
        picked, why = pick_version(version, [str(e.get("version")) for e in entries])
        if picked is None:
            return None, why
        entry = next(e for e in entries if str(e.get("version")) == picked)
        urls = [u for u in entry.get("urls") or [] if isinstance(u, str)]
        if not urls:
            return None, f"the repository's index gives no archive of {chart} {picked}"
        try:
            archive = _get(urllib.parse.urljoin(base, urls[0]))
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                files = {}
                for member in tar.getmembers():
                    if member.isfile() and member.size < (1 << 20):
                        f = tar.extractfile(member)
                        if f is not None:
                            files[member.name.split("/", 1)[-1]] = f.read()
        except (urllib.error.URLError, OSError, tarfile.TarError, ValueError) as err:
            return None, f"could not read the archive of {chart} {picked} ({getattr(err, 'reason', err)})"
        _fetched[key] = files
    data = _fetched[key].get(name)
    if data is None:
        return None, f"chart {chart} {version} has no {name}"
    return data.decode("utf-8", "replace"), ""
