"""Pod and container properties as KubeVela's templates name them, shared by component types and traits."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import Workload
from oam.kit.keys import check_keys
from oam.kit.spec import OamModel
from oam.kit.workload import trial_workload
from oam.registry import TRAITS, TraitType

Image = Annotated[str, AfterValidator(kv.checked(kv.image))]
Quantity = Annotated[str, AfterValidator(kv.checked(kv.quantity))]
EnvName = Annotated[str, AfterValidator(kv.checked(kv.env_name))]
VolumeName = Annotated[str, AfterValidator(kv.checked(kv.dns_label, "volume name"))]
ContainerName = Annotated[str, AfterValidator(kv.checked(kv.dns_label, "container name"))]
FileMode = Annotated[int, AfterValidator(kv.checked(kv.file_mode))]
RelativePath = Annotated[str, AfterValidator(kv.checked(kv.relative_path))]
SubPath = Annotated[str, AfterValidator(kv.checked(kv.sub_path))]
AbsolutePath = Annotated[str, AfterValidator(kv.checked(kv.absolute_path))]


class KeyRef(OamModel):
    name: str = Field(description="Name of the Secret or ConfigMap")
    key: str = Field(description="Key inside it")


class FieldRef(OamModel):
    field_path: str = Field(description="Field of the pod, like metadata.name or status.podIP")


class ValueFrom(OamModel):
    secret_key_ref: Optional[KeyRef] = Field(None, description="Read the value from a Secret key")
    config_map_key_ref: Optional[KeyRef] = Field(None, description="Read the value from a ConfigMap key")
    field_ref: Optional[FieldRef] = Field(None, description="Read the value from a field of the pod")

    @model_validator(mode="after")
    def _one_source(self):
        if sum(x is not None for x in (self.secret_key_ref, self.config_map_key_ref, self.field_ref)) != 1:
            raise ValueError("give exactly one of secretKeyRef, configMapKeyRef and fieldRef")
        return self


class EnvVar(OamModel):
    name: EnvName = Field(description="Environment variable name")
    value: Optional[str] = Field(None, description="Literal value")
    value_from: Optional[ValueFrom] = Field(None, description="Value read from a Secret or ConfigMap")

    @model_validator(mode="after")
    def _value_or_from(self):
        if self.value is not None and self.value_from is not None:
            raise ValueError("give value or valueFrom, not both")
        return self


class KeyToPath(OamModel):
    key: str = Field(description="Key in the ConfigMap or Secret")
    path: RelativePath = Field(description="Relative file path to mount it at")
    mode: Optional[FileMode] = Field(None, description="File mode bits")


class Volume(OamModel):
    name: VolumeName = Field(description="Volume name")
    mount_path: str = Field(description="Where it is mounted in the container")
    type: Literal["emptyDir", "configMap", "secret", "pvc"] = Field("emptyDir", description="Volume source")
    medium: Literal["", "Memory"] = Field("", description="emptyDir medium")
    claim_name: Optional[str] = Field(None, description="PersistentVolumeClaim name, for type pvc")
    cm_name: Optional[str] = Field(None, description="ConfigMap name, for type configMap")
    secret_name: Optional[str] = Field(None, description="Secret name, for type secret")
    default_mode: Optional[FileMode] = Field(None, description="File mode bits of mounted keys")
    items: list[KeyToPath] = Field(default_factory=list, description="Keys to mount, all when empty")

    @model_validator(mode="after")
    def _source(self):
        if self.type == "configMap" and not self.cm_name:
            raise ValueError("a configMap volume needs cmName")
        if self.type == "secret" and not self.secret_name:
            raise ValueError("a secret volume needs secretName")
        if self.type == "pvc" and not self.claim_name:
            raise ValueError("a pvc volume needs claimName")
        return self


class Mount(OamModel):
    name: VolumeName = Field(description="Volume name; mounts of one volume share it")
    mount_path: AbsolutePath = Field(description="Where it is mounted in the container")
    sub_path: Optional[SubPath] = Field(None, description="Path inside the volume to mount (relative)")


class PvcMount(Mount):
    claim_name: str = Field(description="PersistentVolumeClaim to mount")


class ConfigMapMount(Mount):
    cm_name: str = Field(description="ConfigMap to mount")
    default_mode: FileMode = Field(420, description="File mode bits of its keys (420 is 0644)")
    items: list[KeyToPath] = Field(default_factory=list, description="Keys to mount, all when empty")


class SecretMount(Mount):
    secret_name: str = Field(description="Secret to mount")
    default_mode: FileMode = Field(420, description="File mode bits of its keys (420 is 0644)")
    items: list[KeyToPath] = Field(default_factory=list, description="Keys to mount, all when empty")


class EmptyDirMount(Mount):
    medium: Literal["", "Memory"] = Field("", description="Backing medium: node disk, or Memory (tmpfs)")


class HostPathMount(Mount):
    path: AbsolutePath = Field(description="Path on the node")


class VolumeMounts(OamModel):
    pvc: list[PvcMount] = Field(default_factory=list, description="PersistentVolumeClaims")
    config_map: list[ConfigMapMount] = Field(default_factory=list, description="ConfigMaps")
    secret: list[SecretMount] = Field(default_factory=list, description="Secrets")
    empty_dir: list[EmptyDirMount] = Field(default_factory=list, description="Scratch directories")
    host_path: list[HostPathMount] = Field(default_factory=list, description="Paths of the node")

    def all(self) -> list[tuple[str, int, Mount]]:
        """(list name, index, mount) in KubeVela's order: pvc, configMap, secret, emptyDir, hostPath."""
        return [(field, i, m) for field, items in (("pvc", self.pvc), ("configMap", self.config_map),
                                                   ("secret", self.secret), ("emptyDir", self.empty_dir),
                                                   ("hostPath", self.host_path))
                for i, m in enumerate(items)]


