"""Who gets what traffic, as Istio itself computes it.

The traffic oracle (``tools/traffic``, built by ``tools/build-traffic.sh`` from Istio's own
module) turns a namespace's Services, Pods, EndpointSlices, Gateways, VirtualServices and
DestinationRules into the routes, clusters and endpoints that istiod would send a sidecar in
that namespace and the ingress gateway, and answers, for every host and path a route names,
which clusters a call reaches, with what weight, and how many Ready endpoints each has.

This module gathers those objects (from a live namespace, or made up from a stage's render
with every Deployment's pods Ready), runs the oracle, and reads its answer: the split per
host, and the problems a request would meet (a weight on a cluster without a Ready
endpoint: 503 UH; a route to a cluster that does not exist: 503 NC; no route: 404 NR).
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from oam import cluster

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tools" / "build-traffic.sh"
ORACLE_ENV = "OAM_TRAFFIC_ORACLE"  # the oracle binary, when it is not in the tools cache

# The kinds that decide where a request goes, and where the API serves them in a namespace.
ROUTING_KINDS: dict[str, tuple[str, str]] = {
    "Service": ("v1", "/api/v1/namespaces/{ns}/services"),
    "Pod": ("v1", "/api/v1/namespaces/{ns}/pods"),
    "EndpointSlice": ("discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
    "Gateway": ("networking.istio.io/v1", "/apis/networking.istio.io/v1/namespaces/{ns}/gateways"),
    "VirtualService": ("networking.istio.io/v1", "/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices"),
    "DestinationRule": ("networking.istio.io/v1", "/apis/networking.istio.io/v1/namespaces/{ns}/destinationrules"),
}


class OracleMissing(Exception):
    """The oracle is not built: the message says how to build it."""


def oracle() -> str:
    """The oracle binary: $OAM_TRAFFIC_ORACLE, or the one tools/build-traffic.sh built into the tools cache."""
    explicit = os.environ.get(ORACLE_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise OracleMissing(f"{ORACLE_ENV}={explicit} is not an executable file")
        return explicit
    proc = subprocess.run(["bash", str(BUILD), "--check"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OracleMissing("the traffic oracle is not built; build it (once: about 7 minutes on 2 cores with empty Go "
                            f"caches, with istioctl) with: bash {os.path.relpath(BUILD)}")
    return str(Path(proc.stdout.strip().splitlines()[-1]) / "oam-traffic")


def listed(kind: str, item: dict) -> dict:
    """An object as a list or a watch of ``kind`` gives it (without kind and apiVersion), whole again and without
    what the oracle does not read (managed fields, the status of all but pods)."""
    obj = {"apiVersion": ROUTING_KINDS[kind][0], "kind": kind, **item}
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    if "annotations" in meta:  # a copy: the caller's object stays as it is
        meta["annotations"] = {k: v for k, v in meta["annotations"].items()
                               if k != "kubectl.kubernetes.io/last-applied-configuration"}
    out = {**obj, "metadata": meta}
    if obj.get("kind") != "Pod":
        out.pop("status", None)
    return out


def live_objects(namespace: str, kubeconfig: Optional[str] = None, context: Optional[str] = None) -> list[dict]:
    """The routing objects of a live namespace, read from the API server."""
    out: list[dict] = []
    for kind, (_, path) in ROUTING_KINDS.items():
        body = cluster.get(path.format(ns=namespace), kubeconfig, context) or {}
        for item in body.get("items") or ():
            out.append(listed(kind, item))
    return out


def _pod_ip(n: int) -> str:
    return str(ipaddress.ip_address("10.244.0.0") + n + 1)


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def rendered_objects(manifests: Iterable[dict], namespace: str) -> list[dict]:
    """A stage's render as the cluster would have it once applied, every Deployment's pods Ready: its routing
    objects, plus a Ready pod for each replica and an EndpointSlice for each Service with a selector."""
    manifests = [m for m in manifests if isinstance(m, dict)]
    out = [m for m in manifests if m.get("kind") in ROUTING_KINDS and (m.get("metadata") or {}).get(
        "namespace", namespace) == namespace]
    pods: list[dict] = []
    for d in manifests:
        if d.get("kind") not in ("Deployment", "StatefulSet") or d["metadata"].get("namespace", namespace) != namespace:
            continue
        template = d["spec"]["template"]
        for i in range(int(d["spec"].get("replicas", 1))):
            pods.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{d['metadata']['name']}-{i}", "namespace": namespace,
                             "labels": dict((template.get("metadata") or {}).get("labels") or {})},
                "spec": template["spec"],
                "status": {"phase": "Running", "podIP": _pod_ip(len(pods)),
                           "conditions": [{"type": "Ready", "status": "True"}]},
            })
    out += pods
    for svc in [m for m in out if m["kind"] == "Service"]:
        selector = (svc.get("spec") or {}).get("selector") or {}
        chosen = [p for p in pods if _selects(selector, p["metadata"]["labels"])]
        ports = []
        for port in svc["spec"].get("ports") or ():
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):  # a named port: the container port of that name
                target = next((c["containerPort"] for p in chosen[:1] for ct in p["spec"]["containers"]
                               for c in ct.get("ports") or () if c.get("name") == target), port["port"])
            ports.append({"name": port.get("name", ""), "port": target, "protocol": port.get("protocol", "TCP")})
        name = svc["metadata"]["name"]
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-rendered", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": namespace}}
                          for p in chosen],
        })
    return out


@dataclass(frozen=True)
class Call:
    """One call a proxy makes, and what Istio's configuration does with it."""

    caller: str  # "mesh" (a sidecar in the namespace) or "gateway" (the ingress gateway)
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]
    outcome: str  # routed, no-route, no-cluster, direct-response, redirect
    clusters: tuple[dict, ...]
    route: str = ""  # the name of the Envoy route that matched
    virtual_service: str = ""  # namespace/name of the VirtualService the route comes from ("": a Service's own)
    probe: bool = False  # no route names the call (the "/" any caller may send): no route there is as configured

    @property
    def where(self) -> str:
        heads = "".join(f" [{k}: {v}]" for k, v in self.headers)
        return f"{self.caller} {self.host}:{self.port}{self.path}{heads}"

    def split(self) -> dict[str, int]:
        """target (the subset, or the host without one) -> weight in percent of the weights' total."""
        total = sum(c.get("weight", 0) for c in self.clusters) or 0
        out: dict[str, int] = {}
        for c in self.clusters:
            name = target(c)
            share = round(100 * c.get("weight", 0) / total) if total else 0
            out[name] = out.get(name, 0) + share
        return out

    def problems(self) -> list[str]:
        if self.outcome == "no-route":
            return [] if self.probe else [f"{self.where}: no route (Envoy answers 404 NR)"]
        out = []
        for c in self.clusters:
            if c.get("weight", 0) <= 0:
                continue
            if not c.get("exists", True):
                out.append(f"{self.where}: weight {c['weight']} on {c['name']}, which does not exist (503 NC)")
            elif not c.get("ready"):
                out.append(f"{self.where}: weight {c['weight']} on {c['name']}, which has no Ready endpoint (503 UH)")
        if self.outcome == "no-cluster" and not out:
            out.append(f"{self.where}: the route names no cluster that exists (503 NC)")
        return out


