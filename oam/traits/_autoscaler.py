"""What the autoscaler traits (cpuscaler, hpa) share: what they may scale, and the checks of what they scale."""
from __future__ import annotations

from oam.kit.spec import rollout_of
from oam.kit.workload import trial_workload
from oam.registry import COMPONENTS


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
    if "replicas" not in COMPONENTS.get(comp.type).offers:
        return problems  # the trait is refused on this component already
    workload = trial_workload(app, comp, None)
    kind = trait.properties.target_kind
    if workload is not None and workload["kind"] != kind:
        # As in KubeVela, targetKind says what is scaled; one that names no object of the component scales nothing.
        problems.append(app.locator.problem(
            trait.path + ("properties", "targetKind"),
            f"{trait.type} would scale {kind} '{comp.name}', and {comp.type} runs its pods in a {workload['kind']}",
            f"set targetKind: {workload['kind']}"))
    return problems


def target(ctx, p) -> dict:
    """The object the autoscaler scales: the component's Deployment or StatefulSet (named after it)."""
    return {"apiVersion": p.target_api_version, "kind": p.target_kind, "name": ctx.component}