class ExecAction(OamModel):
    command: list[str] = Field(description="Command run in the container")


class HttpHeader(OamModel):
    name: str
    value: str


class HttpGetAction(OamModel):
    path: str = Field(description="HTTP path to GET")
    port: int = Field(ge=1, le=65535, description="Container port")
    http_headers: list[HttpHeader] = Field(default_factory=list, description="Extra request headers")


class TcpSocketAction(OamModel):
    port: int = Field(ge=1, le=65535, description="Container port to open")


class Probe(OamModel):
    exec: Optional[ExecAction] = Field(None, description="Run a command")
    http_get: Optional[HttpGetAction] = Field(None, description="GET a path")
    tcp_socket: Optional[TcpSocketAction] = Field(None, description="Open a TCP connection")
    initial_delay_seconds: int = Field(0, ge=0, description="Seconds before the first probe")
    period_seconds: int = Field(10, ge=1, description="Seconds between probes")
    timeout_seconds: int = Field(1, ge=1, description="Seconds before a probe times out")
    success_threshold: int = Field(1, ge=1, description="Successes to count as healthy")
    failure_threshold: int = Field(3, ge=1, description="Failures to count as unhealthy")

    @model_validator(mode="after")
    def _one_handler(self):
        if sum(x is not None for x in (self.exec, self.http_get, self.tcp_socket)) != 1:
            raise ValueError("give exactly one of exec, httpGet and tcpSocket")
        return self


class ContainerProperties(OamModel):
    """The parameters of KubeVela's worker; webservice adds ports."""

    image: Image = Field(description="Container image")
    image_pull_policy: Optional[Literal["Always", "Never", "IfNotPresent"]] = Field(None, description="When to pull")
    image_pull_secrets: list[str] = Field(default_factory=list, description="Secrets to pull the image with")
    cmd: list[str] = Field(default_factory=list, description="Command (entrypoint) of the container")
    args: list[str] = Field(default_factory=list, description="Arguments of the command")
    env: list[EnvVar] = Field(default_factory=list, description="Environment variables")
    cpu: Optional[Quantity] = Field(None, description="CPU request and limit, a string: 500m, or \"0.5\" quoted "
                                                      "(YAML reads 0.5 as a number)")
    memory: Optional[Quantity] = Field(None, description="Memory request and limit, e.g. 256Mi")
    volume_mounts: Optional[VolumeMounts] = Field(None, description="Volumes mounted in the container, by source")
    volumes: list[Volume] = Field(default_factory=list, description="Volumes mounted in the container "
                                                                    "(older form of volumeMounts)")
    liveness_probe: Optional[Probe] = Field(None, description="Restart the container when this fails")
    readiness_probe: Optional[Probe] = Field(None, description="Send no traffic until this succeeds")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the workload and its pods")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the workload and its pods")


