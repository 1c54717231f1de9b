"""What the Ingress traits (gateway, ingress, ingress-1-20) share: the Service they route to, and the Ingress."""
from __future__ import annotations

from typing import Optional

from oam.kit.context import ComponentContext
from oam.kit.spec import splits_traffic
from oam.traits._ports import add_service_ports

INGRESS_API = "networking.k8s.io/v1"


def ensure_service(ctx: ComponentContext, ports: list[int], name: Optional[str] = None) -> str:
    """The Service the Ingress sends to, with ``ports``: the component's own (ports added to it), or one
    named ``<component>-<name>``. Returns its name."""
    entries = [{"name": f"port-{n}", "port": n, "targetPort": n, "protocol": "TCP"} for n in ports]
    if name is None:
        if ctx.service is None:
            ctx.service = ctx.service_manifest(entries)
        else:
            have = ctx.service["spec"]["ports"]
            known = {e["port"] for e in have}
            ctx.service["spec"]["ports"] = add_service_ports(have, [(e, False) for e in entries
                                                                    if e["port"] not in known])
        return ctx.component
    service = ctx.service_manifest(entries)
    service["metadata"]["name"] = f"{ctx.component}-{name}"
    ctx.add(f"service-{name}", service)
    return service["metadata"]["name"]


def ingress(ctx: ComponentContext, role: str, name: str, service: str, http: dict[str, int],
            host: Optional[str], path_type: str, annotations: dict[str, str], labels: dict[str, str],
            class_name: Optional[str] = None, tls_secret: Optional[str] = None) -> None:
    """An Ingress routing each path to ``service`` on its port; a route, so it waits for the pods."""
    rule: dict = {"http": {"paths": [
        {"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": {"number": port}}}}
        for path, port in http.items()]}}
    if host:
        rule = {"host": host, **rule}
    spec: dict = {"rules": [rule]}
    if class_name:
        spec["ingressClassName"] = class_name
    if tls_secret:
        spec["tls"] = [{"hosts": [host] if host else [], "secretName": tls_secret}]
    meta = ctx.metadata(name, labels)
    if annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    after = (f"service-{service.removeprefix(ctx.component + '-')}",) if service != ctx.component else ()
    ctx.add(role, {"apiVersion": INGRESS_API, "kind": "Ingress", "metadata": meta, "spec": spec},
            after=after, route=True)


def check_unweighed(trait, app, comp) -> list:
    """An Ingress sends to the Service's pods, of every revision, by their number: not for a component whose
    traffic canary-traffic weighs between its revisions."""
    if not splits_traffic(comp):
        return []
    return [app.locator.problem(trait.path + ("type",), f"an Ingress sends to the pods of every revision of "
                                                        f"'{comp.name}' by their number, not by the weights of its "
                                                        "canary traffic",
                                "use istio-gateway, whose routes are weighed like the mesh's")]


def check_paths(http: dict[str, int], trait, app) -> list:
    problems = []
    for path, port in http.items():
        where = trait.path + ("properties", "http", path)
        if not path.startswith("/"):
            problems.append(app.locator.problem(where, f"path '{path[:60]}' must start with '/'", "write it like /api"))
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(app.locator.problem(where, f"port {port!r} is not a port", "give a number from 1 to 65535"))
    return problems
