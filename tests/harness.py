"""Run the real program under Pulumi's mocks and return plain data.

Under mocks integers come back as floats and a test that forgets to await its outputs
passes silently; this harness runs the program to the end itself and returns
``{name: Registered}`` with integral floats turned back into ints.
"""
from __future__ import annotations

import asyncio
import gc
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import settings as psettings
from pulumi.runtime.stack import massage, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from pulumi.runtime import resource as presource
from pulumi.runtime.proto import source_pb2

# Under the mocks no engine shows where a resource was declared: the SDK's walk of the Python stack at every
# registration (about a fifth of a run here) is skipped.
presource._get_stack_trace = source_pb2.StackTrace

from oam.cluster import ProbeError, permits
from oam.config import StageConfig
from oam.kit.placements import LOCAL
from oam.workflow.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "oam-delivery"
STACK = "dev"


def plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict
    dependencies: list[str]
    timeouts: dict = field(default_factory=dict)  # customTimeouts: create/update/delete
    # retainOnDelete, ignoreChanges, deleteBeforeReplace, replaceOnChanges, additionalSecretOutputs and the provider version, when set
    options: dict = field(default_factory=dict)


def _unwrap(value: Any) -> Any:
    if pmocks.rpc.is_rpc_secret(value):
        return _unwrap(pmocks.rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


@dataclass
class StageRun:
    resources: dict[str, Registered] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # the stack outputs as the engine records them
    error: Optional[str] = None
    registered: list[dict] = field(default_factory=list)  # every RegisterResourceOutputs of the stack, in order
    failed: list[str] = field(default_factory=list)  # resources whose step failed
    tried: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) of each object the API server tried
    # (kind, name) -> what the program told the dry run it knows already: absent, namespace_missing
    known: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)
    read: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) of each object whose pods were counted
    endpoints_read: list[tuple] = field(default_factory=list)  # (namespace, pod labels, services) a route waited on
    logs: list[tuple[str, str]] = field(default_factory=list)  # (severity, message) the program logged
    probed: list[Optional[str]] = field(default_factory=list)  # the context of each cluster asked whether it answers
    asked_access: list[tuple[Optional[str], str]] = field(default_factory=list)  # (context, namespace) of each rules review
    asked_may: list[tuple] = field(default_factory=list)  # (context, verb, group, resource, namespace, name) asked one by one

    @property
    def state(self) -> Optional[str]:
        return self.outputs.get("oamState")

    def of_kind(self, kind: str) -> dict[str, Registered]:
        return {n: r for n, r in self.resources.items() if r.inputs.get("kind") == kind}

    def manifest(self, name: str) -> dict:
        return self.resources[name].inputs

    def depends(self, name: str, on: str) -> bool:
        return self.resources[on].urn in self.resources[name].dependencies


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, previous_outputs: dict, previous_resources: dict[str, Registered], fail: set[str]):
        self.previous_outputs = previous_outputs
        self.previous_resources = previous_resources
        self.fail = fail
        self.failed: list[str] = []

    def new_resource(self, args):
        if args.name in self.fail:
            self.failed.append(args.name)
            raise Exception(f"{args.name}: Minimum number of live Pods was not attained (injected by the test)")
        return f"{args.name}-id", args.inputs

    def call(self, args):
        if args.token == "pulumi:pulumi:readStackOutputs":
            return {"name": args.args["name"], "outputs": self.previous_outputs, "secretOutputNames": []}
        if args.token == "pulumi:pulumi:readStackResourceOutputs":
            # As the engine answers: every resource of the last checkpoint, its type and outputs.
            out = {f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}":
                   {"type": "pulumi:pulumi:Stack", "outputs": self.previous_outputs}}
            for r in self.previous_resources.values():
                out[r.urn] = {"type": r.type, "outputs": r.inputs}
            return {"name": args.args["stackName"], "outputs": out}
        return {}


