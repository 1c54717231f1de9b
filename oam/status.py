"""The `status` stack output: where each rolled-out component stands and what to run next."""
from __future__ import annotations

from typing import Any

from oam.config import StageConfig
from oam.kit.placements import LOCAL
from oam.kit.spec import splits_traffic
from oam.render import Plan
from oam.workflow.clock import iso_of
from oam.workflow.engine import ROLLED_BACK, SUCCEEDED, SUSPENDED


STEP_MESSAGES = "stepMessages"  # step name -> the message a step shows (print-message-in-status)


WORKFLOW_STATUS = "workflowStatus"


def next_command(plan: Plan, cfg: StageConfig) -> str:
    res = plan.resolution
    if res.phase == SUSPENDED:
        analysis = res.analysis if res.analysis and res.analysis.step == res.gate else None
        if analysis:
            when = f"after {iso_of(analysis.decides_at)}" if analysis.decides_at else "again later"
            return (f"pulumi up {when} to let the analysis decide (python -m oam advance does it for you); "
                    f"or promote by hand: {cfg.approve_command(res.gate)} && pulumi up")
        if res.data_wait:
            return "pulumi up (python -m oam advance runs it for you): " + res.data_wait.removesuffix(
                ": run pulumi up again")
        if res.gate_opens_at:
            return f"pulumi up after {res.gate_opens_at} (or {cfg.approve_command(res.gate)} && pulumi up)"
        return f"{cfg.approve_command(res.gate)} && pulumi up"
    if res.phase == ROLLED_BACK:
        if res.release.aborted:
            return (f"pulumi config set retry {res.release.n} && pulumi up to try release {res.release.n} again; "
                    "or pulumi config set app <a fixed release> && pulumi up")
        if cfg.rollback:
            return "pulumi config rm rollback, then set app to a fixed release and pulumi up"
        return "pulumi config set app <a fixed release> && pulumi up"
    if res.phase == SUCCEEDED:
        if res.release.baselines:
            return "none: release complete (to undo it: pulumi config set rollback true && pulumi up)"
        return "none: release complete"
    if cfg.stage is not None and cfg.stage < res.total:
        return f"pulumi config set stage {cfg.stage + 1} && pulumi up"
    return "pulumi up"


def status(plan: Plan, cfg: StageConfig) -> dict[str, Any]:
    """A short, readable summary for `pulumi stack output status`."""
    res = plan.resolution
    app = plan.app
    out: dict[str, Any] = {}
    for name, rollout in res.rollouts.items():
        if res.total:
            step_name = app.steps[res.executed].name if res.phase == SUSPENDED else (
                app.steps[res.executed - 1].name if res.executed else "not started")
            shown = res.executed + 1 if res.phase == SUSPENDED else res.executed
            step = f"{shown}/{res.total} {step_name}"
        else:
            step = "no workflow: deployed directly"
        has_routes = splits_traffic(app.component(name))
        item: dict[str, Any] = {"release": res.release.n, "step": step, "phase": res.phase}
        clusters = _clusters(res)
        if clusters:
            # Each cluster where its own wave left it; one not deployed yet in this release is not listed.
            item["clusters"] = {c: {"revisions": _revisions(plan, name, res.rollouts_in(c)[name], has_routes)}
                                for c in clusters if c in placed_in(res)}
            for c in clusters:
                if c not in placed_in(res):
                    item["clusters"][c] = {"revisions": _kept_revisions(res, name, c),
                                           "stays": f"as the last update applied it, until its wave deploys "
                                                    f"release {res.release.n}"}
        else:
            item["revisions"] = _revisions(plan, name, rollout, has_routes)
        analysis = res.analysis if res.analysis and res.analysis.step == res.gate else None
        if analysis:
            item["waiting"] = f"{res.gate} (metric analysis)"
            item["analysis"] = analysis.status()
        elif res.gate and res.data_wait:
            item["waiting"] = f"{res.gate} (a step output)"
            item["opensAt"] = res.gate_opens_at
        elif res.gate:
            item["waiting"] = res.gate + (f" (opens at {res.gate_opens_at})" if res.gate_opens_at else " (needs approval)")
            if res.gate_opens_at:
                item["opensAt"] = res.gate_opens_at
        if res.release.aborted:
            item["rolledBackBy"] = res.release.aborted
        item["next"] = next_command(plan, cfg)
        out[name] = item
    if not res.rollouts and res.total:
        # An application that rolls nothing out: where its workflow is (camelCase: no component's name).
        shown = res.executed + 1 if res.phase == SUSPENDED else res.executed
        name = app.steps[min(shown, res.total) - 1].name if shown else "not started"
        item = {"release": res.release.n, "step": f"{shown}/{res.total} {name}", "phase": res.phase}
        if res.gate:
            item["waiting"] = res.gate + (" (a step output)" if res.data_wait else
                                          f" (opens at {res.gate_opens_at})" if res.gate_opens_at else
                                          " (needs approval)")
            if res.gate_opens_at:
                item["opensAt"] = res.gate_opens_at
        item["next"] = next_command(plan, cfg)
        out[WORKFLOW_STATUS] = item
    if res.notes:
        out["notes"] = list(res.notes)
    if res.shown:
        # camelCase, which no component name can be: the key never takes a component's place.
        out[STEP_MESSAGES] = dict(res.shown)
    return out


