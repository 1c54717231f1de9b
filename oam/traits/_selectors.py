"""Label selectors (of pods, of namespaces), as KubeVela's affinity and topologyspreadconstraints take them."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.keys import key_problem
from oam.kit.spec import OamModel


def _label_key(value: str) -> str:
    problem = key_problem(value)
    if not problem:
        return ""
    return f"{problem}; use letters, digits, '-', '_' and '.', at most 63 characters, after an optional prefix and '/'"


LabelKey = Annotated[str, AfterValidator(kv.checked(_label_key))]
LabelValue = Annotated[str, AfterValidator(kv.checked(kv.label_value))]


def check_values(operator: str, values: Optional[list], lists: tuple[str, ...], single: tuple[str, ...] = ()) -> None:
    """The values an operator takes, as Kubernetes checks them: a list for ``lists``, one for ``single``, else none."""
    if operator in lists and not values:
        raise ValueError(f"operator {operator} needs values; list the values to match")
    if operator in single and len(values or ()) != 1:
        raise ValueError(f"operator {operator} needs exactly one value; give one integer, like values: [\"2\"]")
    if operator not in lists + single and values:
        raise ValueError(f"operator {operator} takes no values; remove values")


class LabelRequirement(OamModel):
    key: LabelKey = Field(description="Label key")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field("In", description="How the label is matched")
    values: Optional[list[LabelValue]] = Field(None, description="Values, for In and NotIn")

    @model_validator(mode="after")
    def _values(self):
        check_values(self.operator, self.values, ("In", "NotIn"))
        return self


class LabelSelector(OamModel):
    match_labels: Optional[dict[LabelKey, LabelValue]] = Field(None, description="Labels the objects have")
    match_expressions: Optional[list[LabelRequirement]] = Field(None, description="Conditions on their labels")

    def manifest(self) -> dict:
        out: dict = {}
        if self.match_labels is not None:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions is not None:
            out["matchExpressions"] = [{"key": r.key, "operator": r.operator,
                                        **({"values": list(r.values)} if r.values is not None else {})}
                                       for r in self.match_expressions]
        return out

    def keys(self) -> set[str]:
        return set(self.match_labels or ()) | {r.key for r in self.match_expressions or ()}