def target(cluster: dict) -> str:
    """What a cluster sends to: its subset (a revision), or the Service's short name (``outbound|9080||details.
    default.svc.cluster.local`` is details), or the cluster's name when it is none of Istio's outbound ones."""
    if cluster.get("subset"):
        return cluster["subset"]
    parts = cluster["name"].split("|")
    return parts[3].split(".")[0] if len(parts) == 4 and parts[0] == "outbound" else cluster["name"]


def calls(result: dict) -> list[Call]:
    """Every call of an oracle answer."""
    out = []
    for caller in ("mesh", "gateway"):
        for target in result.get(caller) or ():
            for call in target.get("calls") or ():
                out.append(Call(caller, target["host"], int(target["port"]), call.get("path", "/"),
                                tuple(sorted((call.get("headers") or {}).items())), call.get("outcome", "routed"),
                                tuple(call.get("clusters") or ()), call.get("route") or "",
                                call.get("virtualService") or "", bool(call.get("probe"))))
    return out


def problems(result: dict) -> list[str]:
    """What a request would meet that is not an answer from a Ready pod of a route's target (and a state the
    oracle could not take at all)."""
    bad = [f"the oracle refused the objects: {result['error']}"] if result.get("error") else []
    return bad + [p for c in calls(result) for p in c.problems()]


def run(objects: list[dict], namespace: str, envoy: bool = False, binary: Optional[str] = None) -> dict:
    """The oracle's answer for one set of objects."""
    return run_states([objects], namespace, envoy, binary)[0]


def run_states(states: list[list[dict]], namespace: str, envoy: bool = False,
               binary: Optional[str] = None) -> list[dict]:
    """The oracle's answers for several sets of objects, in one process."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(states, f)
        path = f.name
    try:
        args = [binary or oracle(), "--namespace", namespace, "--states", path] + (["--envoy"] if envoy else [])
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    try:  # a state it refuses (exit 1) is answered with its error, and the others as usual
        answers = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
    except ValueError:
        answers = None
    if not isinstance(answers, list):
        raise RuntimeError(f"the traffic oracle failed ({proc.returncode}): {proc.stderr[-3000:]}")
    if len(answers) != len(states):
        raise RuntimeError(f"the traffic oracle answered {len(answers)} states of {len(states)}")
    return answers


def _ready(c: dict) -> str:
    if not c.get("exists", True):
        return "no such cluster"
    return f"{c.get('ready', 0)} Ready"


def report(result: dict) -> list[str]:
    """One line per host, port and caller (and path, where a path routes elsewhere):
    ``reviews.default:9080  mesh: reviews-v1 90% (1 Ready), reviews-v2 10% (1 Ready)``."""
    namespace = result.get("namespace", "")
    lines = []
    by_target: dict[tuple[str, str, int], list[Call]] = {}
    for c in calls(result):
        by_target.setdefault((c.caller, c.host, c.port), []).append(c)
    for (caller, host, port), group in by_target.items():
        short = host if caller == "gateway" or "." in host else f"{host}.{namespace}"
        routed = [c for c in group if not (c.probe and c.outcome == "no-route")] or group
        texts = [_text(c) for c in routed]
        if len(set(texts)) == 1:
            paths = "" if [c.path for c in routed] == ["/"] else " " + ",".join(
                c.path + "".join(f"[{k}: {v}]" for k, v in c.headers) for c in routed)
            lines.append(f"{short}:{port}{paths}  {caller}: {texts[0]}")
            continue
        for c, text in zip(routed, texts):
            heads = "".join(f"[{k}: {v}]" for k, v in c.headers)
            lines.append(f"{short}:{port} {c.path}{heads}  {caller}: {text}")
    return lines


def _text(c: Call) -> str:
    if c.outcome == "no-route":
        return "no route (404 NR)" + (", as configured" if c.probe else "")
    if c.outcome in ("direct-response", "redirect"):
        return c.outcome
    if not c.clusters:
        return "no cluster (503 NC)"
    total = sum(x.get("weight", 0) for x in c.clusters) or 1
    return ", ".join(f"{target(x)} {round(100 * x.get('weight', 0) / total)}% "
                     f"({_ready(x)})" for x in c.clusters)
