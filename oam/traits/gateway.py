"""gateway: an Ingress that lets traffic from outside the cluster reach the component's ports by path."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.keys import StringMap, check_keys
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._ingress import check_paths, check_unweighed, ensure_service, ingress


class GatewayProperties(OamModel):
    domain: Optional[Annotated[str, AfterValidator(kv.checked(kv.istio_host))]] = Field(
        None, description="Host name the Ingress serves; every host when absent")
    http: dict[str, int] = Field(description="Path -> component port, like {/: 8080}")
    class_: str = Field("nginx", alias="class", description="Ingress class (the controller that serves it)")
    class_in_spec: bool = Field(False, description="Name the class in spec.ingressClassName, not in an annotation")
    secret_name: Optional[str] = Field(None, description="TLS Secret for the domain: serve HTTPS")
    gateway_host: Optional[str] = Field(None, description="Host of the ingress controller (an annotation)")
    name: Optional[Annotated[str, AfterValidator(kv.checked(kv.dns_label, "name"))]] = Field(
        None, description="Suffix of the Ingress and Service names, for a second gateway trait")
    path_type: Literal["ImplementationSpecific", "Prefix", "Exact"] = Field(
        "ImplementationSpecific", description="How paths match")
    annotations: StringMap = Field(default_factory=lambda: StringMap({}), description="Annotations of the Ingress")
    labels: StringMap = Field(default_factory=lambda: StringMap({}), description="Labels of the Ingress")
    existing_service_name: Optional[str] = Field(None, description="Route to this Service instead of making one")


@TRAITS.register
class Gateway(TraitType):
    """An Ingress (networking.k8s.io/v1) to the component's ports by path, and the Service it routes to."""

    name = "gateway"
    Properties = GatewayProperties

    def check(self, trait, app, comp):
        p: GatewayProperties = trait.properties
        problems = check_paths(p.http, trait, app) + check_unweighed(trait, app, comp)
        if not p.http:
            problems.append(app.locator.problem(trait.path + ("properties", "http"), "routes no path",
                                                "map at least one path to a port, like {/: 8080}"))
        problems += check_keys(p.annotations.root, trait.path + ("properties", "annotations"), app.locator, values=False)
        problems += check_keys(p.labels.root, trait.path + ("properties", "labels"), app.locator, values=True)
        if p.secret_name and not p.domain:
            problems.append(app.locator.problem(trait.path + ("properties", "secretName"),
                                                "TLS needs the domain the certificate is for", "give domain"))
        return problems

    def service_ports(self, p: GatewayProperties) -> list[int]:
        return [] if p.name or p.existing_service_name else sorted(set(p.http.values()))

    def apply(self, p: GatewayProperties, ctx: ComponentContext) -> None:
        ports = sorted(set(p.http.values()))
        service = p.existing_service_name or ensure_service(ctx, ports, p.name)
        annotations = {} if p.class_in_spec else {"kubernetes.io/ingress.class": p.class_}
        if p.gateway_host:
            annotations["ingress.controller/host"] = p.gateway_host
        annotations.update(p.annotations.root)
        ingress(ctx, "ingress" if p.name is None else f"ingress-{p.name}",
                ctx.component if p.name is None else f"{ctx.component}-{p.name}", service, dict(p.http),
                p.domain, p.path_type, annotations, dict(p.labels.root),
                class_name=p.class_ if p.class_in_spec else None, tls_secret=p.secret_name)
