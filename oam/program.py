"""The Pulumi program: config and recorded state in, resources and status out.

The stack records two things. Pulumi's own state of every object says what is applied
(it is kept even for an object whose update failed half-way); ordering edges start from
it. Our ``oamState`` output (the revisions and where the release stands) is written only
by an update that applied everything: before any object is touched, the program registers
a status that says the stage failed, and only once every object has been applied does it
replace that status and the record. When an update fails, the engine keeps that early
status and the last ``oamState`` that was fully applied.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from datetime import datetime
from typing import Optional

import pulumi
from pulumi.runtime import rpc

from oam.access import Access, digest, namespace_reads, needed_access
from oam.cluster import ProbeError
from oam.config import StageConfig, read_stage_config
from oam.errors import ApplicationError, OamError
from oam.kit.applied import Applied, in_cluster
from oam.kit.durations import show_duration
from oam.kit.placements import LOCAL
from oam.kit.stage import Desired
from oam.metrics import MetricSource
from oam import userdefs
from oam.model import read_application
from oam.ports import Clock, Cluster
from oam.preflight import (chart_objects, endpoints_reader, held_by_cluster, held_owner, held_twice, lingering,
                           mark_owner, namespace_to_manage, new_owner, not_ours, refused_by_cluster, unrecorded,
                           wait_for_ready)
from oam.render import Plan, component_records, namespace_key, object_namespace, policy_objects, render
from oam.resources import Application
from oam.revisions import STATE_OUTPUT, History
from oam.status import failed_status, status
from oam.workflow.engine import ROLLED_BACK, resolve

READ_OUTPUTS = "pulumi:pulumi:readStackOutputs"
READ_RESOURCE_OUTPUTS = "pulumi:pulumi:readStackResourceOutputs"


def config_keys(project: str) -> set[str]:
    """The keys set in the project's config namespace (without the namespace)."""
    from pulumi.runtime import config as runtime_config

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {n.split(":", 1)[1] for n in names if n.startswith(f"{project}:")}


def read_recorded(clock: Clock) -> tuple[History, Applied, str]:
    """What this stack recorded at its last update: our history, each object as applied, and the raw history.

    Empty for a new or destroyed stack. The history is the stack's oamState output; each
    object's state is Pulumi's own record of it.
    """
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    raw = unwrap(_read(READ_OUTPUTS, {"name": name}, clock).get(STATE_OUTPUT)) or ""
    resources = unwrap(_read(READ_RESOURCE_OUTPUTS, {"stackName": name}, clock))
    try:
        history = History.from_json(raw)
    except (ValueError, TypeError, KeyError) as err:
        raise pulumi.RunError(f"the record of stack {name} cannot be read ({err}): it was written by another "
                              "version of this program; run the version that wrote it, or a newer one. "
                              "Nothing was changed") from None
    return history, Applied.from_resource_outputs(resources), raw


def _read(token: str, args: dict, clock: Clock, attempts: int = 20, pause: float = 0.25) -> dict:
    """The ``outputs`` an engine read returns.

    A file backend rewrites the checkpoint in place while an update starts, so a read can
    see a half-written file; it is tried again. It never falls back to nothing: an empty
    history would rename revisions.
    """
    for attempt in range(1, attempts + 1):
        try:
            return (pulumi.runtime.invoke(token, args).value or {}).get("outputs") or {}
        except Exception as err:  # noqa: BLE001 - the engine reports every failure as a plain Exception
            if attempt == attempts:
                raise pulumi.RunError(f"cannot read the recorded state of stack {next(iter(args.values()))}: "
                                      f"{err}; nothing was changed, run pulumi up again") from None
            clock.sleep(pause)
    return {}


def unwrap(value):
    """Drop Pulumi's secret wrappers, all the way down: the record is read here, never shown."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value




def unreachable(cfg: StageConfig, cluster: Cluster, clusters: list[str]) -> list[str]:
    """Before anything is changed anywhere: each cluster other than the local one that the stage deploys to must
    answer. One line per cluster that does not, naming it and what failed."""
    def ask(name: str) -> Optional[str]:
        try:
            kubeconfig, context = cfg.connection(name)
        except ProbeError as err:
            return f"cluster '{name}' cannot be reached: {err}"
        try:
            cluster.probe(name)
            return None
        except ProbeError as err:
            how = ", ".join(x for x in (f"kubeconfig {kubeconfig}" if kubeconfig and "\n" not in kubeconfig else "",
                                        f"context {context}" if context else "") if x)
            return f"cluster '{name}' cannot be reached ({how or 'default kubeconfig'}): {err}"
    others = [c for c in dict.fromkeys(clusters) if c not in ("", LOCAL)]
    if not others:
        return []
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [line for line in pool.map(ask, others) if line]


def rollback_command(app, history: History, cfg: StageConfig, resolution, now: datetime) -> str:
    """The rollback a failure message offers, or "" when it would not be taken: every command printed must work.

    It is the same resolution that ``pulumi config set rollback true && pulumi up`` would make (no gate is asked:
    a rollback asks none), so a stage already rolling back, a file that rolls nothing out, or a component with no
    earlier revision to return to get no such hint.
    """
    if resolution.phase == ROLLED_BACK:
        return ""
    try:
        resolve(app, history, dataclasses.replace(cfg, rollback=True), now)
    except OamError:
        return ""
    return "pulumi config set rollback true && pulumi up"


EXIT_AFTER_MESSAGE = 32  # what Pulumi's Python runner exits with after a message the user can act on


def leave() -> None:
    """End the program once its report is out: all the SDK would add after a failed step is noise."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_AFTER_MESSAGE)


