"""The stack config keys (app, stage, approve, rollback, readyTimeout, sidecarInjection, prometheusUrl, retry,
clusters), checked once at the entry point."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from oam.cluster import ProbeError
from oam.errors import ConfigError, Problem, closest
from oam.kit.durations import parse_duration
from oam.kit.placements import LOCAL, ClusterConfig

DEFAULT_READY_TIMEOUT = 300
KEYS = ("app", "stage", "approve", "rollback", "readyTimeout", "sidecarInjection", "prometheusUrl", "retry", "clusters",
        "definitions")
CLUSTER_FIELDS = ("kubeconfig", "context", "labels", "prometheusUrl")
CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class StageConfig:
    app: str
    stage: Optional[int] = None
    approve: tuple[str, ...] = ()
    rollback: bool = False
    ready_timeout: int = DEFAULT_READY_TIMEOUT  # seconds a Deployment's pods may take to be Ready
    sidecar_injection: bool = True  # a namespace this stack creates is labelled for Istio's sidecar injection
    prometheus_url: Optional[str] = None  # where metric gates query, unless a step names its own endpoint
    retry: Optional[int] = None  # the release a metric gate rolled back, to try again
    # The clusters Applications may name (config key clusters), by name; None when not known (a check without a
    # stack: any name is taken as given). ``local`` is always known.
    clusters: Optional[dict[str, ClusterConfig]] = None
    # (kubeconfig, context) of the stack's own Kubernetes provider (kubernetes:kubeconfig, kubernetes:context): how
    # the program reaches the ``local`` cluster; None for either, the provider's default.
    kubernetes: tuple[Optional[str], Optional[str]] = (None, None)
    # Files or folders of users' definitions (Component-, Trait-, PolicyDefinition in CUE), relative to the project.
    definitions: tuple[str, ...] = ()
    project: str = "oam-delivery"
    stack_file: str = "Pulumi.dev.yaml"
    lines: dict[str, int] = field(default_factory=dict)

    def problem(self, key: str, message: str, hint: str = "") -> Problem:
        return Problem(self.stack_file, self.lines.get(key), f"{self.project}:{key}", message, hint)

    def connection(self, cluster: str = LOCAL) -> tuple[Optional[str], Optional[str]]:
        """(kubeconfig, context) of a cluster: the stack's Kubernetes provider settings for the local one, its entry
        of the clusters config for another; ProbeError for a cluster the config does not name."""
        if cluster in ("", LOCAL):
            return self.kubernetes
        known = (self.clusters or {}).get(cluster)
        if known is None:
            raise ProbeError("it is not in the stack's clusters config (the stack holds objects there: put its entry "
                             f"back, pulumi config set --path 'clusters.{cluster}.kubeconfig' PATH)")
        return known.kubeconfig, known.context

    def approve_command(self, extra: str) -> str:
        names = list(dict.fromkeys([*self.approve, extra]))
        return f"pulumi config set approve {','.join(names)}"


def _lines(stack_file: Path, project: str) -> dict[str, int]:
    try:
        text = stack_file.read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(rf"^\s+{re.escape(project)}:([A-Za-z]+):", line)
        if m:
            out.setdefault(m[1], i)
    return out


def read_stage_config(get: Callable[[str], Optional[Any]], project: str, stack_file: Path,
                      display: str, present: Iterable[str] = ()) -> StageConfig:
    """Read and check the stage keys; ``get(key)`` returns the raw config value or None.

    ``present`` are the keys set in the project's namespace: any other than ours is a typo
    of one of them, refused rather than ignored.
    """
    lines = _lines(stack_file, project)
    base = StageConfig(app="", project=project, stack_file=display, lines=lines)
    problems = []
    for key in sorted(set(present) - set(KEYS)):
        problems.append(base.problem(key, "is not a config key of this project", closest(key, KEYS)))

    app = get("app")
    if not app:
        problems.append(base.problem("app", "is not set",
                                     "pulumi config set app examples/bookinfo/first-deploy.yaml"))
    elif not Path(str(app)).is_absolute() and ".." in Path(str(app)).parts:
        # A relative path stays inside the project; a file elsewhere is named explicitly.
        problems.append(base.problem("app", f"'{str(app)[:80]}' leads out of the project",
                                     "give a path inside the project, or an absolute path to use a file elsewhere"))

    stage = None
    raw = get("stage")
    if raw not in (None, ""):
        try:
            stage = int(str(raw).strip())
        except ValueError:
            problems.append(base.problem("stage", f"must be a whole number of steps (got {raw!r})",
                                         "pulumi config set stage 1, or pulumi config rm stage"))

    approve: list[str] = []
    raw = get("approve")
    if raw not in (None, ""):
        value = raw
        if isinstance(raw, str) and raw.strip().startswith("["):
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
        if isinstance(value, str):
            approve = [a.strip() for a in value.split(",") if a.strip()]
        elif isinstance(value, list) and all(isinstance(a, str) for a in value):
            approve = [a.strip() for a in value]
        else:
            problems.append(base.problem("approve", f"must be a step name, a comma-separated list or a list of names (got {raw!r})",
                                         "pulumi config set approve STEP, the name of a suspend step (several: STEP1,STEP2)"))

    def flag(key: str, default: bool) -> bool:
        raw = get(key)
        if raw in (None, ""):
            return default
        text = str(raw).strip().lower()
        if text not in ("true", "false"):
            problems.append(base.problem(key, f"must be true or false (got {raw!r})", f"pulumi config set {key} true"))
        return text == "true" if text in ("true", "false") else default

    rollback = flag("rollback", False)
    sidecar_injection = flag("sidecarInjection", True)

    ready_timeout = DEFAULT_READY_TIMEOUT
    raw = get("readyTimeout")
    if raw not in (None, ""):
        seconds = parse_duration(str(raw).strip())
        if not seconds:
            problems.append(base.problem("readyTimeout", f"must be a duration above 0 like 90s, 5m or 1h (got {raw!r})",
                                         "pulumi config set readyTimeout 5m"))
        else:
            ready_timeout = seconds

    prometheus_url = None
    raw = get("prometheusUrl")
    if raw not in (None, ""):
        prometheus_url = str(raw).strip()
        if not re.match(r"^https?://[^\s/]+", prometheus_url):
            problems.append(base.problem("prometheusUrl", f"must be an http:// or https:// address (got {raw!r})",
                                         "pulumi config set prometheusUrl http://127.0.0.1:9090"))

    retry = None
    raw = get("retry")
    if raw not in (None, ""):
        try:
            retry = int(str(raw).strip())
            if retry < 1:
                raise ValueError
        except ValueError:
            problems.append(base.problem("retry", f"must be the number of a release a metric gate rolled back "
                                                  f"(got {raw!r})", "pulumi stack output status shows it; "
                                                                    "pulumi config rm retry"))

    clusters = read_clusters(get("clusters"), base, problems)

    definitions = parse_paths(get("definitions"))
    if definitions is None:
        problems.append(base.problem("definitions", f"must be a path or a list of paths (got {get('definitions')!r})",
                                     "pulumi config set --path 'definitions[0]' defs/"))
    elif any(".." in Path(p).parts and not Path(p).is_absolute() for p in definitions):
        problems.append(base.problem("definitions", "a relative path leads out of the project",
                                     "give a path inside the project, or an absolute path"))

    if problems:
        raise ConfigError(problems)
    return StageConfig(app=str(app), stage=stage, approve=tuple(approve), rollback=rollback,
                       ready_timeout=ready_timeout, sidecar_injection=sidecar_injection,
                       prometheus_url=prometheus_url, retry=retry, clusters=clusters,
                       definitions=tuple(definitions or ()), project=project, stack_file=display, lines=lines)


def read_clusters(raw: Any, base: StageConfig, problems: list) -> dict[str, ClusterConfig]:
    """The ``clusters`` key: cluster name -> {kubeconfig, context, labels, prometheusUrl} (set with
    ``pulumi config set --path 'clusters.NAME.FIELD' VALUE``); ``local`` is always there."""
    out = {LOCAL: ClusterConfig(LOCAL)}
    if raw in (None, ""):
        return out
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        problems.append(base.problem("clusters", f"must be a map of cluster names to their settings (got {str(raw)[:60]!r})",
                                     "pulumi config set --path 'clusters.prod.kubeconfig' ~/.kube/prod"))
        return out
    for name, entry in value.items():
        where = f"clusters.{name}"
        if not CLUSTER_NAME.match(str(name)):
            problems.append(base.problem("clusters", f"{where}: a cluster name must be a DNS label (lower case letters, "
                                                     "digits and '-')", "rename it, as the Applications name it"))
            continue
        if not isinstance(entry, dict):
            problems.append(base.problem("clusters", f"{where}: must be a map of kubeconfig, context, labels and "
                                                     f"prometheusUrl (got {str(entry)[:60]!r})",
                                         f"pulumi config set --path '{where}.kubeconfig' PATH"))
            continue
        for key in entry:
            if key not in CLUSTER_FIELDS:
                problems.append(base.problem("clusters", f"{where}.{key}: is not a setting of a cluster",
                                             closest(str(key), CLUSTER_FIELDS)))
        strings = {}
        for key in ("kubeconfig", "context", "prometheusUrl"):
            given = entry.get(key)
            if given in (None, ""):
                continue
            if not isinstance(given, str):
                problems.append(base.problem("clusters", f"{where}.{key}: must be a string (got {given!r})"))
                continue
            strings[key] = given.strip()
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, (str, int, float, bool)) for v in labels.values()):
            problems.append(base.problem("clusters", f"{where}.labels: must be a map of label names to values",
                                         f"pulumi config set --path '{where}.labels.region' eu"))
            labels = {}
        url = strings.get("prometheusUrl")
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            problems.append(base.problem("clusters", f"{where}.prometheusUrl: must be an http:// or https:// address "
                                                     f"(got {url!r})"))
        if name == LOCAL and ("kubeconfig" in strings or "context" in strings):
            problems.append(base.problem("clusters", f"{where}: '{LOCAL}' is the stack's own Kubernetes provider; "
                                                     "its connection is kubernetes:kubeconfig and kubernetes:context",
                                         f"pulumi config rm --path '{where}.kubeconfig', and set "
                                         "kubernetes:kubeconfig instead"))
        kubeconfig = strings.get("kubeconfig")
        if kubeconfig is not None and "\n" not in kubeconfig:
            kubeconfig = str(Path(kubeconfig).expanduser())
        out[str(name)] = ClusterConfig(str(name), kubeconfig, strings.get("context"),
                                       tuple(sorted((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                                                    for k, v in labels.items())), url)
    return out


def parse_paths(raw: Any) -> Optional[list[str]]:
    """The definitions config value: one path, or a list of them (JSON, as pulumi config set --path writes it);
    None when it is neither."""
    if raw in (None, ""):
        return []
    value = raw
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            value = json.loads(raw)
        except ValueError:
            return None
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    return None
