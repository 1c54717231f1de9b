"""The release lifecycle: which release a run belongs to, and what approvals it carries.

A release is the unit an approval belongs to: it starts when the revisions to roll out
change, or when a rolled-back release is tried again. An application without a rolled-out
component starts one whenever its spec changes (a component, a trait, a policy, a step): KubeVela
runs its workflow again from the first step for each new application revision.
"""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Optional

from oam.config import StageConfig
from oam.errors import ConfigError, ReleaseError, closest
from oam.kit.spec import AppSpec, all_steps
from oam.registry import STEPS
from oam.revisions import History, Release, Revision

PROGRESSING, SUSPENDED, SUCCEEDED, ROLLED_BACK = "progressing", "suspended", "succeeded", "rolled back"
ACTIVE = (PROGRESSING, SUSPENDED)


def describe(targets: dict[str, int]) -> str:
    return ", ".join(f"{c}-v{n}" for c, n in sorted(targets.items())) or "no rollout"


def describe_release(release: Release) -> str:
    """What a release rolls out: its targets, or the revisions of an application without a rollout."""
    return describe(release.targets or release.revisions or {})


def _digest(value, size: int = 16) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def _written(comp) -> dict:
    """A component as the file writes it: type, properties, traits, externalRevision, dependsOn."""
    return {"name": comp.name, "type": comp.type, "properties": comp.raw_properties,
            "traits": [[t.type, t.raw] for t in comp.traits], "externalRevision": comp.external_revision,
            "dependsOn": list(comp.depends_on)}


def spec_digest(app: AppSpec) -> str:
    """The application's spec as written (components, traits, policies, steps), digested."""
    def steps(specs) -> list:
        return [{"name": s.name, "type": s.type, "properties": s.raw, "timeout": s.timeout,
                 "subSteps": steps(s.sub_steps), "inputs": [[i.source, i.key] for i in s.inputs],
                 "outputs": [[o.name, repr(o.expression)] for o in s.outputs], "if": repr(s.condition),
                 "dependsOn": list(s.depends_on)} for s in specs or ()]
    return _digest({"components": [_written(c) for c in app.components],
                    "policies": [[p.name, p.type, p.raw] for p in app.policies],
                    "workflow": None if app.steps is None else steps(app.steps)})


def current_release(app: AppSpec, cfg: StageConfig, prev: Optional[Release], targets: dict[str, int],
                    current: dict[str, Revision], ends_release: bool,
                    latest: Optional[dict[str, int]] = None) -> tuple[Release, bool]:
    """The release this run belongs to, and whether it is the one recorded last time.

    ``ends_release``: the workflow has a step that aborts the release (a rollback file). ``latest``: the newest
    recorded revision of each component, taken as the one deployed by a record that does not say (an earlier
    version's): a revision newer than that starts a release (at worst its gates wait once more than needed).
    """
    # Without a rolled-out component, the spec makes the release (and its revisions say what it deploys).
    plain = not app.canaried
    if cfg.rollback and plain and not (prev is not None and prev.targets):
        raise ReleaseError([cfg.problem(
            "rollback", f"{app.locator.file} rolls nothing out (no component has a rollout trait), so no component has "
                        "a stable revision to return to; rollback would change nothing",
            "pulumi config rm rollback; to go back, set app to the file of the earlier version and pulumi up (a new "
            "release: its gates wait again)")])
    revisions = {c: rev.n for c, rev in sorted(current.items())} if plain else None
    spec = spec_digest(app) if plain else None
    if prev is None:
        return Release(n=1, targets=dict(targets), revisions=revisions, spec=spec), False
    before = prev.revisions if prev.revisions is not None else latest
    if (plain and not prev.targets and before is not None and not cfg.rollback
            and (before != revisions or prev.spec not in (None, spec))):
        # A gate of the new release waits again: an approval of the last one does not open it.
        return Release(n=prev.n + 1, targets={}, revisions=revisions, spec=spec), False
    if prev.targets != targets:
        if cfg.rollback and prev.phase != SUCCEEDED:
            # Roll back the recorded release, whatever file is set: its stable revision is in the history.
            return copy.deepcopy(prev), True
        if cfg.rollback:
            # The recorded release has ended, and this file's release never completed a stage (a first update that
            # failed leaves no record of it): rolling back returns each component to what the recorded release left
            # serving, the revision a user rolls back to.
            stable = _stable(prev)
            baselines = {c: stable[c] for c in targets if c in stable and stable[c] != targets[c]}
            return Release(n=prev.n + 1, targets=dict(targets), baselines=baselines, revisions=revisions,
                           spec=spec), False
        if prev.phase in ACTIVE:
            changed = next(c for c in app.canaried if prev.targets.get(c.name) != targets.get(c.name))
            where = f"waiting at step {prev.step + 1} '{prev.gate}'" if prev.gate else f"at step {prev.step}"
            raise ReleaseError([app.locator.problem(
                changed.path + (("properties", "image") if "image" in changed.raw_properties else ("properties",)),
                f"release {prev.n} ({describe(prev.targets)}) is still in progress ({where}); "
                f"this file starts another ({describe(targets)})",
                f"roll release {prev.n} back first: pulumi config set rollback true && pulumi up, then "
                f"pulumi config rm rollback && pulumi up; or finish it with its own file and approvals")])
        stable = _stable(prev)
        baselines = {c: stable[c] for c in targets if c in stable and stable[c] != targets[c]}
        return Release(n=prev.n + 1, targets=dict(targets), baselines=baselines, revisions=revisions, spec=spec), False
    if prev.phase == ROLLED_BACK and not cfg.rollback and not ends_release and (not prev.aborted or
                                                                             cfg.retry == prev.n):
        # A release rolled back by hand starts again once rollback is unset; one a metric gate
        # rolled back, only when the user asks for it (retry: its number), never by itself.
        return Release(n=prev.n + 1, targets=dict(targets), baselines=dict(prev.baselines),
                       revisions=revisions, spec=spec), False
    same = copy.deepcopy(prev)
    if plain and prev.revisions is None:
        same.revisions = revisions  # recorded before releases followed the spec: this one is the same
    if plain and prev.spec is None:
        same.spec = spec
    return same, True


