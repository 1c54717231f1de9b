"""service-account: the ServiceAccount the pods run as, made here with its privileges or one that exists."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType

RBAC = "rbac.authorization.k8s.io"


class Privilege(OamModel):
    verbs: list[str] = Field(min_length=1, description="What may be done, like get, list, watch")
    api_groups: Optional[list[str]] = Field(None, description="API groups of the resources (\"\" is the core group)")
    resources: Optional[list[str]] = Field(None, description="Resources, like pods or configmaps")
    resource_names: Optional[list[str]] = Field(None, description="Only the objects with these names")
    non_resource_urls: Optional[list[str]] = Field(None, alias="nonResourceURLs",
                                                   description="URLs of the API server, like /healthz (cluster scope)")
    scope: Literal["namespace", "cluster"] = Field("namespace", description="In the application's namespace "
                                                                             "(Role), or in every one (ClusterRole)")

    @model_validator(mode="after")
    def _rule(self):
        # The rules Kubernetes checks on every Role and ClusterRole rule.
        if self.non_resource_urls:
            if self.scope != "cluster":
                raise ValueError("nonResourceURLs are not in a namespace; give this privilege scope: cluster")
            if self.api_groups or self.resources:
                raise ValueError("a privilege names resources or nonResourceURLs, not both; split it in two")
        elif not self.api_groups or not self.resources:
            raise ValueError("a privilege on resources needs apiGroups and resources; "
                             "write apiGroups: [\"\"] for core resources like pods and configmaps")
        return self

    def rule(self) -> dict:
        given = (("apiGroups", self.api_groups), ("resources", self.resources),
                 ("resourceNames", self.resource_names), ("nonResourceURLs", self.non_resource_urls))
        return {"verbs": list(self.verbs), **{k: list(v) for k, v in given if v is not None}}


class ServiceAccountProperties(OamModel):
    name: Annotated[str, AfterValidator(kv.checked(kv.dns_subdomain, "ServiceAccount name"))] = Field(
        description="The ServiceAccount the pods run as")
    create: bool = Field(False, description="Make it; otherwise it must exist")
    privileges: list[Privilege] = Field(default_factory=list, description="What it may do: a Role (and "
                                                                          "ClusterRole) bound to it")


@TRAITS.register
class ServiceAccount(TraitType):
    """Run the component's pods as a ServiceAccount: one that exists, or one made here with the privileges given."""

    name = "service-account"
    Properties = ServiceAccountProperties

    def apply(self, p: ServiceAccountProperties, ctx: ComponentContext) -> None:
        # The pods are created only once their account and its bindings exist: a pod naming a
        # missing account is refused, and one started before its bindings fails its first calls.
        if p.create:
            ctx.add("service-account", {"apiVersion": "v1", "kind": "ServiceAccount",
                                        "metadata": ctx.metadata(p.name)}, before_pods=True)
        subject = {"kind": "ServiceAccount", "name": p.name}
        local = [x.rule() for x in p.privileges if x.scope == "namespace"]
        if local:
            ctx.add("role", {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": ctx.metadata(p.name),
                             "rules": local}, before_pods=True)
            ctx.add("role-binding", {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                                     "metadata": ctx.metadata(p.name),
                                     "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": p.name},
                                     "subjects": [subject]}, after=("role",), before_pods=True)
        cluster = [x.rule() for x in p.privileges if x.scope == "cluster"]
        if cluster:
            # Cluster-wide objects: named after the namespace too, as KubeVela names them, so
            # two namespaces' accounts of one name do not share them.
            name = f"{ctx.namespace}:{p.name}"
            ctx.add("cluster-role", {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                                     "metadata": _cluster_wide(ctx.metadata(name)), "rules": cluster},
                    before_pods=True)
            ctx.add("cluster-role-binding", {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
                                             "metadata": _cluster_wide(ctx.metadata(name)),
                                             "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
                                             "subjects": [{**subject, "namespace": ctx.namespace}]},
                    after=("cluster-role",), before_pods=True)

    def patch_pod(self, p: ServiceAccountProperties, template: dict, ctx: ComponentContext) -> None:
        template["spec"]["serviceAccountName"] = p.name


def _cluster_wide(meta: dict) -> dict:
    meta.pop("namespace", None)
    return meta
