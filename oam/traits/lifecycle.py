"""lifecycle: hooks every container of the pods runs just after it starts and just before it stops."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.pod import ExecAction
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._handlers import HttpGet, TcpSocket, given, handler


class LifecycleHandler(OamModel):
    exec: Optional[ExecAction] = Field(None, description="Run a command in the container")
    http_get: Optional[HttpGet] = Field(None, description="GET a path of the container")
    tcp_socket: Optional[TcpSocket] = Field(None, description="Not run by Kubernetes: use exec or httpGet")

    @model_validator(mode="after")
    def _one_handler(self):
        if len(given(self)) != 1:
            raise ValueError("give exactly one of exec and httpGet")
        # The API server takes it, but the kubelet never runs it: the hook fails (and a failed
        # postStart kills the container).
        if self.tcp_socket is not None:
            raise ValueError("Kubernetes does not run a tcpSocket hook (it fails every time); use exec or httpGet")
        return self


class LifecycleProperties(OamModel):
    post_start: Optional[LifecycleHandler] = Field(None, description="Run right after a container starts; the "
                                                                     "container is killed if it fails")
    pre_stop: Optional[LifecycleHandler] = Field(None, description="Run before a container is stopped")


@TRAITS.register
class Lifecycle(TraitType):
    """Give every container of the pods (those added by earlier traits too) hooks run after start and before stop."""

    name = "lifecycle"
    Properties = LifecycleProperties

    def check(self, trait, app, comp):
        p: LifecycleProperties = trait.properties
        if p.post_start is None and p.pre_stop is None:
            return [app.locator.problem(trait.path + ("properties",), "sets no hook", "give postStart or preStop")]
        return []

    def patch_pod(self, p: LifecycleProperties, template: dict, ctx: ComponentContext) -> None:
        for c in template["spec"]["containers"]:
            c["lifecycle"] = {k: handler(h) for k, h in (("postStart", p.post_start), ("preStop", p.pre_stop))
                              if h is not None}
