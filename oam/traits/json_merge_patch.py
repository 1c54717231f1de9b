"""json-merge-patch: change the component's workload object with a JSON merge patch (RFC 7396)."""
from __future__ import annotations

from typing import Any

from pydantic import RootModel

from oam.kit.context import ComponentContext
from oam.kit.patching import merge_patch
from oam.registry import TRAITS, TraitType

# Fields the application owns: names, the selector, the replica count and the labels the selectors and
# routes rely on. A patch of them would break what every ordering edge assumes.
PROTECTED = (("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",), ("spec", "selector"),
             ("spec", "replicas"))
OWN_LABELS = "app.oam.dev/"


class JsonMergePatchProperties(RootModel[dict[str, Any]]):
    """The patch: a mapping merged into the workload object; a key given null is deleted."""


def _touched(patch: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path the patch sets or deletes."""
    if not isinstance(patch, dict):
        return [prefix]
    out = []
    for key, value in patch.items():
        out += [prefix + (key,)] if not isinstance(value, dict) else [prefix + (key,)] + _touched(value, prefix + (key,))
    return out


@TRAITS.register
class JsonMergePatch(TraitType):
    """Merge a patch into the component's Deployment (any field but its names, selector, replicas and own labels)."""

    name = "json-merge-patch"
    Properties = JsonMergePatchProperties

    def check(self, trait, app, comp):
        problems = []
        for path in _touched(trait.properties.root):
            labels = path[-2:-1] == ("labels",) and str(path[-1]).startswith(OWN_LABELS)
            # The keys that tell Pulumi how to await the object: the safe order relies on them.
            engine = path[-2:-1] == ("annotations",) and str(path[-1]).split("/")[0].endswith("pulumi.com")
            if any(path[:len(p)] == p for p in PROTECTED) or labels or engine:
                problems.append(app.locator.problem(
                    trait.path + ("properties", *path), f"{'.'.join(map(str, path))} is the application's to set",
                    "patch other fields; replicas come from scaler or rollout, names and selectors from the component"))
        return problems

    def patch_workload(self, p: JsonMergePatchProperties, manifest: dict, ctx: ComponentContext) -> None:
        patched = merge_patch(manifest, p.root)
        manifest.clear()
        manifest.update(patched)
