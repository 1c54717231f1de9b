"""The definition interface: one class per kind, one registry per kind, one file per definition.

A definition is a subclass of one of the four kinds below, registered by name with
``@COMPONENTS.register`` (or TRAITS, POLICIES, STEPS) in a module of its own under
``oam/components``, ``oam/traits``, ``oam/policies`` or ``oam/steps``. Adding a definition
means adding that one file: rendering, the workflow engine and the Pulumi resources know
the kinds, never a definition by name.

* A component type renders its workload (the pod it asks for) from its properties.
* A trait shapes the workload and adds objects (``apply``) and, once the revisions of the
  stage are known, adds what depends on them and declares its ordering edges (``stage``).
* A policy transforms the application before anything is rendered.
* A workflow step acts on the release: it moves it on, holds it at a gate, or ends it.

Every definition has a pydantic model of its properties (KubeVela's parameter names) and
may check what needs the whole file (``check``).

A definition module imports nothing of oam but ``oam.kit``, ``oam.errors``, this module (to
register itself) and other definition modules, besides the standard library and pydantic
(tests/unit/test_imports.py holds it to that).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import re
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Iterable, Optional, TypeVar

from pydantic import BaseModel, RootModel

if TYPE_CHECKING:  # only for annotations: the kinds' arguments
    from oam.kit.context import ComponentContext, Workload
    from oam.errors import Problem
    from oam.kit.stage import ComponentStage


class AnyProperties(RootModel[dict[str, Any]]):
    """Whatever a refused definition is given."""


class Definition:
    """What every kind has: a name, a properties model, a one-line description and a whole-file check.

    A definition with ``refused`` set is known but not supported: a file that uses it is
    refused with that reason (what it would need that a Pulumi program cannot have).
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Properties: ClassVar[type[BaseModel]]
    refused: ClassVar[str] = ""
    alternative: ClassVar[str] = ""  # what to use instead, for a refused definition

    @property
    def description(self) -> str:
        doc = (type(self).__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""

    @property
    def properties(self) -> type[BaseModel]:
        return self.Properties

    def parse(self, raw: Any) -> BaseModel:
        """The typed properties (raises pydantic's ValidationError)."""
        return self.Properties.model_validate(raw)

    def check(self, spec: Any, app: Any, component: Any) -> Iterable["Problem"]:
        """Problems that need the whole file: ``spec`` is this use of the definition (typed properties and path)."""
        return ()


class ComponentType(Definition):
    """A kind of workload."""

    kind = "component"
    token: ClassVar[str] = "oam:component:Component"  # the Pulumi type of the component resource
    rolls_out: ClassVar[bool] = True  # its pods run in a Deployment, which a rollout trait may split by revision
    # What its workload offers the traits that need it (TraitType.needs): "pods" (a pod template to change),
    # "replicas" (a replica count to set), "deployment" (a Deployment's own fields, its update strategy).
    offers: ClassVar[frozenset[str]] = frozenset({"pods", "replicas", "deployment"})
    runs: ClassVar[str] = "a Deployment"  # what its pods run in, for messages

    def complete(self, p: Any, app: Any, revision: str = "") -> Any:
        """The properties with what they take from the rest of the file, and the name of the revision being
        built (empty when none is yet), filled in; by default as they are."""
        return p

    def workload(self, name: str, p: Any) -> "Workload":
        """The pod it runs (and its Service, or objects of its own)."""
        raise NotImplementedError

    def wrap(self, p: Any, metadata: dict, template: dict, replicas: int) -> Optional[dict]:
        """The object that runs the pod ``template``; None for a Deployment (render makes it, with its selector)."""
        return None


class TraitType(Definition):
    """An operational behaviour attached to a component."""

    kind = "trait"
    # A trait that deploys the component revision by revision (the engine sizes its revisions).
    rolls_out: ClassVar[bool] = False
    # A trait that weighs the component's routes between its revisions.
    splits_traffic: ClassVar[bool] = False
    # What it needs of the component's workload (ComponentType.offers); a component without it refuses the trait.
    needs: ClassVar[frozenset[str]] = frozenset({"pods"})

    def apply(self, p: Any, ctx: "ComponentContext") -> None:
        """Shape the workload and add objects, before the revisions of the stage are known."""

    def stage(self, p: Any, ctx: "ComponentContext", stage: "ComponentStage") -> None:
        """Once the stage's revisions and their replicas are known: add objects that depend on them, and edges."""

    def service_ports(self, p: Any) -> list[int]:
        """The ports this trait puts on the component's Service."""
        return []

    def patch_pod(self, p: Any, template: dict, ctx: "ComponentContext") -> None:
        """Change the pod template (``metadata`` and ``spec``) of every Deployment of the component.

        A trait that does (``shapes_pod``) is part of the revision, like the component's
        properties: changing it rolls out a new revision, and an older revision keeps its own.
        """

    def container_names(self, p: Any) -> list[str]:
        """Containers this trait adds to the pods."""
        return []

    def volume_names(self, p: Any) -> list[str]:
        """Volumes this trait adds to the pods."""
        return []

    def targets(self, p: Any) -> Optional[list[Optional[str]]]:
        """The containers this trait adds or changes (None: the component's own), when a component may
        have it more than once, each for other containers (as KubeVela allows); None: once only."""
        return None

    def patch_workload(self, p: Any, manifest: dict, ctx: "ComponentContext") -> None:
        """Change the object that runs the pods (a Deployment's strategy, say), once it is built.

        Like ``patch_pod``, a trait that does is part of the revision.
        """

    @property
    def shapes_pod(self) -> bool:
        return (type(self).patch_pod is not TraitType.patch_pod or
                type(self).patch_workload is not TraitType.patch_workload)

    # For a trait that rolls out (rolls_out = True):
    # Its stable revision runs in the component's own Deployment (named after the component), and
    # a release's new revision in a Deployment of its own until it has every pod; then the
    # component's Deployment takes the new revision and the other goes. Otherwise each revision
    # has a Deployment named after it.
    in_place: ClassVar[bool] = False
    # The replica count is the component's own (scaler's), shared between its revisions.
    takes_replicas: ClassVar[bool] = False

    def plan(self, p: Any, component: Any) -> Any:
        """What the rollout methods below are given: the properties, or what they mean for ``component``."""
        return p

    def target_size(self, p: Any) -> int:
        raise NotImplementedError

    def batches(self, p: Any) -> int:
        raise NotImplementedError

    def new_replicas(self, p: Any, partition: int) -> int:
        """Pods of the new revision once batches 0..partition are done."""
        raise NotImplementedError

    def direct_partition(self, p: Any) -> int:
        """The partition a release without a workflow goes to: all batches."""
        return self.batches(p) - 1

    def check_revision(self, p: Any, current: str) -> Optional[str]:
        """Why the revision the file makes cannot be rolled out (as the trait names another); None when it can."""
        return None


class PolicyType(Definition):
    """A rule of the application: where it is deployed, how it is changed there, or how its objects are kept.

    A placement policy names a target (``places``: ``namespace``); an override policy
    transforms the application for the targets a deploy step sends it to (``transforms``);
    any policy may set how Pulumi keeps each object (``keep``). Without a deploy step in the
    workflow, the application goes to every placement policy's target (or its own
    namespace), with every override.
    """

    kind = "policy"
    places: ClassVar[bool] = False
    transforms: ClassVar[bool] = False

    def namespace(self, p: Any, app: Any) -> str:
        """A placement policy's target namespace."""
        raise NotImplementedError

    def clusters(self, spec: Any, app: Any, known: Any) -> tuple[str, ...]:
        """A placement policy's target clusters, by name; ``known``: the stack's clusters config (None: no stack)."""
        return ("local",)

    def moves_objects(self, p: Any) -> bool:
        """Whether a placement policy's target takes every object there, those that name a namespace too
        (KubeVela overrides their namespace with the one a topology names)."""
        return False

    def transform(self, p: Any, app: Any, policy: Any) -> Any:
        """The application with this policy applied (an AppSpec in, an AppSpec out)."""
        return app

    def keep(self, p: Any, desired: Any, component: Any) -> None:
        """Set how Pulumi keeps ``desired`` (its ``retain`` and ``ignore_changes``), an object of ``component``."""

    def takes_over(self, p: Any, desired: Any, component: Any) -> bool:
        """Whether the stack may take ``desired`` over when the cluster holds it already and it is not ours."""
        return False

    def objects(self, p: Any, app: Any, policy: Any) -> list[dict]:
        """The objects the policy makes (manifests), applied with the application at every stage, in the local
        cluster; ``app`` is the Application's AppSpec, ``policy`` its PolicySpec."""
        return []


class StepType(Definition):
    """A step of the delivery workflow."""

    kind = "workflow step"
    gate: ClassVar[bool] = False  # waits for an approval (pulumi config set approve <step>) or a duration
    ends_release: ClassVar[bool] = False  # aborts the release: the stable revision takes everything back
    places: ClassVar[bool] = False  # deploys the application somewhere (without one, it goes where its policies say)
    moves_release: ClassVar[bool] = False  # a canary step: moves the release in the clusters of its wave
    takes_inputs: ClassVar[bool] = False  # its properties are data that earlier steps' outputs may fill in
    gives: ClassVar[tuple[str, ...]] = ()  # what its outputs' valueFrom may read besides context (output, outputs)
    reads_applied: ClassVar[bool] = False  # its outputs read objects it applies: only after the update that did

    def deploys(self, p: Any, app: Any) -> tuple[str, ...]:
        """The components this step deploys (a step that ``places``): the ones an approval before it lets through."""
        return ()

    def mark(self, p: Any, run: Any, step: Any) -> str:
        """What a value this step gives comes from: a value is read again when its mark changes (by default the
        step's properties)."""
        return json.dumps(step.raw, sort_keys=True, default=str)

    def check_outputs(self, step: Any, app: Any) -> list:
        """Problems of this step's outputs that need the whole application to see."""
        return []

    def given(self, p: Any, run: Any, step: Any) -> Optional[dict]:
        """What this step's outputs read (``gives`` -> value), once it has run; None while it cannot say yet
        (the objects it applied are read from the cluster after the update that applied them)."""
        return {}

    def run(self, p: Any, run: Any, step: Any) -> bool:
        """Act on the workflow run; True to go on to the next step."""
        raise NotImplementedError

    def waits(self, step: Any) -> bool:
        """Whether this step (with its properties) can wait for an approval."""
        return self.gate

    def shape(self, app: Any, steps: list[Any]) -> Any:
        """The application as these steps (all of this type) deploy it: an AppSpec in, an AppSpec out.

        A step that rolls components out without a trait of theirs adds one here, as KubeVela's
        step adds it by an inline override.
        """
        return app

    def check_release(self, step: Any, app: Any, release: Any, history: Any) -> Iterable["Problem"]:
        """Problems of this step against the release the stack is in (checked before anything is applied)."""
        return ()


D = TypeVar("D", bound=Definition)
_MODULE_NAME = re.compile(r"[a-z][a-z0-9-]*")


class Registry(Generic[D]):
    """The definitions of one kind, by name."""

    def __init__(self, kind: str, base: type[D], package: str):
        self.kind, self.base, self.package = kind, base, package
        self._defs: dict[str, D] = {}
        self._users: dict[str, Optional[D]] = {}  # a user's definition's name -> the built-in one it replaces

    def register(self, cls: type[D]) -> type[D]:
        """Class decorator: register one instance of ``cls`` under ``cls.name``."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)) or not cls.name:
            raise RuntimeError(f"{cls!r} is not a named {self.base.__name__}")
        if cls.name in self._defs:
            raise RuntimeError(f"{self.kind} type '{cls.name}' is defined twice")
        if cls.refused and "Properties" not in vars(cls):
            cls.Properties = AnyProperties  # what a refused definition is given is not read
        self._defs[cls.name] = cls()
        return cls

    def get(self, name: str) -> Optional[D]:
        """The definition called ``name``, importing only its module (oam/<kind>/<name with _ for ->.py)."""
        found = self._defs.get(name)
        if found is None and not _loaded and isinstance(name, str) and _MODULE_NAME.fullmatch(name):
            module = f"{self.package}.{name.replace('-', '_')}"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
            found = self._defs.get(name)
        return found

    def use(self, definition: D) -> bool:
        """Register a user's definition (oam.userdefs) under its name: True when it replaces a built-in one."""
        builtin = self.get(definition.name)  # imported first: a later import of its module must not collide
        if definition.name not in self._users:
            self._users[definition.name] = builtin
        self._defs[definition.name] = definition
        return builtin is not None

    def forget_users(self) -> None:
        """Back to the built-in definitions alone."""
        for name, builtin in self._users.items():
            if builtin is None:
                self._defs.pop(name, None)
            else:
                self._defs[name] = builtin
        self._users.clear()

    def names(self) -> list[str]:
        load_definitions()  # every one: names are listed for hints, the schema and the reference
        return sorted(self._defs)


COMPONENTS: Registry[ComponentType] = Registry("component", ComponentType, "oam.components")
TRAITS: Registry[TraitType] = Registry("trait", TraitType, "oam.traits")
POLICIES: Registry[PolicyType] = Registry("policy", PolicyType, "oam.policies")
STEPS: Registry[StepType] = Registry("workflow step", StepType, "oam.steps")
REGISTRIES = (COMPONENTS, TRAITS, POLICIES, STEPS)

_loaded = False


def load_definitions() -> None:
    """Import every definition module once (those whose names do not start with '_')."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for registry in REGISTRIES:
        pkg = importlib.import_module(registry.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{registry.package}.{info.name}")
