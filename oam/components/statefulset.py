"""statefulset: a long-running, scalable service whose pods keep their names and order, like a database."""
from __future__ import annotations

from typing import Optional

from oam.components.webservice import ServingProperties, WebService, serving_workload
from oam.kit.context import COMPONENT_LABEL, NAME_LABEL, Workload
from oam.kit.pod import held_by_patches
from oam.registry import COMPONENTS


class StatefulSetProperties(ServingProperties):
    """webservice's parameters but limit, as KubeVela's statefulset takes them."""


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
        return list(super().check(comp, app, _)) + held_by_patches(comp, app)

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
