"""A check shared by traits that name component ports."""
from __future__ import annotations

from typing import Optional

from oam.registry import COMPONENTS, TRAITS, TraitType


def component_ports(comp) -> list[int]:
    if comp.properties is None:
        return []
    return COMPONENTS.get(comp.type).workload(comp.name, comp.properties).ports


def check_ports(ports: list[tuple[int, tuple]], app, comp) -> list:
    """ports: (number, path of the number) pairs; each must be a port of the component.

    Nothing is said when the component's own properties are wrong: that is one mistake,
    reported once, where it is.
    """
    if comp.properties is None:
        return []
    known = component_ports(comp)
    listed = ", ".join(str(p) for p in known) or "none"
    return [app.locator.problem(path, f"port {port} is not a port of component '{comp.name}' (its ports: {listed})",
                                "list only ports the component declares in port/ports")
            for port, path in ports if port not in known]


def service_ports(comp) -> Optional[list[int]]:
    """The ports of the component's Service: those its properties expose (webservice's ports[].expose) and
    those its traits put on it; None when a part that would make the Service is not valid (reported there)."""
    if comp.properties is None:
        return None
    service = COMPONENTS.get(comp.type).workload(comp.name, comp.properties).service
    ports = [e["port"] for e in (service or {}).get("ports", [])]
    for t in comp.traits:
        definition = TRAITS.get(t.type)
        if definition is None or type(definition).service_ports is TraitType.service_ports:
            continue  # a trait that puts no port on the Service
        if t.properties is None:
            return None
        ports += definition.service_ports(t.properties)
    return ports


def add_service_ports(have: list[dict], added: list[tuple[dict, bool]]) -> list[dict]:
    """The port entries of a Service that has ``have`` and gets ``added`` ((entry, name given) pairs): a port
    it has already is taken from ``added``; a generated name another port has already (port-8080 is also
    the name of Service port 80 when it targets container port 8080) becomes <name>-2, -3, ... (Kubernetes
    refuses two ports of one name). A given name that is taken is refused by the trait's check."""
    ports = {e["port"] for e, _ in added}
    out = [e for e in have if e["port"] not in ports]
    taken = {e["name"] for e in out} | {e["name"] for e, given in added if given}
    for entry, given in added:
        if not given and entry["name"] in taken:
            n = 2
            while f"{entry['name']}-{n}" in taken:
                n += 1
            entry = {**entry, "name": f"{entry['name']}-{n}"}
        taken.add(entry["name"])
        out.append(entry)
    return out
