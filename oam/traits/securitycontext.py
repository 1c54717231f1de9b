"""securitycontext: the security context of a container of the component (user, capabilities, privileges)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from oam.kit import k8s_values as kv
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._containers import changed_containers, container, missing_containers, one_form


class SecurityChange(OamModel):
    add_capabilities: Optional[list[str]] = Field(None, description="Linux capabilities to add, like NET_ADMIN")
    allow_privilege_escalation: bool = Field(False, description="A process may gain more privileges than its parent")
    drop_capabilities: Optional[list[str]] = Field(None, description="Linux capabilities to drop, like ALL")
    privileged: bool = Field(False, description="Run with the host's privileges (needs allowPrivilegeEscalation)")
    read_only_root_filesystem: bool = Field(False, description="Mount the root filesystem read-only")
    run_as_non_root: bool = Field(True, description="Refuse to start as root: an image whose user is root "
                                                    "needs runAsUser, or this false")
    run_as_user: Optional[int] = Field(None, ge=0, le=kv.MAX_INT32, description="User ID the processes run as")
    run_as_group: Optional[int] = Field(None, ge=0, le=kv.MAX_INT32, description="Group ID the processes run as")

    @model_validator(mode="after")
    def _consistent(self):
        # Kubernetes refuses the first two; the kubelet would not start the container with the third.
        if not self.allow_privilege_escalation and self.privileged:
            raise ValueError("a privileged container can always escalate its privileges; "
                             "set allowPrivilegeEscalation: true as well")
        if not self.allow_privilege_escalation and "CAP_SYS_ADMIN" in (self.add_capabilities or ()):
            raise ValueError("CAP_SYS_ADMIN allows escalating privileges; set allowPrivilegeEscalation: true as well")
        if self.run_as_non_root and self.run_as_user == 0:
            raise ValueError("runAsUser 0 is root, and runAsNonRoot (true unless set) forbids it; "
                             "set runAsNonRoot: false to run as root")
        return self

    def manifest(self) -> dict:
        out: dict = {}
        capabilities = {k: list(v) for k, v in (("add", self.add_capabilities), ("drop", self.drop_capabilities))
                        if v is not None}
        if capabilities:
            out["capabilities"] = capabilities
        for key, value in (("runAsUser", self.run_as_user), ("runAsGroup", self.run_as_group)):
            if value is not None:
                out[key] = value
        return {**out, "allowPrivilegeEscalation": self.allow_privilege_escalation,
                "readOnlyRootFilesystem": self.read_only_root_filesystem, "privileged": self.privileged,
                "runAsNonRoot": self.run_as_non_root}


class ContainerSecurity(SecurityChange):
    container_name: str = Field(min_length=1, description="The container to change")


class SecuritycontextProperties(SecurityChange):
    container_name: str = Field("", description="The container to change; the component's own when empty")
    containers: list[ContainerSecurity] = Field(default_factory=list, description="Security contexts of several "
                                                                                  "containers (instead of the "
                                                                                  "fields above)")

    @model_validator(mode="after")
    def _one_form(self):
        one_form(self, "containers")
        return self


@TRAITS.register
class Securitycontext(TraitType):
    """Set the security context of the component's container (or a sidecar's): its user, capabilities, privileges."""

    name = "securitycontext"
    Properties = SecuritycontextProperties

    def check(self, trait, app, comp):
        named = [(path, name) for path, name, _ in changed_containers(trait.properties, "containers") if name]
        return missing_containers(trait, app, comp, named)

    def targets(self, p: SecuritycontextProperties) -> list[Optional[str]]:
        return [name for _, name, _ in changed_containers(p, "containers")]

    def patch_pod(self, p: SecuritycontextProperties, template: dict, ctx: ComponentContext) -> None:
        for _, name, change in changed_containers(p, "containers"):
            c = container(template, name)
            if c is not None:  # else refused by check
                c["securityContext"] = change.manifest()