class _Monitor(pmocks.MockMonitor):
    def __init__(self, mocks, run: StageRun):
        super().__init__(mocks)
        self.run = run

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names a resource: the types of all its ancestors but the stack, then its own.
        if parent and "::pulumi:pulumi:Stack::" not in parent:
            type_ = parent.split("::")[2] + "$" + type_
        return "urn:pulumi:" + "::".join([STACK, PROJECT, type_, name])

    def RegisterResourceOutputs(self, request):
        outputs = _unwrap(plain(pmocks.rpc.deserialize_properties(request.outputs)))
        if request.urn.endswith("::pulumi:pulumi:Stack::" + f"{PROJECT}-{STACK}") and outputs:
            self.run.registered.append(outputs)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            # Recorded before the mocks run: a step that fails was still registered.
            inputs = plain(pmocks.rpc.deserialize_properties(request.object))
            t = request.customTimeouts
            timeouts = {k: getattr(t, k) for k in ("create", "update", "delete") if getattr(t, k)}
            urn = self.make_urn(request.parent, request.type, request.name)
            options = {k: v for k, v in (("retainOnDelete", request.retainOnDelete),
                                         ("ignoreChanges", list(request.ignoreChanges)),
                                         ("deleteBeforeReplace", request.deleteBeforeReplace),
                                         ("replaceOnChanges", list(request.replaceOnChanges)),
                                         ("additionalSecretOutputs", list(request.additionalSecretOutputs)),
                                         ("version", request.version),
                                         ("provider", request.provider),
                                         ("aliases", [a.urn for a in request.aliases if a.urn]
                                          + list(request.aliasURNs))) if v}
            self.run.resources[request.name] = Registered(urn, request.type, request.name, request.parent, inputs,
                                                          list(request.dependencies), timeouts, options)
        return super().RegisterResource(request)



def _drain() -> None:
    """Settle what a failed run left pending (the SDK stops at the first failed RPC), so runs stay apart."""
    manager = psettings.SETTINGS.rpc_manager
    leftover = list(manager.rpcs) + list(psettings.SETTINGS.outputs)
    if leftover:
        _sync_await(asyncio.gather(*leftover, return_exceptions=True))
    manager.clear()
    psettings.SETTINGS.outputs.clear()


INJECTED = {"istio-injection": "enabled"}


class NoMetrics:
    """The metric gates' source when a test gives none: every query finds no Prometheus."""

    def series(self, endpoint: str, query: str, start: float, end: float, step: float):
        from oam.metrics import MetricsError

        raise MetricsError(f"Prometheus at {endpoint} cannot be reached (this test gives no metrics)")


class Clock:
    """The program's clock under test: wall time stands at ``at`` (the machine's when None) until the test moves it;
    sleeping moves the monotonic clock on, taking no time, so a timeout runs out without the wall-clock seconds."""

    def __init__(self, at: Optional[datetime] = None):
        self.at = at
        self.seconds = 1000.0

    def now(self) -> datetime:
        return self.at or utcnow()

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


EVERYTHING = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]