def report_failures(plan: Plan, cluster: Cluster, timeout: int, failed: list[tuple[Desired, Exception]],
                    back: str = "") -> None:
    """After Pulumi's own error: what did not get applied or Ready, what was left alone, what to run next."""
    nothing_else = "nothing that waits for it was changed (the routes, the revisions that give up pods)"
    next_step = "Next: fix the cause and run pulumi up again (it goes on from where the cluster is)" + (
        f", or roll back: {back}" if back else "")
    for desired, _ in failed:
        meta = desired.manifest["metadata"]
        if desired.kind not in ("Deployment", "StatefulSet"):
            pulumi.log.error(f"{desired.kind} {meta['name']} was not applied; {nothing_else}. {next_step}")
            continue
        wanted = (desired.manifest.get("spec") or {}).get("replicas")  # none: an autoscaler (or the cluster) sets them
        try:
            live = cluster.get(desired.manifest, desired.cluster or LOCAL)
            if live is None:
                pulumi.log.error(f"{desired.kind} {meta['name']} was not created (the error above says why); "
                                 f"{nothing_else}. {next_step}")
                continue
            wanted = wanted if wanted is not None else (live.get("spec") or {}).get("replicas", "?")
            ready = f"{(live.get('status') or {}).get('readyReplicas') or 0}/{wanted} pods Ready"
        except ProbeError:
            ready = "not all of its pods Ready"
        of = f" (cluster {desired.cluster})" if desired.cluster else ""
        pulumi.log.error(f"{meta['name']}{of}: {ready} when the update stopped (it waits up to "
                         f"{show_duration(timeout)}: readyTimeout, or the step's timeout); {nothing_else}. {next_step}")
    leave()


