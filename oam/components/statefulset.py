"""statefulset: a long-running, scalable service whose pods keep their names and order, like a database."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.components._pod import ContainerProperties
from oam.components.webservice import HostAlias, Port, WebService, serving_workload
from oam.context import COMPONENT_LABEL, NAME_LABEL, Workload
from oam.registry import COMPONENTS


class StatefulSetProperties(ContainerProperties):
    port: Optional[int] = Field(None, ge=1, le=65535, description="The one container port (short form of ports)")
    ports: list[Port] = Field(default_factory=list, description="Container ports")
    expose_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Type of the Service made for ports with expose: true")
    add_revision_label: bool = Field(False, description="Accepted: pods always carry app.oam.dev/revision")
    host_aliases: list[HostAlias] = Field(default_factory=list, description="Extra /etc/hosts entries of the pod")


def _held(manifest: dict) -> Optional[str]:
    """Why pulumi up would wait on the StatefulSet's update until readyTimeout: pods that keep the old template."""
    strategy = (manifest.get("spec") or {}).get("updateStrategy")
    if not isinstance(strategy, dict):
        return None
    if strategy.get("type") == "OnDelete":
        return "with an OnDelete update strategy the pods keep their old template until someone deletes them"
    rolling = strategy.get("rollingUpdate")
    partition = rolling.get("partition") if isinstance(rolling, dict) else None
    if isinstance(partition, int) and not isinstance(partition, bool) and partition > 0:
        return f"with partition {partition} the pods numbered below {partition} keep their old template"
    return None


@COMPONENTS.register
class StatefulSet(WebService):
    """A StatefulSet running one container whose pods keep stable names (db-0, db-1, ...) and start one by one."""

    name = "statefulset"
    Properties = StatefulSetProperties
    token = "oam:component:StatefulSet"
    # Its pods are replaced in place, highest ordinal first: not split into a Deployment per revision.
    rolls_out = False
    offers = frozenset({"pods", "replicas"})
    runs = "a StatefulSet"

    def check(self, comp, app, _):
        """webservice's checks of ports and the Service; and no update strategy pulumi up would wait on forever."""
        problems = list(super().check(comp, app, _))
        from oam.render import trial_workload  # render imports the registries: import it when checking
        patched = any(t.type in ("json-merge-patch", "json-patch") for t in comp.traits)
        final = trial_workload(app, comp, None) if patched else None
        if final is None or _held(final) is None:
            return problems
        # The first trait after which the StatefulSet would hold its pods back is the one to change.
        for i, t in enumerate(comp.traits):
            after = comp.traits[i + 1] if i + 1 < len(comp.traits) else None
            why = _held(trial_workload(app, comp, after) or {})
            if why:
                problems.append(app.locator.problem(
                    t.path + ("properties", "spec", "updateStrategy"),
                    f"{why}, and pulumi up would wait for them until readyTimeout",
                    "leave updateStrategy out (RollingUpdate, every pod, highest ordinal first)"))
                break
        return problems

    def workload(self, name: str, p: StatefulSetProperties) -> Workload:
        """The container; and the component's Service (not headless, as KubeVela's) when ports are exposed."""
        return serving_workload(name, p)

    def wrap(self, p: StatefulSetProperties, metadata: dict, template: dict, replicas: Optional[int]) -> dict:
        """A StatefulSet named after the component, selecting its pods as a Deployment does.

        No serviceName, as KubeVela sets none: its pods get no DNS names of their own, and the
        Service (when ports are exposed) balances over them. ``replicas`` is None when an
        autoscaler sets them.
        """
        labels = template["metadata"]["labels"]
        selector = {key: labels[key] for key in (NAME_LABEL, COMPONENT_LABEL)}
        spec: dict = {"selector": {"matchLabels": selector}, "template": template}
        if replicas is not None:
            spec = {"replicas": replicas, **spec}
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec}