class FakeCluster:
    """The clusters as a test describes them (see run_stage), each request recorded in ``run``. A cluster is named
    by the context of its connection, as the stack's config gives it."""

    def __init__(self, cfg: StageConfig, run: StageRun, namespaces: Optional[dict[str, Optional[dict]]] = None,
                 existing: Optional[dict[tuple, dict[str, dict]]] = None,
                 refuse: Optional[dict[tuple[str, str], str]] = None, live: Optional[dict[tuple[str, str], dict]] = None,
                 pods: Optional[dict[tuple[str, str], tuple[int, int, bool]]] = None, down: tuple[str, ...] = (),
                 access: Optional[dict[Any, Any]] = None):
        self.cfg, self.run = cfg, run
        self.namespaces, self.existing, self.refusals = namespaces or {}, existing or {}, refuse or {}
        self.live, self.down, self.access = live or {}, down, access or {}
        self.pods = pods if pods is not None else {}  # a test's own mapping, even an empty one, answers

    def probe(self, where: str) -> None:
        context = self.cfg.connection(where)[1]
        self.run.probed.append(context)
        if context in self.down:
            raise ProbeError("connection refused")

    def get(self, ref: dict, where: str = LOCAL) -> Optional[dict]:
        self.cfg.connection(where)
        return self.live.get((ref["kind"], ref["metadata"]["name"]))

    def read(self, ref: dict) -> Optional[dict]:
        return self.get(ref)

    def namespace_labels(self, namespace: str, where: str = LOCAL) -> Optional[dict[str, str]]:
        self.cfg.connection(where)
        if namespace not in self.namespaces:
            return dict(INJECTED)
        return None if self.namespaces[namespace] is None else dict(self.namespaces[namespace])

    def labels_by_name(self, api_version: str, kind: str, namespace: Optional[str],
                       where: str = LOCAL) -> dict[str, dict[str, str]]:
        self.cfg.connection(where)
        return dict(self.existing.get((api_version, kind, namespace), {}))

    def readiness(self, manifest: dict, where: str = LOCAL) -> Optional[tuple[int, int, bool]]:
        self.cfg.connection(where)
        ident = (manifest["kind"], manifest["metadata"]["name"])
        self.run.read.append(ident)
        wanted = (manifest.get("spec") or {}).get("replicas", 1)
        return self.pods.get(ident, (wanted, wanted, True))

    def endpoints(self, namespace: str, pods: dict, services: list[str], where: str = LOCAL) -> tuple[int, int]:
        self.cfg.connection(where)
        self.run.endpoints_read.append((namespace, dict(pods), tuple(services)))
        return 1, 1  # one Ready pod, a ready endpoint of every Service

    def access_rules(self, namespace: str, where: str = LOCAL):
        context = self.cfg.connection(where)[1]
        self.run.asked_access.append((context, namespace))
        rules = self.access.get((context, namespace), self.access.get(namespace, EVERYTHING))
        if isinstance(rules, Exception):
            raise rules
        return None if rules is None else (rules, False)

    def may(self, verb: str, group: str, resource: str, namespace: Optional[str], name: Optional[str],
            where: str = LOCAL) -> Optional[bool]:
        context = self.cfg.connection(where)[1]
        self.run.asked_may.append((context, verb, group, resource, namespace, name))
        rules = self.access.get((context, namespace or ""), self.access.get(namespace or "", EVERYTHING))
        if isinstance(rules, Exception):
            raise rules
        return None if rules is None else permits(rules, verb, group, resource, name)

    def dry_run(self, manifest: dict, where: str = LOCAL, recreate: bool = False, absent: bool = False,
                namespace_missing: bool = False) -> Optional[str]:
        self.cfg.connection(where)
        self.run.tried.append((manifest["kind"], manifest["metadata"]["name"]))
        self.run.known[self.run.tried[-1]] = (absent, namespace_missing)
        return self.refusals.get((manifest["kind"], manifest["metadata"]["name"]))