def providers(cfg: StageConfig, plan: Plan) -> dict[str, pulumi.ProviderResource]:
    """A Kubernetes provider for each cluster other than the local one that the stage deploys to, named after it.
    Its clusterIdentifier is the cluster's name: new credentials, another kubeconfig or a renamed context update
    the provider and never replace the objects."""
    names = list(dict.fromkeys(d.cluster for d in plan.objects if d.cluster))
    if not names:
        return {}
    from pulumi_kubernetes.provider import Provider  # only a stack of several clusters pays for the import

    out = {}
    for name in names:
        kubeconfig, context = cfg.connection(name)
        out[name] = Provider(f"cluster-{name}", kubeconfig=kubeconfig, context=context, cluster_identifier=name,
                             opts=pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"]))
    return out


def stack_config(root: Path) -> StageConfig:
    """The stack's config, read once: our keys, checked, and how the stack's own Kubernetes provider reaches its
    cluster (its kubeconfig and context keys). A mistake in it stops the update with its message."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    stack_file = f"stacks/Pulumi.{stack}.yaml"
    k8s = pulumi.Config("kubernetes")
    try:
        cfg = read_stage_config(pulumi.Config().get, project, root / stack_file, stack_file, config_keys(project))
    except OamError as err:
        raise pulumi.RunError(str(err)) from None
    return dataclasses.replace(cfg, kubernetes=(k8s.get("kubeconfig"), k8s.get("context")))


def run(root: Path, cfg: StageConfig, cluster: Cluster, clock: Clock, metrics: MetricSource) -> dict:
    """Validate everything, then register the resources of this stage and export its status.

    ``cluster`` answers what the program asks the clusters, ``clock`` tells the time, ``metrics`` answers the metric
    gates' queries: the entry point passes the real ones, the tests fakes.
    """
    now = clock.now()
    try:
        users = userdefs.load(list(cfg.definitions), root, lambda path: cfg.problem(
            "definitions", f"'{path}' is not a file or folder of the project",
            "pulumi config set --path 'definitions[0]' PATH, a file or folder of ComponentDefinition, "
            "TraitDefinition and PolicyDefinition objects"))
        for note in users.notes:
            pulumi.log.info(note)
        app = read_application(root / cfg.app, cfg.app)
        history, applied, recorded = read_recorded(clock)
        resolution = resolve(app, history, cfg, now, metrics=metrics, cluster=cluster)
        placed = [p.where for p in resolution.placements]
        used = [(LOCAL, object_namespace(app, o.manifest)) for o in resolution.objects]  # what steps apply themselves
        used += [(LOCAL, object_namespace(app, manifest)) for _, manifest in policy_objects(app)]  # and policies make
        used += [(o.get("cluster") or LOCAL, o.get("placement")) for o in resolution.kept]  # what stays as applied
        down = unreachable(cfg, cluster, [c for c, _ in placed + used]
                           + [r.get("cluster") or LOCAL for r in resolution.kept])
        if down:
            raise pulumi.RunError("; ".join(down) + ": nothing was changed in any cluster. Next: make it reachable "
                                  "(or fix its entry: pulumi config set --path 'clusters.NAME.kubeconfig' PATH), then "
                                  "pulumi up again")
        access = Access(cluster, clock)
        denied = access.refused(namespace_reads(app, placed + used, applied))
        if denied:
            raise pulumi.RunError(denied)
        managed = {where: namespace_to_manage(app, where[1], applied, cfg, cluster, pods=where in placed,
                                              where=where[0])
                   for where in dict.fromkeys(placed + [w for w in used if w[1] is not None])}
        plan = render(app, resolution, applied, {w: labels for w, labels in managed.items() if labels is not None})
        staying, notes = lingering(plan, applied, cfg)
        plan.objects += staying
        plan.resolution.notes += notes
        owner = history.owner or held_owner(applied) or new_owner(pulumi.get_stack())
        plan.resolution.history.owner = owner
        mark_owner(plan, applied, owner)
        denied = access.refused(needed_access(plan, applied, history.tried))
        if denied:
            raise pulumi.RunError(denied)
        held = held_by_cluster(plan, applied, cluster)
        taken = not_ours(app, plan, held, owner) + held_twice(app, plan, applied) + unrecorded(
            app, plan, applied, history)
        if taken:
            raise ApplicationError(taken)
        digests = {d.key: digest(d.manifest) for d in plan.objects if d.kind != "Namespace" and not d.opaque}
        # Known not to be there, so not read again before each dry run: objects the listing did not find, and the
        # namespaces this stack is to create (it manages them and has none of them yet: the cluster has none).
        absent = frozenset(k for k, labels in (held or {}).items() if labels is None)
        missing = frozenset(where for where, labels in managed.items()
                            if labels is not None and in_cluster(where[0], namespace_key(app, where[1]))
                            not in applied.namespaces)
        refused = refused_by_cluster(app, plan, cluster, digests, history.tried, absent, missing)
        if refused:
            raise ApplicationError(refused)
        plan.resolution.history.tried = digests  # recorded once the update completes
        plan.resolution.history.component_objects = component_records(plan)
    except OamError as err:
        raise pulumi.RunError(str(err)) from None
    for note in plan.resolution.messages + plan.resolution.notes:
        pulumi.log.warn(note)
    timeout = plan.resolution.ready_timeout or cfg.ready_timeout
    back = rollback_command(app, history, cfg, plan.resolution, now)
    failed_view = failed_status(plan, cfg, back)
    # First what a failed update leaves behind; the record itself only once everything is applied.
    pulumi.runtime.get_root_resource().register_outputs({"status": failed_view})
    stopped = wait_for_ready(plan, applied, timeout, pulumi.runtime.is_dry_run(), cluster, clock, back)
    if stopped:
        # The stack's outputs once the program stops: the status says the stage failed, the record stays as it was.
        pulumi.export("status", failed_view)
        pulumi.export(STATE_OUTPUT, pulumi.Output.secret(recorded))
        raise pulumi.RunError(stopped)
    application = Application(plan, timeout, applied, endpoints=endpoints_reader(cluster),
                              providers=providers(cfg, plan),
                              chart_object=chart_objects(app, applied, cluster, plan.resolution.history.owner))
    done = application.settled(lambda failed: report_failures(plan, cluster, timeout, failed, back))
    outputs = {"status": status(plan, cfg), STATE_OUTPUT: plan.resolution.history.to_json()}
    pulumi.export("status", done.apply(lambda ok: outputs["status"] if ok else failed_view))
    # Kept as a secret only so that `pulumi stack output` stays short: it is bookkeeping, not a secret.
    pulumi.export(STATE_OUTPUT, pulumi.Output.secret(done.apply(lambda ok: outputs[STATE_OUTPUT] if ok else recorded)))
    return outputs
