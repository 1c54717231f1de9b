"""What the program reads from outside the stack: the clusters it deploys to, and the clock (the third, the metric
gates' Prometheus, is oam.metrics.MetricSource).

The entry point makes the real ones (``Clusters``, ``SystemClock``, ``oam.metrics.Prometheus``) and passes them down;
the tests' harness passes fakes of the same shape, so that no test swaps a module's
functions. Every read of a cluster names it (``where``: ``local`` or a name of the clusters
config) and goes through the connection the stack's config gives it.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Optional, Protocol

import pulumi

from oam import cluster
from oam.cluster import ProbeError
from oam.config import StageConfig
from oam.kit.placements import LOCAL
from oam.workflow.clock import utcnow


class Cluster(Protocol):
    """The questions the program asks the API servers before and while it applies a stage. Each raises ProbeError
    when the cluster cannot be asked (not configured, unreachable, refused); see oam.cluster for the answers."""

    def probe(self, where: str) -> None:
        """Whether the API server answers at all."""

    def get(self, ref: dict, where: str = LOCAL) -> Optional[dict[str, Any]]:
        """The object ``ref`` names as the cluster holds it; None when it holds none."""

    def read(self, ref: dict) -> Optional[dict[str, Any]]:
        """The object ``ref`` names in the stack's own cluster, for a step's outputs; None when it is not there or
        cannot be read (with a warning)."""

    def namespace_labels(self, namespace: str, where: str = LOCAL) -> Optional[dict[str, str]]: ...

    def labels_by_name(self, api_version: str, kind: str, namespace: Optional[str],
                       where: str = LOCAL) -> dict[str, dict[str, str]]: ...

    def readiness(self, manifest: dict, where: str = LOCAL) -> Optional[tuple[int, int, bool]]: ...

    def endpoints(self, namespace: str, pods: dict[str, str], services: list[str],
                  where: str = LOCAL) -> tuple[int, int]: ...

    def access_rules(self, namespace: str, where: str = LOCAL) -> Optional[tuple[list[dict[str, Any]], bool]]: ...

    def may(self, verb: str, group: str, resource: str, namespace: Optional[str], name: Optional[str],
            where: str = LOCAL) -> Optional[bool]: ...

    def dry_run(self, manifest: dict, where: str = LOCAL, recreate: bool = False, absent: bool = False,
                namespace_missing: bool = False) -> Optional[str]: ...


class Clock(Protocol):
    """The time the program measures gates (``now``) and its own waits (``monotonic``, ``sleep``) by."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Clusters:
    """The API servers themselves, each reached as the stack's config says (StageConfig.connection)."""

    def __init__(self, cfg: StageConfig):
        self.cfg = cfg

    def probe(self, where: str) -> None:
        if cluster.get("/version", *self.cfg.connection(where), timeout=10) is None:
            raise ProbeError("the API server has no /version")

    def get(self, ref: dict, where: str = LOCAL) -> Optional[dict[str, Any]]:
        return cluster.get(cluster.object_path(ref), *self.cfg.connection(where))

    def read(self, ref: dict) -> Optional[dict[str, Any]]:
        try:
            return self.get(ref)
        except ProbeError as err:
            pulumi.log.warn(f"could not read {ref['kind']} {ref['metadata']['name']} for a step's output ({err})")
            return None

    def namespace_labels(self, namespace: str, where: str = LOCAL) -> Optional[dict[str, str]]:
        return cluster.namespace_labels(namespace, *self.cfg.connection(where))

    def labels_by_name(self, api_version: str, kind: str, namespace: Optional[str],
                       where: str = LOCAL) -> dict[str, dict[str, str]]:
        return cluster.labels_by_name(api_version, kind, namespace, *self.cfg.connection(where))

    def readiness(self, manifest: dict, where: str = LOCAL) -> Optional[tuple[int, int, bool]]:
        return cluster.readiness(manifest, *self.cfg.connection(where))

    def endpoints(self, namespace: str, pods: dict[str, str], services: list[str],
                  where: str = LOCAL) -> tuple[int, int]:
        return cluster.endpoints_serving(namespace, pods, services, *self.cfg.connection(where))

    def access_rules(self, namespace: str, where: str = LOCAL) -> Optional[tuple[list[dict[str, Any]], bool]]:
        return cluster.access_rules(namespace, *self.cfg.connection(where))

    def may(self, verb: str, group: str, resource: str, namespace: Optional[str], name: Optional[str],
            where: str = LOCAL) -> Optional[bool]:
        return cluster.may(verb, group, resource, namespace, name, *self.cfg.connection(where))

    def dry_run(self, manifest: dict, where: str = LOCAL, recreate: bool = False, absent: bool = False,
                namespace_missing: bool = False) -> Optional[str]:
        return cluster.dry_run(manifest, *self.cfg.connection(where), recreate=recreate, absent=absent,
                               namespace_missing=namespace_missing)


class SystemClock:
    """The machine's clock: UTC wall time for gates, the monotonic clock for waits."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