def run_stage(config: dict[str, Any], previous: Optional[StageRun] = None, preview: bool = False,
              applied: Optional[StageRun] = None, fail: tuple[str, ...] = (),
              namespaces: Optional[dict[str, Optional[dict]]] = None,
              existing: Optional[dict[tuple, dict[str, dict]]] = None,
              refuse: Optional[dict[tuple[str, str], str]] = None,
              live: Optional[dict[tuple[str, str], dict]] = None,
              pods: Optional[dict[tuple[str, str], tuple[int, int, bool]]] = None,
              down: tuple[str, ...] = (),
              access: Optional[dict[Any, Any]] = None, clock: Optional[Clock] = None,
              metrics: Any = None) -> StageRun:
    """Run the program once with ``config`` (keys without the project prefix).

    ``previous`` supplies the stack outputs of the last update, as the engine would, and the
    state of each object as that update applied it; ``applied`` gives the objects' state
    from another run instead (an update that failed part-way records its objects so).
    ``namespaces`` is what the cluster says of each namespace (its labels, None for a missing
    one); by default every namespace exists and is labelled for sidecar injection.
    ``existing`` is what else the cluster holds: (apiVersion, kind, namespace) -> name -> labels.
    ``refuse`` is what the API server's dry run refuses: (kind, name) -> its message; it takes the rest.
    ``live`` is what the cluster holds for the steps' outputs to read: (kind, name) -> the object.
    ``pods`` is how the cluster's Deployments serve: (kind, name) -> (Ready pods, wanted, all Ready); by default
    every one the program asks about is Ready.
    ``down`` names the contexts of clusters (in the clusters config) that do not answer.
    ``access`` is what the credentials may do: namespace, or (context, namespace) for a cluster of the clusters
    config, -> its resource rules as a SelfSubjectRulesReview lists them (None: the server has no such review; an
    exception: it cannot be asked); by default, and in a namespace it does not name, everything. A request asked on
    its own (a cluster-scoped one: namespace "") is allowed when those rules allow it.
    ``clock`` is the program's clock (the machine's wall time, waits that take no time, by default).
    ``metrics`` answers the metric gates' queries (by default none is expected: any query fails the test).
    ``fail`` names resources whose step fails. Then, as the engine does, the recorded
    outputs are the previous ones overlaid with the first the program registered: the
    engine stops taking events once a step has failed.
    """
    from oam import program as oam_program

    result = StageRun()
    real_leave, oam_program.leave = oam_program.leave, lambda: None  # the program would end its process here
    logged = {name: getattr(pulumi.log, name) for name in ("info", "warn", "error")}
    for name in logged:
        setattr(pulumi.log, name, lambda message, *a, _name=name, **k: (result.logs.append((_name, message)),
                                                                      logged[_name](message, *a, **k)))
    previous_outputs = dict(previous.outputs) if previous else {}
    objects = applied if applied is not None else previous
    mocks = _Mocks(previous_outputs, dict(objects.resources) if objects else {}, set(fail))
    monitor = _Monitor(mocks, result)
    pulumi.runtime.set_all_config({f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v)
                                   for k, v in config.items() if v is not None})
    pmocks.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview, monitor=monitor,
                     organization="organization")
    psettings.SETTINGS.rpc_manager.clear()

    def program():
        # The mocks keep one root resource for every run: this run's exports start from none.
        pulumi.runtime.get_root_resource().outputs.clear()
        try:
            cfg = oam_program.stack_config(ROOT)
            cluster = FakeCluster(cfg, result, namespaces, existing, refuse, live, pods, down, access)
            oam_program.run(ROOT, cfg, cluster, clock or Clock(), metrics or NoMetrics())
        finally:
            # As the SDK's run_in_stack does once the program returns: register the exports.
            # (The mocks' own stack registered empty outputs when it was made.)
            root = pulumi.runtime.get_root_resource()
            root.register_outputs(massage(root.outputs, []))

    try:
        _sync_await(run_pulumi_func(program))
    except pulumi.RunError as err:
        result.error = str(err)
    except Exception as err:  # noqa: BLE001 - a failed resource, as injected with ``fail``
        result.error = str(err)
    finally:
        pulumi.runtime.set_all_config({})
        oam_program.leave = real_leave
        for name, log in logged.items():
            setattr(pulumi.log, name, log)
        _drain()
    result.failed = list(mocks.failed)
    if result.error is not None and not result.failed:
        # The program stopped before it registered any object: the stack keeps the outputs it had, overlaid
        # with what the program exported before it stopped (the SDK registers the exports as it ends).
        result.outputs = {**previous_outputs, **(result.registered[-1] if result.registered else {})}
    elif result.failed:
        # The failed steps leave futures whose finalizers log "exception was never retrieved". Collected
        # at some later moment, inside CPython 3.11's parse of a module pytest imports then, they trip its
        # AST recursion check (SystemError: AST constructor recursion depth mismatch): collect them now.
        gc.collect()
        result.outputs = {**previous_outputs, **(result.registered[0] if result.registered else {})}
    elif result.registered:
        # The program registers the stack's outputs twice: a failed status before it touches
        # anything, then the record once everything is applied. In a real update the first is
        # sent seconds before the second; under mocks both can be sent within a millisecond from
        # the SDK's thread pool and arrive in either order, so the record is the one with oamState.
        result.outputs = next((o for o in reversed(result.registered) if "oamState" in o), result.registered[-1])
    return result
