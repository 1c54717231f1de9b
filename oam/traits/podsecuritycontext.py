"""podsecuritycontext: the security context of the component's pods (their user, group, fsGroup, profiles)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.kit.workload import trial_workload
from oam.registry import TRAITS, TraitType


class Profile(OamModel):
    type: Literal["RuntimeDefault", "Unconfined", "Localhost"] = Field(
        description="Which profile: the container runtime's, none, or one on the node")
    localhost_profile: Optional[str] = Field(None, min_length=1, description="The profile on the node, when type "
                                                                             "is Localhost")

    @model_validator(mode="after")
    def _localhost(self):
        # Kubernetes refuses both.
        if self.type == "Localhost" and self.localhost_profile is None:
            raise ValueError("type Localhost needs localhostProfile, the profile on the node")
        if self.type != "Localhost" and self.localhost_profile is not None:
            raise ValueError(f"localhostProfile is for type Localhost, not {self.type}; remove it")
        return self

    def manifest(self) -> dict:
        return {"type": self.type, **({"localhostProfile": self.localhost_profile} if self.localhost_profile else {})}


class SeccompProfile(Profile):
    @model_validator(mode="after")
    def _relative(self):
        # The kubelet reads it under its seccomp directory: Kubernetes refuses an absolute path or '..'.
        path = self.localhost_profile or ""
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"localhostProfile '{path[:60]}' must be a path relative to the kubelet's seccomp "
                             "directory, without '..', like profiles/audit.json")
        return self


class PodsecuritycontextProperties(OamModel):
    app_armor_profile: Optional[Profile] = Field(None, description="AppArmor profile of the pod's containers")
    fs_group: Optional[int] = Field(None, ge=0, le=kv.MAX_INT32, description="Group that owns the pod's volumes "
                                                                            "and is added to every process")
    run_as_group: Optional[int] = Field(None, ge=0, le=kv.MAX_INT32, description="Group ID the processes run as")
    run_as_user: Optional[int] = Field(None, ge=0, le=kv.MAX_INT32, description="User ID the processes run as")
    run_as_non_root: bool = Field(True, description="Refuse to start a container as root: an image whose user is "
                                                    "root needs runAsUser, or this false")
    seccomp_profile: Optional[SeccompProfile] = Field(None, description="Seccomp profile of the pod's containers")

    @model_validator(mode="after")
    def _root(self):
        # The kubelet would not start a container that runs as root with runAsNonRoot.
        if self.run_as_non_root and self.run_as_user == 0:
            raise ValueError("runAsUser 0 is root, and runAsNonRoot (true unless set) forbids it; "
                             "set runAsNonRoot: false to run as root")
        return self

    def manifest(self) -> dict:
        out: dict = {}
        if self.app_armor_profile is not None:
            out["appArmorProfile"] = self.app_armor_profile.manifest()
        for key, value in (("fsGroup", self.fs_group), ("runAsGroup", self.run_as_group),
                           ("runAsUser", self.run_as_user)):
            if value is not None:
                out[key] = value
        if self.seccomp_profile is not None:
            out["seccompProfile"] = self.seccomp_profile.manifest()
        return {**out, "runAsNonRoot": self.run_as_non_root}


@TRAITS.register
class Podsecuritycontext(TraitType):
    """Set the security context of the component's pods: user, group, fsGroup, seccomp and AppArmor profiles."""

    name = "podsecuritycontext"
    Properties = PodsecuritycontextProperties

    def check(self, trait, app, comp):
        if trait.properties.run_as_user != 0:
            return []

        workload = trial_workload(app, comp, None)
        spec = (workload or {}).get("spec", {})
        pod = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec.get("template", {})
        containers = pod.get("spec", {}).get("initContainers", []) + pod.get("spec", {}).get("containers", [])
        # A container's own context wins over the pod's: one that forbids root without a user of its own
        # runs as this root user, and the kubelet would not start it.
        refusing = [c["name"] for c in containers if c.get("securityContext", {}).get("runAsNonRoot") and
                    c["securityContext"].get("runAsUser") is None]
        if not refusing:
            return []
        return [app.locator.problem(
            trait.path + ("properties", "runAsUser"),
            f"runAsUser 0 (root) is the user of every container without one of its own, and container "
            f"'{refusing[0]}' forbids root (runAsNonRoot: true in its securityContext)",
            "give that container a runAsUser, or runAsNonRoot: false in its securitycontext trait")]

    def patch_pod(self, p: PodsecuritycontextProperties, template: dict, ctx: ComponentContext) -> None:
        template["spec"]["securityContext"] = p.manifest()

