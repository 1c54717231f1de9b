"""Traffic, judged by Istio's own config generation: every stage, and every instant of a transition.

``Recorder`` watches the objects that decide routing in a namespace (Services, Pods,
EndpointSlices, Gateways, VirtualServices, DestinationRules) while a ``pulumi up`` runs, and
replays every change in the API server's order (resourceVersion: one etcd, one order) to
give each distinct routing state the namespace passed through. ``Judge`` runs the traffic
oracle on those states (tools/build-traffic.sh builds it from Istio's module) and says
which would have failed a request. Deployments are not watched: a route reaches pods
through EndpointSlices, and those are what Istio reads.
"""
from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from oam import cluster
from oam import traffic as oracle


def _routing(obj: dict) -> object:
    """What of an object decides where requests go (its status and bookkeeping do not, but a pod's IP does)."""
    kind, meta = obj.get("kind"), obj.get("metadata") or {}
    if kind == "Pod":
        return [meta.get("labels"), (obj.get("status") or {}).get("podIP")]
    if kind == "EndpointSlice":
        return [obj.get("ports"), [[e.get("addresses"), (e.get("conditions") or {}).get("ready"),
                                    (e.get("targetRef") or {}).get("name")] for e in obj.get("endpoints") or ()]]
    return obj.get("spec")


def digest(objects: list[dict]) -> str:
    keyed = sorted([o["kind"], o["metadata"]["name"], _routing(o)] for o in objects)
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()


SYSTEM = ("kube-system", "kube-public", "kube-node-lease", "istio-system")


@dataclass
class Recording:
    """The distinct routing states each namespace passed through during one transition, first (before it) to last;
    only namespaces where something that decides routing changed."""

    states: dict[str, list[list[dict]]]
    events: int


@dataclass
class Recorder:
    """Watches every namespace's routing objects (all namespaces but the system ones) from ``start`` to ``stop``."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    _initial: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    _events: list[tuple[int, str, str, dict]] = field(default_factory=list)
    _watches: list = field(default_factory=list)
    _threads: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Recorder":
        for kind, (_, path) in oracle.ROUTING_KINDS.items():
            path = path.replace("/namespaces/{ns}", "")
            listed = cluster.get(path, self.kubeconfig, self.context) or {}
            for item in listed.get("items") or ():
                obj = oracle.listed(kind, item)
                self._initial[_key(obj)] = obj
            watch = cluster.Watch(path, listed["metadata"]["resourceVersion"], self.kubeconfig, self.context)
            self._watches.append(watch)
            thread = threading.Thread(target=self._follow, args=(kind, watch), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _follow(self, kind: str, watch) -> None:
        for type_, obj in watch.events():
            if type_ not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            rv = int(obj["metadata"]["resourceVersion"])
            with self._lock:
                self._events.append((rv, type_, kind, oracle.listed(kind, obj)))

    def stop(self, settle: float = 0.5) -> Recording:
        time.sleep(settle)  # what the server sent just before the update ended is read
        for watch in self._watches:
            watch.close()
        for thread in self._threads:
            thread.join(timeout=5)
        state = copy.deepcopy(self._initial)

        def of(ns: str) -> list[dict]:
            return [o for k, o in state.items() if k[0] == ns]

        states: dict[str, list[list[dict]]] = {}
        seen: dict[str, str] = {}
        for rv, type_, kind, obj in sorted(self._events, key=lambda e: e[0]):
            ns = obj["metadata"].get("namespace", "")
            if ns in SYSTEM:
                continue
            if ns not in states:
                states[ns] = [of(ns)]
                seen[ns] = digest(states[ns][0])
            if type_ == "DELETED":
                state.pop(_key(obj), None)
            else:
                state[_key(obj)] = obj
            d = digest(of(ns))
            if d != seen[ns]:
                states[ns].append(of(ns))
                seen[ns] = d
        return Recording({ns: s for ns, s in states.items() if len(s) > 1}, len(self._events))


def _key(obj: dict) -> tuple[str, str, str]:
    return obj["metadata"].get("namespace", ""), obj["kind"], obj["metadata"]["name"]


class Judge:
    """The oracle, with what it has answered kept by the state's digest (consecutive transitions share states)."""

    def __init__(self, binary: str):
        self.binary = binary
        self.answers: dict[str, dict] = {}
        self.checked = 0  # distinct states the oracle judged
        self.seconds = 0.0

    def answer(self, states: list[list[dict]], namespace: str) -> list[dict]:
        keys = [f"{namespace}/{digest(s)}" for s in states]
        todo = {k: s for k, s in zip(keys, states) if k not in self.answers}
        if todo:
            start = time.monotonic()
            for k, a in zip(todo, oracle.run_states(list(todo.values()), namespace, binary=self.binary)):
                self.answers[k] = a
            self.seconds += time.monotonic() - start
            self.checked += len(todo)
        return [self.answers[k] for k in keys]


def served(answer: dict) -> set[tuple]:
    """The calls that reach Ready pods in a state: (caller, host, port, path, headers)."""
    return {(c.caller, c.host, c.port, c.path, c.headers) for c in oracle.calls(answer)
            if c.outcome == "routed" and not c.problems()}


def unsafe(answers: list[dict]) -> list[str]:
    """What would have failed a request at some instant of a transition whose states the oracle answered, first
    (before the update) to last: a call that is not served as it was before (no route, no cluster, a weight on a
    cluster without a Ready endpoint), or a route of ours (a VirtualService's) that gives weight to a cluster
    that does not exist or has no Ready endpoint. What already failed before the update (pods the test made not
    Ready) is not the update's doing, and a Service's own default route before its first pod is Ready serves
    nobody yet."""
    before = served(answers[0])
    already = set(oracle.problems(answers[0]))
    out = []
    for i, answer in enumerate(answers[1:], 1):
        for c in oracle.calls(answer):
            ident = (c.caller, c.host, c.port, c.path, c.headers)
            ours = bool(c.virtual_service)
            if ident in before and c.outcome != "routed":
                out.append(f"state {i}/{len(answers) - 1}: {c.where}: served before the update, now {c.outcome}")
            elif ident in before or ours:
                out += [f"state {i}/{len(answers) - 1}: {p}" for p in c.problems() if p not in already]
    return out