def probe(p: Probe) -> dict:
    out: dict = {k: getattr(p, f) for k, f in (
        ("initialDelaySeconds", "initial_delay_seconds"), ("periodSeconds", "period_seconds"),
        ("timeoutSeconds", "timeout_seconds"), ("successThreshold", "success_threshold"),
        ("failureThreshold", "failure_threshold"))}
    if p.exec:
        out["exec"] = {"command": list(p.exec.command)}
    elif p.http_get:
        out["httpGet"] = {"path": p.http_get.path, "port": p.http_get.port}
        if p.http_get.http_headers:
            out["httpGet"]["httpHeaders"] = [{"name": h.name, "value": h.value} for h in p.http_get.http_headers]
    else:
        out["tcpSocket"] = {"port": p.tcp_socket.port}
    return out


def env_entry(e: EnvVar) -> dict:
    if e.value_from is None:
        return {"name": e.name, "value": e.value or ""}
    if e.value_from.field_ref is not None:
        return {"name": e.name, "valueFrom": {"fieldRef": {"fieldPath": e.value_from.field_ref.field_path}}}
    ref = e.value_from.secret_key_ref or e.value_from.config_map_key_ref
    kind = "secretKeyRef" if e.value_from.secret_key_ref else "configMapKeyRef"
    return {"name": e.name, "valueFrom": {kind: {"name": ref.name, "key": ref.key}}}


def _items(items: list[KeyToPath]) -> list[dict]:
    return [{"key": i.key, "path": i.path, **({"mode": i.mode} if i.mode is not None else {})} for i in items]


def mount_volume(kind: str, m: Mount) -> dict:
    """The pod volume a volumeMounts entry mounts."""
    if kind == "pvc":
        return {"name": m.name, "persistentVolumeClaim": {"claimName": m.claim_name}}
    if kind == "emptyDir":
        return {"name": m.name, "emptyDir": {"medium": m.medium} if m.medium else {}}
    if kind == "hostPath":
        return {"name": m.name, "hostPath": {"path": m.path}}
    body = {"name": m.cm_name} if kind == "configMap" else {"secretName": m.secret_name}
    body["defaultMode"] = m.default_mode
    if m.items:
        body["items"] = _items(m.items)
    return {"name": m.name, kind: body}


def volume_source(v: Volume) -> dict:
    if v.type == "emptyDir":
        return {"name": v.name, "emptyDir": {"medium": v.medium} if v.medium else {}}
    if v.type == "pvc":
        return {"name": v.name, "persistentVolumeClaim": {"claimName": v.claim_name}}
    source: dict = {"configMap": {"name": v.cm_name}} if v.type == "configMap" else {"secret": {"secretName": v.secret_name}}
    body = next(iter(source.values()))
    if v.default_mode is not None:
        body["defaultMode"] = v.default_mode
    if v.items:
        body["items"] = [{"key": i.key, "path": i.path, **({"mode": i.mode} if i.mode is not None else {})} for i in v.items]
    return {"name": v.name, **source}


