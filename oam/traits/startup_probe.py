"""startup-probe: the check a container must pass before its liveness and readiness probes start."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.pod import Probe
from oam.registry import TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form
from oam.traits._handlers import Grpc, HttpGet, TcpSocket, given, handler


class StartupProbeParams(Probe):
    http_get: Optional[HttpGet] = Field(None, description="GET a path")
    tcp_socket: Optional[TcpSocket] = Field(None, description="Open a TCP connection")
    grpc: Optional[Grpc] = Field(None, description="Call the gRPC health service")
    success_threshold: int = Field(1, description="Successes to count as started: 1, the only value Kubernetes "
                                                  "takes for a startup probe")
    termination_grace_period_seconds: Optional[int] = Field(None, ge=1, description="Seconds the pod has to stop "
                                                                                    "when the probe fails")

    @model_validator(mode="after")
    def _one_handler(self):  # replaces Probe's: gRPC is a handler too
        self.check_one()
        return self

    def check_one(self) -> None:
        if len(given(self)) != 1:
            raise ValueError("give exactly one of exec, httpGet, tcpSocket and grpc")
        if self.success_threshold != 1:
            raise ValueError(f"successThreshold of a startup probe must be 1 (got {self.success_threshold}): "
                             "its first success ends the startup; remove successThreshold")

    def manifest(self) -> dict:
        out = handler(self)
        out.update({"initialDelaySeconds": self.initial_delay_seconds, "periodSeconds": self.period_seconds,
                    "timeoutSeconds": self.timeout_seconds, "successThreshold": self.success_threshold,
                    "failureThreshold": self.failure_threshold})
        if self.termination_grace_period_seconds is not None:
            out["terminationGracePeriodSeconds"] = self.termination_grace_period_seconds
        return out


class ContainerStartupProbe(StartupProbeParams):
    container_name: str = Field(min_length=1, description="The container to probe")


class StartupProbeProperties(StartupProbeParams):
    container_name: str = Field("", description="The container to probe; the component's own when empty")
    probes: list[ContainerStartupProbe] = Field(default_factory=list, description="Probes of several containers "
                                                                                 "(instead of the fields above)")

    @model_validator(mode="after")
    def _one_handler(self):  # the fields above are one probe only without probes
        if self.probes:
            one_form(self, "probes")
        else:
            self.check_one()
        return self


@TRAITS.register
class StartupProbe(TraitType):
    """Give the component's container (or a sidecar) a startup probe: no liveness or readiness check until it passes."""

    name = "startup-probe"
    Properties = StartupProbeProperties

    def check(self, trait, app, comp):
        named = [(path, name) for path, name, _ in changed_containers(trait.properties, "probes") if name]
        return missing_containers(trait, app, comp, named)

    def targets(self, p: StartupProbeProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "probes")]

    def patch_pod(self, p: StartupProbeProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, probe in changed_containers(p, "probes"):
            c = container(template, name)
            if c is not None:  # else refused by check
                c["startupProbe"] = probe.manifest()