def _stable(prev: Release) -> dict[str, int]:
    """The revision serving each component once ``prev`` has ended."""
    if prev.phase == ROLLED_BACK:
        return {c: prev.baselines.get(c, n) for c, n in prev.targets.items()}
    return dict(prev.targets)


def held_back(app: AppSpec, gate: str, current: dict[str, Revision]) -> dict[str, str]:
    """Each component a gate holds back (those its own step and every later step deploy): its revision and a
    digest of how the file writes it (traits too), ``<revision>/<digest>``."""
    steps = all_steps(app.steps)
    names = [s.name for s in steps]
    if gate not in names:
        return {}
    out: dict[str, str] = {}
    for s in steps[names.index(gate):]:
        definition = STEPS.get(s.type)
        if definition is not None and definition.places:
            for name in definition.deploys(s.properties, app):
                comp = app.component(name)
                if comp is not None and name in current:
                    out[name] = f"{current[name].name}/{_digest(_written(comp), 12)}"
    return dict(sorted(out.items()))


def _change(was: Optional[str], now: str) -> str:
    """What changed in a component a gate holds back, from two ``held_back`` entries."""
    if was is None:
        return f"new: {now.split('/')[0]}"
    before, after = was.split("/")[0], now.split("/")[0]
    return f"{before} to {after}" if before != after else f"{after}, traits changed"


def check_approvals(app: AppSpec, cfg: StageConfig, history: History, release: Release, rolling_back: bool,
                    current: Optional[dict[str, Revision]] = None) -> None:
    """An approval must name a gate of the file (a typo is refused); never in the way of a rollback. It opens its
    gate for the release it was given in, and for the components the gate holds back as they were written then:
    one changed since (in a release that rolls out others) needs the gate approved again."""
    gates = app.gates()
    problems = []
    for name in cfg.approve:
        given_for = history.approvals.get(name)
        if name in gates:
            if given_for is not None and given_for != release.n:
                problems.append(cfg.problem(
                    "approve", f"'{name}' approved release {given_for} and does not carry over to release "
                               f"{release.n} ({describe_release(release)})",
                    "pulumi config rm approve && pulumi up; approve again when this release waits at the gate"))
            elif given_for is not None and name in history.approved and not rolling_back:
                was, now = history.approved[name], held_back(app, name, current or {})
                changed = sorted(c for c in now if was.get(c) != now[c])
                if changed:
                    what = ", ".join(f"{c} ({_change(was.get(c), now[c])})" for c in changed)
                    problems.append(cfg.problem(
                        "approve", f"'{name}' was approved for the components it holds back as they were then, and "
                                   f"does not carry over to the change of {what}",
                        "pulumi config rm approve && pulumi up; approve again when the workflow waits at the gate"))
        elif given_for is None and not rolling_back:
            problems.append(cfg.problem("approve", f"'{name}' is not a suspend step of {app.locator.file}",
                                        closest(name, gates)))
    if problems:
        raise ConfigError(problems)
