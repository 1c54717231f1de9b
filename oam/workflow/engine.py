"""Resolve the stage: run the workflow's steps up to it, then size the revisions of every rolled-out component.

Pure: (application, recorded history, stage config, now) -> a Resolution and the new
history. The steps act on a WorkflowRun; the release lifecycle is in release.py and the
rollout arithmetic in rollouts.py.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

from pydantic import ValidationError

from oam.config import StageConfig
from oam.errors import ApplicationError, ConfigError, ReleaseError
from oam.kit.metrics import DEFAULT_ENDPOINT, Condition
from oam.kit.placements import LOCAL, Placement, clusters_of, default_placements, placements
from oam.kit.run import LiveObjects
from oam.kit.spec import AppSpec, StepSpec, all_steps, rollout_of
from oam.kit.stage import Rollout
from oam.metrics import FAILED, PASSED, PENDING, MetricsError, MetricSource, Verdict, judge, resolution
from oam.registry import STEPS
from oam.revisions import History, Release, Revision
from oam.workflow import rollouts, values
from oam.workflow.analysis import Analysis
from oam.workflow.assign import assign_revisions, prune
from oam.workflow.clock import iso, iso_of, left, parse_iso, utcnow
from oam.workflow.release import (ACTIVE, PROGRESSING, ROLLED_BACK, SUCCEEDED, SUSPENDED, check_approvals,
                                  current_release, describe, describe_release, held_back)

__all__ = ["ACTIVE", "PROGRESSING", "ROLLED_BACK", "SUCCEEDED", "SUSPENDED", "Resolution", "Rollout", "StepObject",
           "WorkflowRun", "resolve", "utcnow"]


_WAIT = object()  # an output that cannot be read yet
DATA_RECHECK = 2  # seconds: when the driver runs pulumi up again for an output it waits on


@dataclass(frozen=True)
class StepObject:
    """An object a step applies itself (not a component's): it exists from the stage that reaches its step on."""

    step: str  # the name of the step that applies it
    path: tuple  # where the file writes it, for messages
    manifest: dict


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
    placements: list[Placement] = field(default_factory=list)  # where the application is, at this stage
    analysis: Optional[Analysis] = None  # the metric gate this stage waits at, or the one that ended the release
    objects: list[StepObject] = field(default_factory=list)  # what the steps run so far apply, in step order
    shown: dict[str, str] = field(default_factory=dict)  # step name -> the message it shows in the status
    data_wait: Optional[str] = None  # why the workflow waits at ``gate`` for a step output it cannot read yet
    # The recorded objects of components placed before that no step run so far has placed again: kept as applied.
    kept: list[dict] = field(default_factory=list)
    # Whether this stage keeps such components (steps deploy them, the workflow is not done, not pinned back).
    keeps: bool = False
    # (cluster, namespace, component; None for every component) -> the number of the top-level step that first
    # deployed it at this stage: a later step's pods wait for an earlier step's (the sub-steps of a step-group run
    # together).
    order: dict[tuple[str, str, Optional[str]], int] = field(default_factory=dict)
    # cluster -> the revisions of every rolled-out component there: each cluster of a workflow of several waves
    # stands where its own wave left it (``rollouts`` is the first placed cluster's, the local one when placed).
    clusters: dict[str, dict[str, Rollout]] = field(default_factory=dict)

    def rollouts_in(self, cluster: str) -> dict[str, Rollout]:
        return self.clusters.get(cluster, self.rollouts)


@dataclass
class Wave:
    """Top-level steps from a deploy step that sends the release to a new set of clusters up to the next one: the
    canary steps among them move those clusters only."""

    start: int  # the number of its first top-level step
    clusters: tuple[str, ...]
    moves: bool = False  # whether one of its steps moves the release (a canary step); if none, it deploys directly
    steps: list[str] = field(default_factory=list)


class WorkflowRun:
    """What the steps act on while the workflow runs up to the stage. The steps see it as a kit.run.Run: the
    application, the release, and the moves they make; the rest is the engine's bookkeeping."""

    def __init__(self, app: AppSpec, cfg: StageConfig, release: Release, history: History,
                 same_release: bool, now: datetime, current: Optional[dict[str, Revision]] = None,
                 metrics: Optional[MetricSource] = None, cluster: Optional[LiveObjects] = None):
        self.app, self.cfg, self.release, self.now = app, cfg, release, now
        self.history = history
        self.current = current or {}
        self.metrics = metrics
        self.analysis: Optional[Analysis] = None
        self.partitions: dict[str, int] = {}
        self.weights: dict[str, dict[str, int]] = {}
        self.rolled_back = False
        self.gates = dict(history.gates) if same_release else {}
        self.used_gates: dict[str, str] = {}
        self.passed = dict(history.passed) if same_release else {}
        self.used_passed: dict[str, str] = {}
        self.waiting: Optional[str] = None
        self.opens_at: Optional[str] = None
        self.notes: list[str] = []
        self.messages: list[str] = []  # for the log only: they change from run to run
        self.placed: dict[tuple[str, str], Placement] = {}  # (cluster, namespace) -> placement, from the deploy
        # steps run so far
        self.order: dict[tuple[str, str, Optional[str]], int] = {}  # what each step deployed first: see Resolution
        self.waves: list[Wave] = []  # more than one when the release goes to its clusters wave by wave
        self.wave = -1  # the wave running
        self.wave_moves: dict[int, tuple[dict[str, int], dict[str, dict[str, int]]]] = {}  # its partitions, weights
        self.cluster_wave: dict[str, int] = {}  # cluster -> the last wave that deployed it
        self.step_number = 0  # the top-level step running
        self.aborted: Optional[str] = None  # why a metric gate rolled the release back
        self.objects: list[StepObject] = []
        self.shown: dict[str, str] = {}
        # Step outputs. A value is kept with the mark of what its step gave it from (the revision of the
        # component it applied, the object it read): later stages take the same value while the mark holds.
        # ``applied`` is the mark each step that reads what it applied had in the last completed update.
        self.values: dict[str, list] = dict(history.values)
        self.applied: dict[str, str] = dict(history.applied)
        self.marks: dict[str, str] = {}
        self.givers: dict[str, tuple[StepSpec, Any, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}  # step -> phase, succeeded, failed, skipped, timeout (its if)
        self.cluster = cluster  # what steps that read the cluster read it through; None without a stack
        self.data_wait: Optional[str] = None

    def step(self, step: StepSpec) -> bool:
        """Run one step: its inputs read, its if asked, its inputs put into its properties; True to go on."""
        definition = STEPS.get(step.type)
        taken: dict[str, Any] = {}
        for given in step.inputs:
            value = self.value(given.source, step)
            if value is _WAIT:
                return False
            taken[given.source] = value
        if step.condition is not None and not step.condition.always:
            scope = {"inputs": taken, "status": self.statuses, "context": self._context(step)}
            try:
                runs = values.holds(step.condition, scope)
            except (values.Missing, ValueError) as err:
                raise ApplicationError([self.app.locator.problem(step.path + ("if",), str(err),
                                                                 f"write {values.CONDITION}")]) from None
            if not runs:
                self.statuses[step.name] = _status("skipped")
                return True
        p = step.properties
        if any(given.key is not None for given in step.inputs):
            p = self._filled(step, definition, taken)
        go_on = definition.run(p, self, step)
        if go_on:
            self.statuses[step.name] = _status("succeeded")
        if step.outputs:
            self.marks[step.name] = definition.mark(p, self, step)
        for output in step.outputs:
            self.givers[output.name] = (step, definition, p)
        return go_on

    def _context(self, step: StepSpec) -> dict[str, str]:
        return {"name": self.app.name, "appName": self.app.name, "namespace": self.app.namespace,
                "stepName": step.name}

    def _filled(self, step: StepSpec, definition, taken: dict[str, Any]) -> Any:
        raw = copy.deepcopy(step.raw)
        for given in step.inputs:
            if given.key is None:
                continue
            value = taken[given.source]
            try:
                raw = values.put({"properties": raw}, given.key if given.key[0] == "properties" else
                                 ("properties",) + given.key, value)["properties"]
            except ValueError as err:
                raise ApplicationError([self.app.locator.problem(given.path + ("parameterKey",), str(err),
                                                                 "name a place in the step's properties")]) from None
        try:
            p = definition.Properties.model_validate(raw)
        except ValidationError as err:
            where = "; ".join(".".join(str(x) for x in e["loc"]) + ": " + e["msg"] for e in err.errors()[:3])
            raise ApplicationError([self.app.locator.problem(
                step.path + ("inputs",), f"with its inputs put in, the step's properties are not valid: {where}",
                "check that each input's value fits where parameterKey puts it")]) from None
        problems = list(definition.check(dataclasses.replace(step, properties=p), self.app, None))
        if problems:
            raise ApplicationError(problems)
        return p

    def value(self, name: str, consumer: StepSpec) -> Any:
        """The value of output ``name`` for ``consumer``: as read before from the same source (mark), else read
        now; _WAIT (the workflow stops at ``consumer`` for this update) when it cannot be read yet."""
        giver, definition, p = self.givers[name]
        mark = self.marks[giver.name]
        if name in self.values and self.values[name][0] == mark:
            return self.values[name][1]
        output = next(o for o in giver.outputs if o.name == name)
        scope = {"context": self._context(giver)}
        if output.expression.roots - {"context"}:
            if definition.reads_applied and self.applied.get(giver.name) != mark:
                return self._wait(consumer, f"takes '{name}' from step '{giver.name}', which reads what that step "
                                            "applied once the update that applies it has completed")
            given = definition.given(p, self, giver)
            if given is None:
                return self._wait(consumer, f"takes '{name}' from step '{giver.name}', which cannot read "
                                            f"{'the cluster without a stack' if self.cluster is None else 'it yet'}")
            scope.update(given)
        try:
            value = values.evaluate(output.expression, scope)
        except values.Missing as err:
            return self._wait(consumer, f"takes '{name}' from step '{giver.name}': {err} yet")
        except ValueError as err:
            raise ApplicationError([self.app.locator.problem(output.path + ("valueFrom",), str(err))]) from None
        self.values[name] = [mark, value]
        return value

    def _wait(self, consumer: StepSpec, why: str):
        self.waiting = consumer.name
        self.opens_at = iso(self.now + timedelta(seconds=DATA_RECHECK))
        self.data_wait = f"step '{consumer.name}' {why}: run pulumi up again"
        self.messages.append(self.data_wait)
        return _WAIT

    def apply(self, step: StepSpec, manifest: dict, path: tuple) -> None:
        """The stage applies ``manifest`` (an object written in full, at ``path`` of the file) for ``step``."""
        self.objects.append(StepObject(step.name, path, manifest))

    def show(self, step: StepSpec, message: str) -> None:
        """The status shows ``message`` for ``step``, at every stage that reaches it."""
        self.shown[step.name] = message

    def deploy(self, placements: list[Placement]) -> None:
        """The application goes (also) to these placements; one to a namespace it is in already joins that one."""
        for placement in placements:
            have = self.placed.get(placement.where)
            self.placed[placement.where] = placement if have is None else have.joined(placement)
            self.cluster_wave[placement.cluster] = self.wave
            for comp in placement.components if placement.components is not None else (None,):
                self.order.setdefault((placement.cluster, placement.namespace, comp), self.step_number)

    def enter(self, number: int) -> None:
        """Top-level step ``number`` runs next: when it starts a wave, the canary steps from here on move the
        clusters of that wave, from their baseline."""
        for k, wave in enumerate(self.waves):
            if wave.start == number and k != self.wave:
                self.wave = k
                self.partitions, self.weights = {}, {}
                self.wave_moves[k] = (self.partitions, self.weights)

    def clusters(self) -> list[str]:
        """The clusters the release is in at this point of the workflow."""
        return list(dict.fromkeys(c for c, _ in self.placed)) or [LOCAL]

    def wave_clusters(self) -> tuple[str, ...]:
        """The clusters of the wave running (all of them when the workflow has one wave)."""
        if 0 <= self.wave < len(self.waves):
            return self.waves[self.wave].clusters
        return tuple(self.clusters())

    def partition(self, p: int) -> None:
        """Each canary step sets the whole picture: weights it does not give follow replicas."""
        for comp in self.app.canaried:
            self.partitions[comp.name] = p
            self.weights.pop(comp.name, None)

    def move(self, component: str, partition: int) -> None:
        """One component's release goes to ``partition``, its traffic following its pods."""
        self.partitions[component] = partition
        self.weights.pop(component, None)

    def complete(self, component: str) -> None:
        """One component's release goes to its last batch, its traffic following its pods."""
        trait, spec = rollout_of(self.app.component(component))
        self.move(component, trait.batches(spec) - 1)

    def weigh(self, component: str, weights: dict[str, int]) -> None:
        self.weights[component] = dict(weights)

    def roll_back(self) -> None:
        self.rolled_back = True

    def baseline(self, component: str) -> Optional[str]:
        """The name of the revision this release moves ``component`` away from; None on its first release."""
        n = self.release.baselines.get(component)
        rev = self.history.revision(component, n) if n else None
        return rev.name if rev is not None else None

    def target(self, component: str) -> str:
        """The name of the revision this release rolls ``component`` out to."""
        return self.current[component].name

    def namespaces(self) -> list[str]:
        """Where the application is at this point of the workflow."""
        return list(dict.fromkeys(ns for _, ns in self.placed)) or list(dict.fromkeys(
            p.namespace for p in default_placements(self.app, self.cfg.clusters)))

    def analyse(self, step: StepSpec, what: str, query: str, endpoint: Optional[str], condition: Condition,
                duration: int, fail_duration: int) -> bool:
        """A metric gate: open once Prometheus shows ``condition`` held for ``duration`` since the analysis started.

        The first run that reaches it starts the analysis (the stage before it is applied by
        that run). One broken for ``fail_duration`` rolls the release back in this run.
        Prometheus not answering is no verdict: the gate stays as it is.
        """
        if step.name in self.cfg.approve:
            return True
        endpoints = [endpoint] if endpoint else (self._cluster_prometheus() or
                                                 [self.cfg.prometheus_url or DEFAULT_ENDPOINT])
        started = parse_iso(self.gates[step.name]) if step.name in self.gates else self.now
        self.used_gates[step.name] = iso(started)
        if step.name in self.passed:  # decided once: never asked again in this release
            self.used_passed[step.name] = self.passed[step.name]
            return True
        window = self.now.timestamp() - started.timestamp()
        analyses = []
        for url in endpoints:  # each cluster of the wave with a Prometheus of its own: every one must pass
            analysis = Analysis(step.name, what, query, url, str(condition), duration, fail_duration,
                                started.timestamp(), self.now.timestamp(), resolution(duration, fail_duration, window))
            if started == self.now:
                analysis.verdict = Verdict(PENDING)
            elif self.metrics is None:
                analysis.error = "not queried without a stack"
            else:
                try:
                    points = self.metrics.series(url, query, started.timestamp(), self.now.timestamp(),
                                                 analysis.resolution)
                    analysis.verdict = judge(points, condition, duration, fail_duration)
                except MetricsError as err:
                    analysis.error = str(err)
            analyses.append(analysis)
        # The one that decides: a broken one, else one with no verdict yet (or no answer), else the last to pass.
        analysis = next((a for a in analyses if a.verdict.state == FAILED), None) or next(
            (a for a in analyses if a.error or a.verdict.state != PASSED), None) or max(
            analyses, key=lambda a: a.verdict.at or 0)
        self.analysis = analysis
        if analysis.verdict.state == PASSED and not analysis.error:
            self.used_passed[step.name] = iso_of(analysis.verdict.at)
            self.messages.append(analysis.summary())
            return True
        if analysis.verdict.state == FAILED:
            self.roll_back()
            self.aborted = analysis.summary()
            self.messages.append(self.aborted)
            return False
        self.waiting = step.name
        self.messages.append(analysis.summary())
        return False

    def _cluster_prometheus(self) -> list[str]:
        """The Prometheus of each of the wave's clusters that has one in the clusters config, for its gates."""
        known = self.cfg.clusters or {}
        return list(dict.fromkeys(known[c].prometheus_url for c in self.wave_clusters()
                                  if c in known and known[c].prometheus_url))

    def gate(self, step: StepSpec, duration: Optional[int]) -> bool:
        """Whether a gate is open: approved, or ``duration`` seconds after it started waiting."""
        if step.name in self.cfg.approve:
            return True
        if duration is None:
            self.waiting = step.name
            return False
        started = parse_iso(self.gates[step.name]) if step.name in self.gates else self.now
        self.used_gates[step.name] = iso(started)
        opens = started + timedelta(seconds=duration)
        if self.now >= opens:
            return True
        self.waiting = step.name
        self.opens_at = iso(opens)
        self.messages.append(f"gate '{step.name}' opens in {left((opens - self.now).total_seconds())} "
                             f"(at {self.opens_at}); until then pulumi up changes nothing")
        return False


def resolve(app: AppSpec, history: History, cfg: StageConfig, now: Optional[datetime] = None,
            stack_known: bool = True, metrics: Optional[MetricSource] = None,
            cluster: Optional[LiveObjects] = None) -> Resolution:
    """Work out the desired state of this stage; raise an OamError for a move that is not allowed.

    Without ``stack_known`` (a check without a stack) the steps are not held against a
    history: whether a revision a step weighs exists is the stack's to say. ``metrics``
    answers the metric gates' queries (none: they wait, unqueried); ``cluster`` the steps that read what the
    cluster holds (none: their outputs wait).
    """
    now = now or utcnow()
    history = copy.deepcopy(history)
    history_before = copy.deepcopy(history)
    previous = copy.deepcopy(history.release)
    current = assign_revisions(app, history)
    targets = {c.name: current[c.name].n for c in app.canaried}
    steps = app.steps
    ends_release = any(STEPS.get(s.type).ends_release for s in all_steps(steps))

    # A record from before releases followed every component: the newest revision of each was the one deployed.
    latest = {c.name: max((r.n for r in history_before.revisions.get(c.name, ())), default=0) for c in app.components}
    release, same = current_release(app, cfg, previous, targets, current, ends_release, latest)
    # A release a metric gate rolled back stays rolled back until it is retried or another starts.
    aborted = release.aborted if same and release.phase == ROLLED_BACK else None
    _check_stage(app, cfg)
    if not cfg.rollback and not aborted and stack_known:
        problems = [p for s in all_steps(steps) for p in STEPS.get(s.type).check_release(s, app, release, history)]
        if problems:
            raise ApplicationError(problems)
    check_approvals(app, cfg, history, release, bool(cfg.rollback or ends_release or aborted), current)

    run = WorkflowRun(app, cfg, release, history, same, now, current, metrics, cluster)
    run.waves = waves(app, cfg)
    executed, ready_timeout = _run_steps(run, aborted)
    total = len(steps) if steps else 0
    placing = any(STEPS.get(s.type).places for s in all_steps(steps))
    placed = list(run.placed.values()) if placing else default_placements(app, cfg.clusters)
    by_cluster, sized = _sizes(run, placed)
    phase = _phase(run, executed, total)

    release.phase, release.step, release.gate, release.aborted = phase, executed, run.waiting, run.aborted
    everywhere = [r for rollouts in (by_cluster or {LOCAL: sized}).values() for r in rollouts.values()]
    release.replicas = {name: n for r in everywhere for name, n in r.replicas.items()}
    release.live = {c: list(dict.fromkeys(rev.name for r in everywhere if r.component == c for rev in r.live))
                    for c in sized}
    history.release = release
    history.approvals = {a: release.n if history.approvals.get(a) is None else history.approvals[a]
                         for a in cfg.approve}
    history.approved = {a: held for a in cfg.approve if a in app.gates() and (held := held_back(app, a, current))}
    history.gates = run.used_gates
    history.passed = run.used_passed
    outputs = {o.name for s in all_steps(steps) for o in s.outputs}
    giving = {s.name for s in all_steps(steps) if s.outputs}
    history.values = {k: v for k, v in run.values.items() if k in outputs}
    history.applied = {k: v for k, v in {**run.applied, **run.marks}.items() if k in giving}
    # What steps applied before stays as it was until the workflow reaches those steps again (KubeVela, too,
    # removes what a release no longer applies only once its workflow is done): a workflow that waits before
    # the step that writes a ConfigMap does not delete the ConfigMap meanwhile. A stage pinned in the same
    # release is what it says (going back a stage takes the objects of later steps away again).
    reached = {s.name for s in all_steps((steps or ())[:executed])}
    kept = [] if phase == SUCCEEDED or (cfg.stage is not None and same) else [
        StepObject(name, _step_path(steps, name), manifest) for name, manifest in history_before.step_objects
        if name not in reached]
    run.objects = kept + run.objects
    history.step_objects = [[o.step, o.manifest] for o in run.objects]
    # Only a rolled-out component ever renders an older revision, from its stored properties.
    keep: dict[str, set[int]] = {}
    for r in everywhere:
        c = r.component
        keep[c] = keep.get(c, set()) | {current[c].n, *(rev.n for rev in r.live)}
        if c in release.baselines:
            keep[c].add(release.baselines[c])
    prune(history, keep)
    if cfg.rollback and release.targets != targets:
        run.notes.append(f"rollback is set: the release of {describe(targets)} starts after pulumi config rm rollback")
    gates = app.gates()
    notes = run.notes + [f"approve '{a}' is left from release {history.approvals[a]} and does nothing here"
                         for a in cfg.approve if a not in gates]
    if cfg.rollback or run.aborted:
        ready_timeout = None
    if cfg.retry is not None and not (not same and previous is not None and previous.aborted
                                      and cfg.retry == previous.n):
        notes.append(f"retry {cfg.retry} does nothing here: release {release.n} ({describe_release(release)}) "
                     f"is {release.phase}" + (", and only a release a metric gate rolled back is retried"
                                              if release.n == cfg.retry else "")
                     + "; pulumi config rm retry")
    # A component that steps placed before stays as it was applied until a step places it again: a new release
    # waiting at a gate leaves the components after the gate on their last revision (as KubeVela does, which
    # removes what a release no longer deploys only once its workflow is done), never without them.
    keeps = placing and phase != SUCCEEDED and not (cfg.stage is not None and same)
    kept = _kept_components(history_before, placed) if keeps else []
    notes += _kept_notes(run, kept)
    return Resolution(release=release, revisions=current, rollouts=sized, phase=phase, executed=executed, total=total,
                      gate=run.waiting, gate_opens_at=run.opens_at, notes=notes, messages=run.messages,
                      history=history, ready_timeout=ready_timeout, placements=placed, analysis=run.analysis,
                      objects=run.objects, shown=run.shown, data_wait=run.data_wait, kept=kept, keeps=keeps,
                      order=run.order if placing else {}, clusters=by_cluster)


def _run_steps(run: WorkflowRun, aborted: Optional[str]) -> tuple[int, Optional[int]]:
    """Run the workflow's steps up to the stage: none for a release a metric gate rolled back (those it had run are
    replayed, for where they placed the application). Returns how many top-level steps ran to their end, and the
    timeout of the step that set the replicas of this stage (None: readyTimeout applies)."""
    cfg, release, steps = run.cfg, run.release, run.app.steps
    executed, total = 0, len(steps) if steps else 0
    limit = cfg.stage if cfg.stage is not None else total
    ready_timeout = None
    if aborted:
        run.aborted, run.rolled_back, executed, limit = aborted, True, release.step, 0
        run.used_gates, run.used_passed = dict(run.gates), dict(run.passed)  # the record stays as it is
        _replay(run, (steps or ())[:release.step])
    for i, step in enumerate((steps or ())[:limit], 1):
        definition = STEPS.get(step.type)
        run.step_number = i
        run.enter(i)
        go_on = run.step(step)
        if not definition.gate and (go_on or not run.waiting):
            ready_timeout = step.timeout  # the step that set the replicas of this stage
        if not go_on and run.waiting:
            if cfg.stage is not None and cfg.stage > i:
                hint = f"{cfg.approve_command(step.name)}, or pulumi config set stage {i}"
                what = ("metric gate", "has not passed") if run.analysis and run.analysis.step == step.name else (
                    "suspend step", "is not approved")
                raise ReleaseError([cfg.problem("stage", f"stage {cfg.stage} skips the {what[0]} '{step.name}' "
                                                         f"(step {i}) that {what[1]} yet", hint)])
            break
        executed = i
        if not go_on:
            break
    if cfg.rollback:
        run.rolled_back = True
    return executed, ready_timeout


def _sizes(run: WorkflowRun, placed: list[Placement]) -> tuple[dict[str, dict[str, Rollout]], dict[str, Rollout]]:
    """The revisions of every rolled-out component at this stage: in each cluster, when the workflow goes wave by
    wave (empty otherwise), and in the first placed cluster."""
    app, release, history, current, steps = run.app, run.release, run.history, run.current, run.app.steps
    by_cluster: dict[str, dict[str, Rollout]] = {}
    for where in clusters_of(placed) if run.waves else ():
        k = run.cluster_wave.get(where, max((k for k, w in enumerate(run.waves) if where in w.clusters and k <= run.wave),
                                            default=-1))
        partitions, weights = run.wave_moves.get(k, ({}, {}))
        direct = steps is None or (k >= 0 and not run.waves[k].moves)
        by_cluster[where] = {comp.name: _size(app, comp, run, release, history, current, direct, partitions, weights)
                             for comp in app.canaried}
    sized = by_cluster[clusters_of(placed)[0]] if by_cluster else {
        comp.name: _size(app, comp, run, release, history, current, steps is None) for comp in app.canaried}
    return by_cluster, sized


def _phase(run: WorkflowRun, executed: int, total: int) -> str:
    """Where the release stands once the steps up to the stage have run."""
    if run.rolled_back:
        return ROLLED_BACK
    if run.waiting:
        return SUSPENDED
    return SUCCEEDED if executed == total else PROGRESSING


def _kept_components(recorded: History, placed: list[Placement]) -> list[dict]:
    """The recorded objects of components that no step run so far has placed where they are."""
    return [o for o in recorded.component_objects or ()
            if not _covers(placed, o.get("cluster") or LOCAL, o.get("placement"), o.get("component"))]


def _kept_notes(run: WorkflowRun, kept: list[dict]) -> list[str]:
    """A note for each component (and where it is) that stays as the last update applied it."""
    notes = []
    for name, namespace, cluster in dict.fromkeys((o.get("component"), o.get("placement"), o.get("cluster"))
                                                  for o in kept):
        where = f" in namespace '{namespace}'" if namespace != run.app.namespace else ""
        where += f" of cluster '{cluster}'" if cluster else ""
        until = f"; the workflow waits at '{run.waiting}'" if run.waiting else ""
        notes.append(f"component '{name}'{where} stays as the last update applied it until a step of release "
                     f"{run.release.n} deploys it there{until}")
    return notes


def _covers(placements: list[Placement], cluster: str, namespace, component) -> bool:
    """Whether one of ``placements`` deploys ``component`` to ``namespace`` of ``cluster``."""
    return any(p.where == (cluster, namespace) and (p.components is None or component in p.components)
               for p in placements)


def waves(app: AppSpec, cfg: StageConfig) -> list[Wave]:
    """The workflow's waves: a top-level step that deploys to other clusters than the wave before starts one (a
    canary step before any deploy step starts one in the clusters of the application's placements). Empty when
    every step deploys to the same clusters: the canary steps then move every cluster together."""
    out: list[Wave] = []
    for i, step in enumerate(app.steps or (), 1):
        subs = [step, *step.sub_steps]
        where = tuple(dict.fromkeys(c for s in subs for c in _step_clusters(app, s, cfg)))
        if where and (not out or set(where) != set(out[-1].clusters)):
            out.append(Wave(i, where))
        if any(STEPS.get(s.type).moves_release for s in subs):
            if not out:
                out.append(Wave(i, clusters_of(default_placements(app, cfg.clusters))))
            out[-1].moves = True
        if out:
            out[-1].steps.append(step.name)
    return out if len(out) > 1 or any(c != LOCAL for w in out for c in w.clusters) else []


def _step_clusters(app: AppSpec, step: StepSpec, cfg: StageConfig) -> tuple[str, ...]:
    """The clusters a step deploys to (none for a step that deploys nothing)."""
    definition = STEPS.get(step.type)
    names = getattr(step.properties, "policies", None)
    if definition is None or step.properties is None or not (definition.places or names):
        return ()
    chosen = placements(app, tuple(names), cfg.clusters) if names else default_placements(app, cfg.clusters)
    return clusters_of(chosen)


def _replay(run: WorkflowRun, steps) -> None:
    """Where the steps a rolled-back release had run placed the application, and what they applied: kept.

    The steps run again, every gate open, on a run of their own: only their placements,
    objects and messages are taken, never their moves of the release (it is rolled back).
    """
    opened = dataclasses.replace(run.cfg, approve=tuple(run.app.gates()))
    again = WorkflowRun(run.app, opened, run.release, run.history, False, run.now, run.current)
    again.values, again.applied = dict(run.values), dict(run.applied)
    for step in steps:
        if step.properties is not None:
            again.step(step)
    run.placed, run.objects, run.shown = again.placed, again.objects, again.shown


def _status(phase: str) -> dict[str, Any]:
    """What an if reads of an earlier step. A step here never ends failed or timed out: a failed step (pods not
    Ready in time) fails the pulumi up, and nothing after it runs."""
    return {"phase": phase, "succeeded": phase == "succeeded", "failed": False, "skipped": phase == "skipped",
            "timeout": False}


def _step_path(steps, name: str) -> tuple:
    """Where step ``name`` writes its object, for messages; () when the file has that step no more."""
    step = next((s for s in all_steps(steps) if s.name == name), None)
    return step.path + ("properties",) if step is not None else ()


def _check_stage(app: AppSpec, cfg: StageConfig) -> None:
    if cfg.stage is None:
        return
    if not app.steps:
        raise ConfigError([cfg.problem("stage", f"is {cfg.stage}, but {app.locator.file} has no workflow",
                                       "pulumi config rm stage")])
    if not 1 <= cfg.stage <= len(app.steps):
        raise ConfigError([cfg.problem("stage", f"must be from 1 to {len(app.steps)} (got {cfg.stage})",
                                       f"pulumi config set stage {len(app.steps)}, or pulumi config rm stage")])


def _size(app: AppSpec, comp, run: WorkflowRun, release: Release, history: History,
          current: dict[str, Revision], direct: bool, partitions: Optional[dict[str, int]] = None,
          weights: Optional[dict[str, dict[str, int]]] = None) -> Rollout:
    """The live revisions of a rolled-out component at this stage (in one cluster's wave: ``partitions`` and
    ``weights`` of its canary steps), their pods and weights."""
    partitions = run.partitions if partitions is None else partitions
    weights = run.weights if weights is None else weights
    trait, spec = rollout_of(comp)
    size = trait.target_size(spec)
    target = current[comp.name]
    why = trait.check_revision(spec, target.name)
    if why:
        where = next(t.path for t in comp.traits if t.properties is spec) + ("properties", "targetRevision")
        raise ReleaseError([app.locator.problem(where, why,
                                                "to go back to an earlier revision, deploy its file again (it keeps "
                                                "its name) or roll back: pulumi config set rollback true")])
    base_n = release.baselines.get(comp.name)
    base = history.revision(comp.name, base_n) if base_n else None
    if run.rolled_back:
        if base is None:
            path = comp.path + ("name",)
            raise ReleaseError([app.locator.problem(path, f"'{comp.name}' has no earlier revision to roll back to "
                                                          f"(only {target.name})",
                                                    "pulumi config rm rollback, or deploy a file without canary-rollback")])
        return rollouts.only(comp.name, base, size)
    if base is None:
        return rollouts.only(comp.name, target, size)
    partition = trait.direct_partition(spec) if direct else partitions.get(comp.name)
    if partition is None:
        return rollouts.only(comp.name, base, size)
    new = trait.new_replicas(spec, partition)
    if trait.in_place and new >= size:  # the component's own Deployment takes the new revision
        return rollouts.only(comp.name, target, size)
    return rollouts.split(comp.name, base, target, size, new, weights.get(comp.name))