def placed_in(res) -> list[str]:
    """The clusters this stage deploys the release to."""
    return list(dict.fromkeys(p.cluster for p in res.placements))


def _clusters(res) -> list[str]:
    """The clusters the status lists one by one, when one is not the local cluster: those the stage deploys to,
    then those that keep what an earlier update applied."""
    listed = list(dict.fromkeys(placed_in(res) + [r.get("cluster") or LOCAL for r in res.kept]))
    return listed if any(c != LOCAL for c in listed) else []


def _kept_revisions(res, name: str, cluster: str) -> dict[str, Any]:
    """The revisions of ``name`` in a cluster the stage keeps as it was applied: the recorded Deployments."""
    out = {}
    for r in res.kept:
        if (r.get("cluster") or LOCAL) == cluster and r.get("component") == name and r.get("role") == "deployment":
            spec = r["manifest"].get("spec") or {}
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
            out[r.get("revision") or r["manifest"]["metadata"]["name"]] = {"image": containers[0].get("image", ""),
                                                                            "replicas": spec.get("replicas", 1)}
    return out


def _revisions(plan: Plan, name: str, rollout, has_routes: bool) -> dict[str, Any]:
    revisions = {}
    for rev in rollout.live:
        entry: dict[str, Any] = {"image": _image(plan, name, rev.name), "replicas": rollout.replicas[rev.name]}
        if has_routes:
            entry["weight"] = rollout.routes.get(rev.name, 0)
        revisions[rev.name] = entry
    return revisions


def _image(plan: Plan, component: str, revision: str) -> str:
    for d in plan.objects:
        if d.component == component and d.role == "deployment" and d.revision == revision:
            return d.manifest["spec"]["template"]["spec"]["containers"][0]["image"]
    return ""


def failed_status(plan: Plan, cfg: StageConfig, back: str = "") -> dict[str, Any]:
    """What `status` says when this stage's update did not apply everything (recorded before it starts).

    ``back``: the rollback command to offer, when one would be taken (program.rollback_command)."""
    res = plan.resolution
    out = status(plan, cfg)
    out.pop(STEP_MESSAGES, None)  # the steps' messages belong to a stage that was applied
    if res.total and res.executed:
        step = f"step {res.executed}/{res.total} {plan.app.steps[res.executed - 1].name}"
    elif res.phase == ROLLED_BACK:
        step = "the rollback"
    else:
        step = "the deploy"
    for name, item in out.items():
        if name == "notes":
            continue
        item["phase"] = "failed"
        item["failed"] = (f"pulumi up did not apply {step} in full (see its error); routes stay where they were "
                          f"until the pods they send to are Ready")
        if "revisions" in item:
            item["wanted"] = item.pop("revisions")
        item.pop("waiting", None)
        item.pop("opensAt", None)
        item["next"] = ("fix the cause, then pulumi up (it goes on from where the cluster is, in the safe order)"
                        + (f"; or roll back: {back}" if back else ""))
    return out
