"""export2secret: write data (or a registry's credentials) to a Secret, once the workflow reaches the step."""
from __future__ import annotations

import base64
import json
from typing import Literal, Optional

from pydantic import Field

from oam.kit.placements import TargetNamespace
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType
from oam.steps._data import ObjectName, check_data
from oam.steps.apply_object import check_cluster

DOCKER_CONFIG_JSON = ".dockerconfigjson"
DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
# Keys the API server requires in a Secret of each type (one of them, for basic-auth).
REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    DOCKER_CONFIG_TYPE: (DOCKER_CONFIG_JSON,),
}
JSON_KEYS = (".dockercfg", DOCKER_CONFIG_JSON)  # the API server parses these as JSON


class DockerRegistry(OamModel):
    username: str = Field(description="User name at the registry")
    password: str = Field(description="Its password or token")
    server: str = Field("https://index.docker.io/v1/", description="The registry's address")


class Export2SecretProperties(OamModel):
    secret_name: ObjectName = Field(description="Name of the Secret")
    namespace: Optional[TargetNamespace] = Field(None, description="Its namespace; the application's when absent")
    type: Optional[str] = Field(None, description="The Secret's type (Opaque when absent, "
                                                  "kubernetes.io/dockerconfigjson for kind docker-registry)")
    data: dict[str, str] = Field(default_factory=dict, description="The Secret's data: keys to text "
                                                                   "(stored base64-encoded, kept secret by Pulumi)")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")
    kind: Literal["generic", "docker-registry"] = Field("generic", description="docker-registry: credentials "
                                                                               "for pulling images (dockerRegistry)")
    docker_registry: Optional[DockerRegistry] = Field(None, description="With kind docker-registry: the registry "
                                                                        "and the credentials to log in with")


def secret_data(p: Export2SecretProperties) -> dict[str, str]:
    """The Secret's keys and their text: the data given, with the registry's credentials for docker-registry."""
    data = dict(p.data)
    if p.kind == "docker-registry" and p.docker_registry is not None:
        r = p.docker_registry
        auth = base64.b64encode(f"{r.username}:{r.password}".encode()).decode()
        data[DOCKER_CONFIG_JSON] = json.dumps({"auths": {r.server: {"username": r.username, "password": r.password,
                                                                    "auth": auth}}}, separators=(",", ":"))
    return data


def secret_type(p: Export2SecretProperties) -> Optional[str]:
    if p.type is not None:
        return p.type
    return DOCKER_CONFIG_TYPE if p.kind == "docker-registry" else None


@STEPS.register
class Export2Secret(StepType):
    """Write data to a Secret (or registry credentials, kind docker-registry); it exists from the stage that
    reaches this step on."""

    name = "export2secret"
    Properties = Export2SecretProperties
    takes_inputs = True

    def check(self, step, app, _):
        p: Export2SecretProperties = step.properties
        at = step.path + ("properties",)
        problems = check_data(p.data, at + ("data",), app, "Secret") + check_cluster(step, app, "write the Secret")
        if p.docker_registry is not None and p.kind != "docker-registry":
            problems.append(app.locator.problem(at + ("dockerRegistry",), "is used only with kind: docker-registry",
                                                "add kind: docker-registry, or leave dockerRegistry out"))
        elif p.docker_registry is not None and DOCKER_CONFIG_JSON in p.data:
            problems.append(app.locator.problem(at + ("data", DOCKER_CONFIG_JSON), "dockerRegistry makes this key",
                                                "give the registry's credentials either here or in dockerRegistry"))
        data, kind = secret_data(p), secret_type(p)
        where = at + ("type",) if p.type is not None else at + ("kind",)
        if kind == "kubernetes.io/service-account-token":
            problems.append(app.locator.problem(where, f"a {kind} Secret needs the annotation "
                                                       "kubernetes.io/service-account.name, which this step cannot set",
                                                "write the Secret in full in an apply-object step"))
        needed = REQUIRED_KEYS.get(kind or "", ())
        missing = [k for k in needed if k not in data]
        if missing:
            keys = f"key{'s' if len(needed) > 1 else ''} {' and '.join(needed)}"
            hint = ("add dockerRegistry (username, password, server)" if p.kind == "docker-registry" and
                    DOCKER_CONFIG_JSON in missing else f"add {', '.join(missing)} under data")
            problems.append(app.locator.problem(where, f"a {kind} Secret needs the {keys} (missing: "
                                                       f"{', '.join(missing)})", hint))
        if kind == "kubernetes.io/basic-auth" and not {"username", "password"} & set(data):
            problems.append(app.locator.problem(where, f"a {kind} Secret needs the key username or password",
                                                "add username or password under data"))
        for key in JSON_KEYS:
            if key in p.data:
                try:
                    json.loads(p.data[key])
                except ValueError:
                    problems.append(app.locator.problem(at + ("data", key), "is not JSON, and Kubernetes reads it "
                                                                            "as JSON", "write the registry config as "
                                                                                       "JSON, or use dockerRegistry"))
        return problems

    def run(self, p: Export2SecretProperties, run: Run, step) -> bool:
        metadata = {"name": p.secret_name, **({"namespace": p.namespace} if p.namespace else {})}
        manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
        if secret_type(p) is not None:
            manifest["type"] = secret_type(p)
        # data, not stringData: applied server-side, a key taken out of stringData would stay in the Secret.
        manifest["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret_data(p).items()}
        run.apply(step, manifest, step.path + ("properties",))
        return True
