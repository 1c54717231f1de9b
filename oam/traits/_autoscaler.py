"""What the autoscaler traits (cpuscaler, hpa) share: what they may scale, and the check against a rollout."""
from __future__ import annotations

from oam.model import rollout_of


def check_autoscaled(trait, app, comp, scalers: tuple[str, ...]) -> list:
    """An autoscaler owns the replica count: nothing else may set it."""
    problems = []
    rolling = rollout_of(comp)
    if rolling:
        problems.append(app.locator.problem(
            trait.path + ("type",),
            f"'{comp.name}' is rolled out by {rolling[0].name}, whose batches set each revision's pods at every "
            "stage; an autoscaler would change them under the release",
            f"remove {trait.type} while {comp.name} has a rollout trait (Flagger and Argo Rollouts scale the stable "
            "revision and size the canary in proportion; not supported here)"))
    problems += [app.locator.problem(t.path + ("type",), f"{t.type} and {trait.type} both set the replica count",
                                     f"remove {t.type}: {trait.type} scales between its min and max")
                 for t in comp.traits if t.type in scalers and t is not trait]
    return problems


def target(ctx, p) -> dict:
    """The object the autoscaler scales: the component's Deployment (named after it)."""
    return {"apiVersion": p.target_api_version, "kind": p.target_kind, "name": ctx.component}
