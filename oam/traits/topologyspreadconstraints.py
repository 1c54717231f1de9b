"""topologyspreadconstraints: how evenly the pods are spread over zones, nodes or other domains."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._selectors import LabelKey, LabelSelector

Policy = Literal["Honor", "Ignore"]


class Constraint(OamModel):
    max_skew: int = Field(ge=1, description="How many more matching pods one domain may have than another")
    topology_key: LabelKey = Field(description="Node label whose value makes a domain, like "
                                               "topology.kubernetes.io/zone")
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        "DoNotSchedule", description="Keep a pod pending, or schedule it while favouring less skew")
    label_selector: LabelSelector = Field(description="The pods counted (the component's own, usually)")
    min_domains: Optional[int] = Field(None, ge=1, description="Domains counted at least (with DoNotSchedule)")
    match_label_keys: Optional[list[LabelKey]] = Field(None, description="Labels of the pod whose values "
                                                                         "narrow the pods counted, like "
                                                                         "app.oam.dev/revision")
    node_affinity_policy: Optional[Policy] = Field(None, description="Count only nodes the pod's node affinity "
                                                                     "allows (Honor, Kubernetes' default), or all")
    node_taints_policy: Optional[Policy] = Field(None, description="Count only nodes whose taints the pod "
                                                                   "tolerates (Honor), or all (Ignore, the default)")

    @model_validator(mode="after")
    def _valid(self):
        # The rules Kubernetes checks on a pod's spread constraints.
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError("minDomains applies only with whenUnsatisfiable: DoNotSchedule; remove minDomains")
        both = sorted(set(self.match_label_keys or ()) & self.label_selector.keys())
        if both:
            raise ValueError(f"'{both[0]}' is in both matchLabelKeys and labelSelector; keep it in one of them")
        return self

    def manifest(self) -> dict:
        out: dict = {"maxSkew": self.max_skew, "topologyKey": self.topology_key,
                     "whenUnsatisfiable": self.when_unsatisfiable, "labelSelector": self.label_selector.manifest()}
        for key, value in (("nodeAffinityPolicy", self.node_affinity_policy),
                           ("nodeTaintsPolicy", self.node_taints_policy), ("minDomains", self.min_domains)):
            if value is not None:
                out[key] = value
        if self.match_label_keys is not None:
            out["matchLabelKeys"] = list(self.match_label_keys)
        return out


class TopologyspreadconstraintsProperties(OamModel):
    constraints: list[Constraint] = Field(min_length=1, description="The spread constraints")


@TRAITS.register
class Topologyspreadconstraints(TraitType):
    """Spread the component's pods evenly over zones, nodes or other domains of the cluster."""

    name = "topologyspreadconstraints"
    Properties = TopologyspreadconstraintsProperties

    def check(self, trait, app, comp):
        # Kubernetes refuses two constraints with one topologyKey and one whenUnsatisfiable.
        seen: list[tuple[str, str]] = []
        problems = []
        for i, c in enumerate(trait.properties.constraints):
            pair = (c.topology_key, c.when_unsatisfiable)
            if pair in seen:
                problems.append(app.locator.problem(trait.path + ("properties", "constraints", i),
                                                    f"a constraint on '{c.topology_key}' with {c.when_unsatisfiable} "
                                                    "is already given", "merge the two into one"))
            seen.append(pair)
        return problems

    def patch_pod(self, p: TopologyspreadconstraintsProperties, template: dict, ctx: ComponentContext) -> None:
        template["spec"]["topologySpreadConstraints"] = [c.manifest() for c in p.constraints]