def container_workload(name: str, p: ContainerProperties, ports: list[dict]) -> Workload:
    """Build the container and pod parts shared by every container-based component."""
    container: dict = {"name": name, "image": p.image}
    if p.image_pull_policy:
        container["imagePullPolicy"] = p.image_pull_policy
    if p.cmd:
        container["command"] = list(p.cmd)
    if p.args:
        container["args"] = list(p.args)
    if ports:
        container["ports"] = ports
    if p.env:
        container["env"] = [env_entry(e) for e in p.env]
    resources = {k: v for k, v in (("cpu", p.cpu), ("memory", p.memory)) if v is not None}
    if resources:
        container["resources"] = {"requests": dict(resources), "limits": dict(resources)}
    volumes = [volume_source(v) for v in p.volumes]
    mounts = [{"name": v.name, "mountPath": v.mount_path} for v in p.volumes]
    if p.volume_mounts is not None:
        # The older volumes list is used only without volumeMounts, as KubeVela does.
        volumes, mounts = [], []
        for kind, _, m in p.volume_mounts.all():
            mounts.append({"name": m.name, "mountPath": m.mount_path, **({"subPath": m.sub_path} if m.sub_path else {})})
            if all(v["name"] != m.name for v in volumes):
                volumes.append(mount_volume(kind, m))
    if mounts:
        container["volumeMounts"] = mounts
    if p.liveness_probe:
        container["livenessProbe"] = probe(p.liveness_probe)
    if p.readiness_probe:
        container["readinessProbe"] = probe(p.readiness_probe)
    return Workload(
        container=container,
        volumes=volumes,
        image_pull_secrets=[{"name": s} for s in p.image_pull_secrets],
        ports=[port["containerPort"] for port in ports],
        labels=dict(p.labels),
        annotations=dict(p.annotations),
    )


def check_container(p: ContainerProperties, locator, path: tuple) -> list:
    """What the models cannot see alone: volume names, label and annotation keys."""
    problems = check_keys(p.labels, path + ("labels",), locator, values=True)
    problems += check_keys(p.annotations, path + ("annotations",), locator, values=False)
    names = [e.name for e in p.env]
    problems += [locator.problem(path + ("env", i, "name"), f"environment variable '{n}' is listed twice",
                                 "list each variable once (Kubernetes refuses a container with two of one name "
                                 "when it is applied server-side, as Pulumi applies it)")
                 for i, n in enumerate(names) if n in names[:i]]
    mounted: dict[str, int] = {}
    for i, v in enumerate(p.volumes):
        if v.mount_path in mounted:
            problems.append(locator.problem(path + ("volumes", i, "mountPath"),
                                            f"'{v.mount_path[:60]}' is already the mountPath of volume "
                                            f"'{p.volumes[mounted[v.mount_path]].name}'",
                                            "mount each volume at a path of its own"))
        mounted.setdefault(v.mount_path, i)
    seen: set[str] = set()
    for i, v in enumerate(p.volumes):
        if v.name in seen:
            problems.append(locator.problem(path + ("volumes", i, "name"), f"duplicate volume name '{v.name}'",
                                            "give every volume its own name"))
        seen.add(v.name)
    if p.volume_mounts is not None:
        sources: dict[str, dict] = {}
        mounted: set[str] = set()
        for kind, i, m in p.volume_mounts.all():
            where = path + ("volumeMounts", kind, i)
            volume = mount_volume(kind, m)
            if sources.setdefault(m.name, volume) != volume:
                problems.append(locator.problem(where + ("name",), f"volume '{m.name}' is mounted twice with "
                                                                   "different sources",
                                                "give each source its own volume name"))
            if m.mount_path in mounted:
                problems.append(locator.problem(where + ("mountPath",), f"'{m.mount_path[:60]}' is mounted twice",
                                                "mount one volume per path"))
            mounted.add(m.mount_path)
    return problems


def held_back(manifest: dict) -> Optional[str]:
    """Why an update of a StatefulSet or DaemonSet would leave pods on their old template; None if it would not."""
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


def held_by_patches(comp, app, held=held_back) -> list:
    """A problem at the first trait after which the object that runs the pods, as its traits patch it, would
    keep pods on their old template (``held``: the manifest -> why, or None); pulumi up would wait on them."""

    patching = [t for t in comp.traits if TRAITS.get(t.type) is not None and
                type(TRAITS.get(t.type)).patch_workload is not TraitType.patch_workload]
    final = trial_workload(app, comp, None) if patching else None
    if final is None or held(final) is None:
        return []
    for i, t in enumerate(comp.traits):
        why = held(trial_workload(app, comp, comp.traits[i + 1] if i + 1 < len(comp.traits) else None) or {})
        if why:
            # At its updateStrategy, or at the trait's properties when a json-patch operation writes it.
            return [app.locator.problem(t.path + ("properties", "spec", "updateStrategy"),
                                        f"{why}, and pulumi up would wait for them until readyTimeout",
                                        "leave updateStrategy out (RollingUpdate, every pod)")]
    return []
