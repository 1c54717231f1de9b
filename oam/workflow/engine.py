"""Resolve the stage: which revisions live, with how many replicas and what weight.

Pure: (application, recorded history, stage config, now) -> a Resolution and the new
history. The release is the unit an approval belongs to: it starts when the revisions to
roll out change, or when a rolled-back release is tried again.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional

from oam.config import StageConfig
from oam.errors import ApplicationError, ConfigError, ReleaseError
from oam.loader import closest
from oam.model import AppSpec, StepSpec
from oam.registry import STEPS
from oam.revisions import History, Release, Revision, assign_revisions, prune
from oam.traits.rollout import new_replicas
from oam.workflow import canary_rollout

PROGRESSING, SUSPENDED, SUCCEEDED, ROLLED_BACK = "progressing", "suspended", "succeeded", "rolled back"
ACTIVE = (PROGRESSING, SUSPENDED)


@dataclass
class Rollout:
    """The resolved state of one rolled-out component."""

    component: str
    live: list[Revision]  # ordered by revision number; each has a Deployment and a subset
    replicas: dict[str, int]
    weights: dict[str, int]  # revision -> weight; only used with canary-traffic

    @property
    def routes(self) -> dict[str, int]:
        return {r.name: self.weights[r.name] for r in self.live if self.weights.get(r.name, 0) > 0}


@dataclass
class Resolution:
    release: Release
    revisions: dict[str, Revision]  # current revision of every component
    rollouts: dict[str, Rollout]
    phase: str
    executed: int
    total: int
    gate: Optional[str] = None
    gate_opens_at: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    history: History = field(default_factory=History)
    ready_timeout: Optional[int] = None  # seconds, from the timeout of the step that set this stage


def utcnow() -> datetime:
    """The clock timed gates are measured with (tests replace it)."""
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _left(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


class WorkflowRun:
    """What the steps act on while the workflow runs up to the stage."""

    def __init__(self, app: AppSpec, cfg: StageConfig, release: Release, history: History,
                 same_release: bool, now: datetime):
        self.app, self.cfg, self.release, self.now = app, cfg, release, now
        self.partitions: dict[str, int] = {}
        self.weights: dict[str, dict[str, int]] = {}
        self.rolled_back = False
        self.gates = dict(history.gates) if same_release else {}
        self.used_gates: dict[str, str] = {}
        self.waiting: Optional[str] = None
        self.opens_at: Optional[str] = None
        self.notes: list[str] = []
        self.messages: list[str] = []  # for the log only: they change from run to run

    def partition(self, p: int) -> None:
        """Each canary step sets the whole picture: weights it does not give follow replicas."""
        for comp in self.app.canaried:
            self.partitions[comp.name] = p
            self.weights.pop(comp.name, None)

    def weigh(self, component: str, weights: dict[str, int]) -> None:
        self.weights[component] = dict(weights)

    def roll_back(self) -> None:
        self.rolled_back = True

    def gate(self, step: StepSpec, duration: Optional[int]) -> bool:
        if step.name in self.cfg.approve:
            return True
        if duration is None:
            self.waiting = step.name
            return False
        started = _parse_iso(self.gates[step.name]) if step.name in self.gates else self.now
        self.used_gates[step.name] = _iso(started)
        opens = started + timedelta(seconds=duration)
        if self.now >= opens:
            return True
        self.waiting = step.name
        self.opens_at = _iso(opens)
        self.messages.append(f"gate '{step.name}' opens in {_left((opens - self.now).total_seconds())} "
                          f"(at {self.opens_at}); until then pulumi up changes nothing")
        return False


def resolve(app: AppSpec, history: History, cfg: StageConfig, now: Optional[datetime] = None,
            stack_known: bool = True) -> Resolution:
    """Work out the desired state of this stage; raise an OamError for a move that is not allowed.

    Without ``stack_known`` (a check without a stack) the steps are not held against a
    history: whether a revision a step weighs exists is the stack's to say.
    """
    now = now or utcnow()
    history = copy.deepcopy(history)
    previous = copy.deepcopy(history.release)
    current = assign_revisions(app, history)
    canaried = [c.name for c in app.canaried]
    targets = {c: current[c].n for c in canaried}
    steps = app.steps
    rollback_step = any(s.type == "canary-rollback" for s in steps or ())

    release, same = _release(app, cfg, previous, targets, current, rollback_step)
    _check_stage(app, cfg)
    if not cfg.rollback and stack_known:
        _check_steps(app, release, history)
    _check_approvals(app, cfg, history, release, cfg.rollback or rollback_step)

    run = WorkflowRun(app, cfg, release, history, same, now)
    executed, total = 0, len(steps) if steps else 0
    limit = cfg.stage if cfg.stage is not None else total
    ready_timeout = None
    for i, step in enumerate((steps or ())[:limit], 1):
        go_on = STEPS.get(step.type).build(step.properties, run, step)
        if step.type != "suspend" and (go_on or not run.waiting):
            ready_timeout = step.timeout  # the step that set the replicas of this stage
        if not go_on and run.waiting:
            if cfg.stage is not None and cfg.stage > i:
                hint = f"{cfg.approve_command(step.name)}, or pulumi config set stage {i}"
                raise ReleaseError([cfg.problem("stage", f"stage {cfg.stage} skips the suspend step '{step.name}' "
                                                         f"(step {i}) that is not approved yet", hint)])
            break
        executed = i
        if not go_on:
            break
    if cfg.rollback:
        run.rolled_back = True

    rollouts = {}
    for comp in app.canaried:
        rollouts[comp.name] = _rollout(app, comp, run, release, history, current, steps is None)
    if run.rolled_back:
        phase = ROLLED_BACK
    elif run.waiting:
        phase = SUSPENDED
    elif executed == total:
        phase = SUCCEEDED
    else:
        phase = PROGRESSING

    release.phase, release.step, release.gate = phase, executed, run.waiting
    release.replicas = {name: n for r in rollouts.values() for name, n in r.replicas.items()}
    release.live = {c: [rev.name for rev in r.live] for c, r in rollouts.items()}
    history.release = release
    history.approvals = {a: release.n if history.approvals.get(a) is None else history.approvals[a]
                         for a in cfg.approve}
    history.gates = run.used_gates
    # Only a rolled-out component ever renders an older revision, from its stored properties.
    keep: dict[str, set[int]] = {}
    for c, r in rollouts.items():
        keep[c] = {current[c].n, *(rev.n for rev in r.live)}
        if c in release.baselines:
            keep[c].add(release.baselines[c])
    prune(history, keep)
    if cfg.rollback and release.targets != targets:
        run.notes.append(f"rollback is set: the release of {_describe(targets)} starts after pulumi config rm rollback")
    notes = run.notes + [f"approve '{a}' is left from release {history.approvals[a]} and does nothing here"
                         for a in cfg.approve if not _is_suspend(app, a)]
    if cfg.rollback:
        ready_timeout = None
    return Resolution(release, current, rollouts, phase, executed, total, run.waiting, run.opens_at,
                      notes, run.messages, history, ready_timeout)


def _is_suspend(app: AppSpec, name: str) -> bool:
    return any(s.name == name and s.type == "suspend" for s in app.steps or ())


def _describe(targets: dict[str, int]) -> str:
    return ", ".join(f"{c}-v{n}" for c, n in sorted(targets.items())) or "no rollout"


def _release(app: AppSpec, cfg: StageConfig, prev: Optional[Release], targets: dict[str, int],
             current: dict[str, Revision], rollback_step: bool) -> tuple[Release, bool]:
    """The release this run belongs to, and whether it is the one recorded last time."""
    if prev is None:
        return Release(n=1, targets=dict(targets)), False
    if prev.targets != targets:
        if cfg.rollback:
            # Roll back the recorded release, whatever file is set: its stable revision is in the history.
            return copy.deepcopy(prev), True
        if prev.phase in ACTIVE:
            changed = next(c for c in app.canaried if prev.targets.get(c.name) != targets.get(c.name))
            where = f"waiting at step {prev.step + 1} '{prev.gate}'" if prev.gate else f"at step {prev.step}"
            raise ReleaseError([app.locator.problem(
                changed.path + (("properties", "image") if "image" in changed.raw_properties else ("properties",)),
                f"release {prev.n} ({_describe(prev.targets)}) is still in progress ({where}); "
                f"this file starts another ({_describe(targets)})",
                f"roll release {prev.n} back first: pulumi config set rollback true && pulumi up, then "
                f"pulumi config rm rollback && pulumi up; or finish it with its own file and approvals")])
        stable = _stable(prev)
        baselines = {c: stable[c] for c in targets if c in stable and stable[c] != targets[c]}
        return Release(n=prev.n + 1, targets=dict(targets), baselines=baselines), False
    if prev.phase == ROLLED_BACK and not cfg.rollback and not rollback_step:
        return Release(n=prev.n + 1, targets=dict(targets), baselines=dict(prev.baselines)), False
    return copy.deepcopy(prev), True


def _stable(prev: Release) -> dict[str, int]:
    """The revision serving each component once ``prev`` has ended."""
    if prev.phase == ROLLED_BACK:
        return {c: prev.baselines.get(c, n) for c, n in prev.targets.items()}
    return dict(prev.targets)


def _check_stage(app: AppSpec, cfg: StageConfig) -> None:
    if cfg.stage is None:
        return
    if not app.steps:
        raise ConfigError([cfg.problem("stage", f"is {cfg.stage}, but {app.locator.file} has no workflow",
                                       "pulumi config rm stage")])
    if not 1 <= cfg.stage <= len(app.steps):
        raise ConfigError([cfg.problem("stage", f"must be from 1 to {len(app.steps)} (got {cfg.stage})",
                                       f"pulumi config set stage {len(app.steps)}, or pulumi config rm stage")])


def _check_approvals(app: AppSpec, cfg: StageConfig, history: History, release: Release, rolling_back: bool) -> None:
    """An approval must name a suspend step of the file (a typo is refused); never in the way of a rollback."""
    suspends = [s.name for s in app.steps or () if s.type == "suspend"]
    problems = []
    for name in cfg.approve:
        given_for = history.approvals.get(name)
        if name in suspends:
            if given_for is not None and given_for != release.n:
                problems.append(cfg.problem(
                    "approve", f"'{name}' approved release {given_for} and does not carry over to release "
                               f"{release.n} ({_describe(release.targets)})",
                    "pulumi config rm approve && pulumi up; approve again when this release waits at the gate"))
        elif given_for is None and not rolling_back:
            problems.append(cfg.problem("approve", f"'{name}' is not a suspend step of {app.locator.file}",
                                        closest(name, suspends)))
    if problems:
        raise ConfigError(problems)


def _rollout(app: AppSpec, comp, run: WorkflowRun, release: Release, history: History,
             current: dict[str, Revision], direct: bool) -> Rollout:
    spec = comp.trait("rollout").properties
    size = spec.target_size
    target = current[comp.name]
    base_n = release.baselines.get(comp.name)
    base = history.revision(comp.name, base_n) if base_n else None
    if run.rolled_back:
        if base is None:
            path = comp.path + ("name",)
            raise ReleaseError([app.locator.problem(path, f"'{comp.name}' has no earlier revision to roll back to "
                                                          f"(only {target.name})",
                                                    "pulumi config rm rollback, or deploy a file without canary-rollback")])
        return Rollout(comp.name, [base], {base.name: size}, {base.name: 100})
    if base is None:
        return Rollout(comp.name, [target], {target.name: size}, {target.name: 100})
    partition = len(spec.rollout_batches) - 1 if direct else run.partitions.get(comp.name)
    if partition is None:
        return Rollout(comp.name, [base], {base.name: size}, {base.name: 100})
    new = new_replicas(spec, partition)
    replicas = {base.name: size - new, target.name: new}
    weights = run.weights.get(comp.name) or _follow(replicas, size)
    return Rollout(comp.name, [base, target], replicas, {**{base.name: 0, target.name: 0}, **weights})


def _check_steps(app: AppSpec, release: Release, history: History) -> None:
    """Check every canary step against this release, run yet or not, before anything is applied."""
    problems = []
    for step in app.steps or ():
        if step.type != "canary-rollout":
            continue
        for comp_name, weights in canary_rollout.targets(step.properties, step).items():
            comp = app.component(comp_name)
            spec = comp.trait("rollout").properties
            target = release.targets[comp_name]
            base = release.baselines.get(comp_name)
            new = new_replicas(spec, step.properties.batch_partition)
            replicas = {f"{comp_name}-v{target}": new if base else spec.target_size}
            if base:
                replicas[f"{comp_name}-v{base}"] = spec.target_size - new
            for rev, (weight, path) in weights.items():
                n = canary_rollout.split_revision(rev)[1]
                if rev not in replicas:
                    known = ", ".join(r.name for r in history.revisions.get(comp_name, [])) or "none"
                    in_release = " and ".join(sorted(replicas))
                    what = "does not exist" if history.revision(comp_name, n) is None else "is not part of this release"
                    problems.append(app.locator.problem(
                        path, f"revision '{rev}' {what} (release {release.n} moves {comp_name} "
                              f"{'from ' + comp_name + '-v' + str(base) + ' ' if base else ''}to {comp_name}-v{target})",
                        f"weigh {in_release}; revisions so far: {known}"))
                elif weight > 0 and replicas[rev] == 0:
                    problems.append(app.locator.problem(
                        path, f"weight {weight} goes to '{rev}', which has 0 replicas at batchPartition "
                              f"{step.properties.batch_partition}", "give it weight 0, or move its batches with batchPartition"))
    if problems:
        raise ApplicationError(problems)


def _follow(replicas: dict[str, int], size: int) -> dict[str, int]:
    """Weights proportional to replicas, integers summing to 100 (largest remainder)."""
    exact = {r: n * 100 / size for r, n in replicas.items()}
    out = {r: int(v) for r, v in exact.items()}
    for r in sorted(exact, key=lambda r: exact[r] - out[r], reverse=True)[: 100 - sum(out.values())]:
        out[r] += 1
    return out
