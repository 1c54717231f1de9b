"""affinity: where the pods may run (near or away from other pods, on which nodes) and the taints they tolerate."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._selectors import LabelKey, LabelSelector, LabelValue, check_values

Weight = Annotated[int, Field(ge=1, le=100, description="How much the scheduler favours it, 1 to 100")]
Namespace = Annotated[str, AfterValidator(kv.checked(kv.dns_label, "namespace"))]


class PodAffinityTerm(OamModel):
    label_selector: Optional[LabelSelector] = Field(None, description="The pods, by their labels")
    namespace: Optional[str] = Field(None, description="Not a field of Kubernetes: use namespaces")
    namespaces: Optional[list[Namespace]] = Field(None, description="Their namespaces; the pod's own when absent")
    topology_key: LabelKey = Field(description="Node label whose value makes a domain, like kubernetes.io/hostname")
    namespace_selector: Optional[LabelSelector] = Field(None, description="Their namespaces, by their labels")

    @model_validator(mode="after")
    def _no_namespace(self):
        # KubeVela's parameter, passed on as it is: Kubernetes has no such field and refuses it.
        if self.namespace is not None:
            raise ValueError(f"a pod affinity term has no namespace field in Kubernetes; "
                             f"write namespaces: [\"{self.namespace}\"]")
        return self

    def manifest(self) -> dict:
        out: dict = {}
        if self.label_selector is not None:
            out["labelSelector"] = self.label_selector.manifest()
        if self.namespaces is not None:
            out["namespaces"] = list(self.namespaces)
        out["topologyKey"] = self.topology_key
        if self.namespace_selector is not None:
            out["namespaceSelector"] = self.namespace_selector.manifest()
        return out


class WeightedPodAffinityTerm(OamModel):
    weight: Weight
    pod_affinity_term: PodAffinityTerm = Field(description="The pods")


class PodAffinity(OamModel):
    required: Optional[list[PodAffinityTerm]] = Field(None, description="Rules the pods must meet to be scheduled")
    preferred: Optional[list[WeightedPodAffinityTerm]] = Field(None, description="Rules the scheduler favours")

    def manifest(self) -> dict:
        out: dict = {}
        if self.required is not None:
            out["requiredDuringSchedulingIgnoredDuringExecution"] = [t.manifest() for t in self.required]
        if self.preferred is not None:
            out["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": t.weight, "podAffinityTerm": t.pod_affinity_term.manifest()} for t in self.preferred]
        return out


class NodeSelectorRequirement(OamModel):
    key: LabelKey = Field(description="Node label (or, in matchFields, metadata.name)")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field("In", description="How it is "
                                                                                              "matched")
    values: Optional[list[str]] = Field(None, description="Values, for In and NotIn; one integer, for Gt and Lt")

    @model_validator(mode="after")
    def _values(self):
        check_values(self.operator, self.values, ("In", "NotIn"), ("Gt", "Lt"))
        if self.operator in ("Gt", "Lt") and not self.values[0].lstrip("-").isdigit():
            raise ValueError(f"operator {self.operator} compares integers, not '{self.values[0][:40]}'; "
                             "give one integer, like values: [\"2\"]")
        return self

    def manifest(self) -> dict:
        return {"key": self.key, "operator": self.operator,
                **({"values": list(self.values)} if self.values is not None else {})}


class NodeSelectorTerm(OamModel):
    match_expressions: Optional[list[NodeSelectorRequirement]] = Field(None, description="Conditions on node labels")
    match_fields: Optional[list[NodeSelectorRequirement]] = Field(None, description="Conditions on node fields")

    @model_validator(mode="after")
    def _fields(self):
        # The only node field Kubernetes selects on is the node's name, with one value.
        for r in self.match_fields or ():
            if r.key != "metadata.name":
                raise ValueError(f"matchFields selects only on metadata.name, not '{r.key[:40]}'; "
                                 "use matchExpressions for node labels")
            if r.operator not in ("In", "NotIn") or len(r.values or ()) != 1:
                raise ValueError("matchFields takes operator In or NotIn with exactly one node name; "
                                 "write one entry per node")
        return self

    def manifest(self) -> dict:
        out: dict = {}
        if self.match_expressions is not None:
            out["matchExpressions"] = [r.manifest() for r in self.match_expressions]
        if self.match_fields is not None:
            out["matchFields"] = [r.manifest() for r in self.match_fields]
        return out


class NodeSelector(OamModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1, description="The nodes: those that meet "
                                                                                  "any one term")


class PreferredSchedulingTerm(OamModel):
    weight: Weight
    preference: NodeSelectorTerm = Field(description="The nodes")


class NodeAffinity(OamModel):
    required: Optional[NodeSelector] = Field(None, description="Nodes the pods must run on")
    preferred: Optional[list[PreferredSchedulingTerm]] = Field(None, description="Nodes the scheduler favours")

    def manifest(self) -> dict:
        out: dict = {}
        if self.required is not None:
            out["requiredDuringSchedulingIgnoredDuringExecution"] = {
                "nodeSelectorTerms": [t.manifest() for t in self.required.node_selector_terms]}
        if self.preferred is not None:
            out["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": t.weight, "preference": t.preference.manifest()} for t in self.preferred]
        return out


class Toleration(OamModel):
    key: Optional[LabelKey] = Field(None, description="Taint key; every taint when absent (with Exists)")
    operator: Literal["Equal", "Exists"] = Field("Equal", description="Match the value, or any value")
    value: Optional[LabelValue] = Field(None, description="Taint value, for Equal")
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = Field(
        None, description="Taint effect; every effect when absent")
    toleration_seconds: Optional[int] = Field(None, description="How long a pod stays on a node tainted NoExecute")

    @model_validator(mode="after")
    def _valid(self):
        # The rules Kubernetes checks on a pod's tolerations.
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must have operator Exists (it tolerates every taint); "
                             "give key, or operator: Exists")
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists matches any value; remove value, or use operator Equal")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect NoExecute; "
                             "set effect: NoExecute, or remove tolerationSeconds")
        return self

    def manifest(self) -> dict:
        given = (("key", self.key), ("effect", self.effect), ("value", self.value))
        out = {k: v for k, v in given if v is not None}
        out["operator"] = self.operator
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


class AffinityProperties(OamModel):
    pod_affinity: Optional[PodAffinity] = Field(None, description="Run near pods that match")
    pod_anti_affinity: Optional[PodAffinity] = Field(None, description="Run away from pods that match")
    node_affinity: Optional[NodeAffinity] = Field(None, description="Run on nodes that match")
    tolerations: Optional[list[Toleration]] = Field(None, description="Taints of nodes the pods may run on")


@TRAITS.register
class Affinity(TraitType):
    """Choose where the component's pods run: near or away from other pods, on which nodes, despite which taints."""

    name = "affinity"
    Properties = AffinityProperties

    def check(self, trait, app, comp):
        p: AffinityProperties = trait.properties
        if all(x is None for x in (p.pod_affinity, p.pod_anti_affinity, p.node_affinity, p.tolerations)):
            return [app.locator.problem(trait.path + ("properties",), "sets nothing",
                                        "give podAffinity, podAntiAffinity, nodeAffinity or tolerations")]
        return []

    def patch_pod(self, p: AffinityProperties, template: dict, ctx: ComponentContext) -> None:
        spec = template["spec"]
        affinity = {k: v.manifest() for k, v in (("podAffinity", p.pod_affinity),
                                                 ("podAntiAffinity", p.pod_anti_affinity),
                                                 ("nodeAffinity", p.node_affinity)) if v is not None}
        if affinity:
            spec["affinity"] = {**spec.get("affinity", {}), **affinity}
        if p.tolerations is not None:
            spec["tolerations"] = [t.manifest() for t in p.tolerations]
