"""Handlers a container runs (a command, an HTTP GET, a TCP or gRPC check), as startup-probe and lifecycle take them.

They extend the component's probe actions with the fields KubeVela's traits also pass on.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.pod import HttpGetAction, TcpSocketAction
from oam.kit.spec import OamModel


class HttpGet(HttpGetAction):
    path: Optional[str] = Field(None, description="HTTP path to GET; / when absent")
    host: Optional[str] = Field(None, description="Host to connect to; the pod's IP when absent")
    scheme: Literal["HTTP", "HTTPS"] = Field("HTTP", description="HTTP or HTTPS")


class TcpSocket(TcpSocketAction):
    host: Optional[str] = Field(None, description="Host to connect to; the pod's IP when absent")


class Grpc(OamModel):
    port: int = Field(ge=1, le=65535, description="Port of the gRPC health service")
    service: Optional[str] = Field(None, description="Service name sent in the health check request")


HANDLERS = (("exec", "exec"), ("httpGet", "http_get"), ("tcpSocket", "tcp_socket"), ("grpc", "grpc"))


def given(m) -> list[str]:
    """The handlers ``m`` has, by their Kubernetes names."""
    return [key for key, attr in HANDLERS if getattr(m, attr, None) is not None]


def handler(m) -> dict:
    """The handler fields of a probe or lifecycle hook ``m`` (exactly one is set)."""
    if m.exec is not None:
        return {"exec": {"command": list(m.exec.command)}}
    if m.http_get is not None:
        h = m.http_get
        out: dict = {"path": h.path} if h.path is not None else {}
        out.update({"port": h.port, **({"host": h.host} if h.host is not None else {}), "scheme": h.scheme})
        if h.http_headers:
            out["httpHeaders"] = [{"name": x.name, "value": x.value} for x in h.http_headers]
        return {"httpGet": out}
    if m.tcp_socket is not None:
        return {"tcpSocket": {"port": m.tcp_socket.port,
                              **({"host": m.tcp_socket.host} if m.tcp_socket.host is not None else {})}}
    return {"grpc": {"port": m.grpc.port, **({"service": m.grpc.service} if m.grpc.service is not None else {})}}
