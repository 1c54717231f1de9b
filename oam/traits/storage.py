"""storage: claims, ConfigMaps, Secrets and scratch or node directories mounted into the component's container."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.kit.pod import AbsolutePath, EnvName, FileMode, KeyToPath, Quantity, SubPath, VolumeName
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import container, merge_by_name


class StorageAmount(OamModel):
    storage: Quantity = Field(description="Size, like 8Gi")


class ClaimResources(OamModel):
    requests: StorageAmount = Field(description="The size asked for")
    limits: Optional[StorageAmount] = Field(None, description="The most it may grow to")


class Pvc(OamModel):
    name: VolumeName = Field(description="Claim name (the volume is pvc-<name>)")
    mount_only: bool = Field(False, description="Mount an existing claim; make none")
    mount_path: AbsolutePath = Field(description="Where it is mounted (the device path, for volumeMode Block)")
    sub_path: Optional[SubPath] = Field(None, description="Path inside the volume to mount")
    volume_mode: Literal["Filesystem", "Block"] = Field("Filesystem", description="A filesystem, or a raw device")
    volume_name: Optional[str] = Field(None, description="Bind to this PersistentVolume")
    access_modes: list[Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]] = Field(
        default_factory=lambda: ["ReadWriteOnce"], min_length=1, description="How it may be mounted")
    storage_class_name: Optional[str] = Field(None, description="Storage class; the cluster's default when absent")
    resources: Optional[ClaimResources] = Field(None, description="Size (8Gi when absent)")


class ConfigMapEnv(OamModel):
    env_name: EnvName = Field(description="Variable to set")
    config_map_key: str = Field(description="Key of the ConfigMap it reads")


class SecretEnv(OamModel):
    env_name: EnvName = Field(description="Variable to set")
    secret_key: str = Field(description="Key of the Secret it reads")


class ConfigMapStore(OamModel):
    name: VolumeName = Field(description="ConfigMap name (the volume is configmap-<name>)")
    mount_only: bool = Field(False, description="Use an existing ConfigMap; make none")
    mount_to_env: Optional[ConfigMapEnv] = Field(None, description="One key as a variable")
    mount_to_envs: list[ConfigMapEnv] = Field(default_factory=list, description="Keys as variables")
    mount_path: Optional[AbsolutePath] = Field(None, description="Where its keys are mounted as files")
    sub_path: Optional[SubPath] = Field(None, description="Path inside the volume to mount")
    default_mode: FileMode = Field(420, description="File mode bits (420 is 0644)")
    read_only: bool = Field(False, description="Mount read-only")
    data: dict[str, str] = Field(default_factory=dict, description="Its keys and values, when it is made here")
    items: list[KeyToPath] = Field(default_factory=list, description="Keys to mount, all when empty")


class SecretStore(OamModel):
    name: VolumeName = Field(description="Secret name (the volume is secret-<name>)")
    mount_only: bool = Field(False, description="Use an existing Secret; make none")
    mount_to_env: Optional[SecretEnv] = Field(None, description="One key as a variable")
    mount_to_envs: list[SecretEnv] = Field(default_factory=list, description="Keys as variables")
    mount_path: Optional[AbsolutePath] = Field(None, description="Where its keys are mounted as files")
    sub_path: Optional[SubPath] = Field(None, description="Path inside the volume to mount")
    default_mode: FileMode = Field(420, description="File mode bits (420 is 0644)")
    read_only: bool = Field(False, description="Mount read-only")
    string_data: dict[str, str] = Field(default_factory=dict, description="Its keys and values, when made here")
    data: dict[str, str] = Field(default_factory=dict, description="Its keys and base64 values, when made here")
    items: list[KeyToPath] = Field(default_factory=list, description="Keys to mount, all when empty")


class EmptyDirStore(OamModel):
    name: VolumeName = Field(description="Volume name (emptydir-<name>)")
    mount_path: AbsolutePath = Field(description="Where it is mounted")
    sub_path: Optional[SubPath] = Field(None, description="Path inside the volume to mount")
    medium: Literal["", "Memory"] = Field("", description="Node disk, or Memory (tmpfs)")


class HostPathStore(OamModel):
    name: VolumeName = Field(description="Volume name (hostpath-<name>)")
    path: AbsolutePath = Field(description="Path on the node")
    mount_path: AbsolutePath = Field(description="Where it is mounted")
    type: Literal["Directory", "DirectoryOrCreate", "FileOrCreate", "File", "Socket", "CharDevice",
                  "BlockDevice"] = Field("Directory", description="What must be at the path")


class StorageProperties(OamModel):
    pvc: list[Pvc] = Field(default_factory=list, description="PersistentVolumeClaims")
    config_map: list[ConfigMapStore] = Field(default_factory=list, description="ConfigMaps")
    secret: list[SecretStore] = Field(default_factory=list, description="Secrets")
    empty_dir: list[EmptyDirStore] = Field(default_factory=list, description="Scratch directories")
    host_path: list[HostPathStore] = Field(default_factory=list, description="Directories of the node")

    def volumes(self) -> list[tuple[str, dict, Optional[dict], Optional[dict]]]:
        """(list name, volume, mount or None, device or None) of every entry that is a volume of the pod."""
        out = []
        for c in self.pvc:
            volume = {"name": f"pvc-{c.name}", "persistentVolumeClaim": {"claimName": c.name}}
            if c.volume_mode == "Block":
                out.append(("pvc", volume, None, {"name": volume["name"], "devicePath": c.mount_path}))
            else:
                out.append(("pvc", volume, _mount(volume["name"], c.mount_path, c.sub_path), None))
        for kind, items, ref in (("configMap", self.config_map, "name"), ("secret", self.secret, "secretName")):
            for c in items:
                if c.mount_path is None:
                    continue  # only read into variables
                body = {ref: c.name, "defaultMode": c.default_mode}
                if c.items:
                    body["items"] = [{"key": i.key, "path": i.path, **({"mode": i.mode} if i.mode is not None else {})}
                                     for i in c.items]
                volume = {"name": f"{kind.lower()}-{c.name}", kind: body}
                mount = _mount(volume["name"], c.mount_path, c.sub_path)
                if c.read_only:
                    mount["readOnly"] = True
                out.append((kind, volume, mount, None))
        for c in self.empty_dir:
            volume = {"name": f"emptydir-{c.name}", "emptyDir": {"medium": c.medium} if c.medium else {}}
            out.append(("emptyDir", volume, _mount(volume["name"], c.mount_path, c.sub_path), None))
        for c in self.host_path:
            volume = {"name": f"hostpath-{c.name}", "hostPath": {"path": c.path, "type": c.type}}
            out.append(("hostPath", volume, _mount(volume["name"], c.mount_path, None), None))
        return out

    def env(self) -> list[dict]:
        out = []
        for c in self.config_map:
            for e in ([c.mount_to_env] if c.mount_to_env else []) + list(c.mount_to_envs):
                out.append({"name": e.env_name, "valueFrom": {"configMapKeyRef": {"name": c.name,
                                                                                  "key": e.config_map_key}}})
        for c in self.secret:
            for e in ([c.mount_to_env] if c.mount_to_env else []) + list(c.mount_to_envs):
                out.append({"name": e.env_name, "valueFrom": {"secretKeyRef": {"name": c.name, "key": e.secret_key}}})
        return out


def _mount(name: str, path: str, sub_path: Optional[str]) -> dict:
    return {"name": name, "mountPath": path, **({"subPath": sub_path} if sub_path else {})}


@TRAITS.register
class Storage(TraitType):
    """Mount claims, ConfigMaps, Secrets, scratch and node directories; make the claims, ConfigMaps and Secrets."""

    name = "storage"
    Properties = StorageProperties

    def check(self, trait, app, comp):
        p: StorageProperties = trait.properties
        problems = []
        seen: dict[str, str] = {}
        for kind, volume, mount, device in p.volumes():
            where = device["devicePath"] if device else mount["mountPath"]
            if where in seen:
                problems.append(app.locator.problem(trait.path + ("properties",),
                                                    f"'{where}' is used by {seen[where]} and {volume['name']}",
                                                    "mount one volume per path"))
            seen[where] = volume["name"]
        for kind, items in (("configMap", p.config_map), ("secret", p.secret)):
            for i, c in enumerate(items):
                if c.mount_path is None and not c.mount_to_env and not c.mount_to_envs:
                    problems.append(app.locator.problem(trait.path + ("properties", kind, i),
                                                        f"{kind} '{c.name}' is neither mounted nor read into a variable",
                                                        "give mountPath, mountToEnv or mountToEnvs"))
        return problems

    def volume_names(self, p: StorageProperties) -> list[str]:
        return [volume["name"] for _, volume, _, _ in p.volumes()]

    def apply(self, p: StorageProperties, ctx: ComponentContext) -> None:
        """The claims, ConfigMaps and Secrets it makes (all but mountOnly ones), before the pods that mount them."""
        for c in p.pvc:
            if c.mount_only:
                continue
            resources = c.resources or ClaimResources(requests=StorageAmount(storage="8Gi"))
            spec: dict = {"accessModes": list(c.access_modes), "volumeMode": c.volume_mode,
                          "resources": {"requests": {"storage": resources.requests.storage}}}
            if resources.limits:
                spec["resources"]["limits"] = {"storage": resources.limits.storage}
            if c.storage_class_name:
                spec["storageClassName"] = c.storage_class_name
            if c.volume_name:
                spec["volumeName"] = c.volume_name
            ctx.add(f"pvc-{c.name}", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "metadata": ctx.metadata(c.name), "spec": spec}, before_pods=True)
        for c in p.config_map:
            if not c.mount_only:
                ctx.add(f"configmap-{c.name}", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ctx.metadata(c.name),
                                                **({"data": dict(c.data)} if c.data else {})}, before_pods=True)
        for c in p.secret:
            if not c.mount_only:
                body = {k: dict(v) for k, v in (("data", c.data), ("stringData", c.string_data)) if v}
                ctx.add(f"secret-{c.name}", {"apiVersion": "v1", "kind": "Secret", "metadata": ctx.metadata(c.name),
                                             **body}, before_pods=True)

    def patch_pod(self, p: StorageProperties, template: dict, ctx: ComponentContext) -> None:
        spec, main = template["spec"], container(template)
        entries = p.volumes()
        spec["volumes"] = merge_by_name(spec.get("volumes", []), [v for _, v, _, _ in entries])
        mounts = [m for _, _, m, _ in entries if m is not None]
        devices = [d for _, _, _, d in entries if d is not None]
        if mounts:
            main["volumeMounts"] = merge_by_name(main.get("volumeMounts", []), mounts)
        if devices:
            main["volumeDevices"] = merge_by_name(main.get("volumeDevices", []), devices)
        if p.env():
            main["env"] = merge_by_name(main.get("env", []), p.env())
