"""The application as definitions see it: the base of every properties model, and the typed specs.

A spec is what validation makes of one part of the file: its typed properties and where it
is (its path, for messages). Definitions read specs; a policy that rewrites a component
builds it again here, validated as the file's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from oam.errors import Problem, closest
from oam.loader import Locator, pydantic_problems
from oam.registry import COMPONENTS, STEPS, TRAITS, Definition, Registry, TraitType


class OamModel(BaseModel):
    """Base of every user-facing model: camelCase keys, strict types, no unknown keys."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              frozen=True, strict=True, defer_build=True)


def null_is_none_given(value: Any, info: ValidationInfo) -> Any:
    """KubeVela reads a list or mapping written as null as none given (Go decodes it as empty)."""
    if value is None:
        return {} if info.field_name == "properties" else []
    return value


class TraitEnvelope(OamModel):
    type: str = Field(description="Trait type, e.g. expose")
    properties: dict[str, Any] = Field(default_factory=dict, description="The trait's parameters")

    _null = field_validator("properties", mode="before")(null_is_none_given)


class ComponentEnvelope(OamModel):
    name: str = Field(description="Component name, a DNS label")
    type: str = Field(description="Component type, e.g. webservice")
    external_revision: Optional[str] = Field(None, description="Name of this version of the component (its "
                                                               "revision), instead of <component>-v<N>")
    depends_on: list[str] = Field(default_factory=list, description="Components whose pods are Ready before "
                                                                    "this one's are created or changed")
    properties: dict[str, Any] = Field(default_factory=dict, description="The component's parameters")
    traits: list[TraitEnvelope] = Field(default_factory=list, description="Traits attached to the component")
    inputs: Optional[list[Any]] = Field(None, description="Refused: values are passed between workflow steps")
    outputs: Optional[list[Any]] = Field(None, description="Refused: give them on an apply-component step")

    _null = field_validator("properties", "traits", "depends_on", mode="before")(null_is_none_given)


@dataclass(frozen=True)
class TraitSpec:
    type: str
    properties: Any
    path: tuple
    raw: dict = field(default_factory=dict)  # the properties as written


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    type: str
    properties: Any
    raw_properties: dict
    traits: tuple[TraitSpec, ...]
    path: tuple
    external_revision: Optional[str] = None
    depends_on: tuple[str, ...] = ()

    def trait(self, type_: str) -> Optional[TraitSpec]:
        return next((t for t in self.traits if t.type == type_), None)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    type: str
    properties: Any
    path: tuple
    raw: dict = field(default_factory=dict)  # the properties as written


@dataclass(frozen=True)
class StepSpec:
    name: str
    type: str
    properties: Any
    path: tuple
    timeout: Optional[int] = None  # seconds
    sub_steps: tuple["StepSpec", ...] = ()
    inputs: tuple["Input", ...] = ()
    outputs: tuple["Output", ...] = ()
    raw: Any = None  # the properties as the file writes them (inputs are put into a copy of them)
    condition: Any = None  # oam.workflow.values.Condition: the step runs only when it holds (if)
    depends_on: tuple[str, ...] = ()  # earlier steps (steps run in order: checked, nothing to wait for)


@dataclass(frozen=True)
class Input:
    source: str  # the output's name
    key: Optional[tuple]  # where it goes in the step's properties; None: only the step's if reads it
    path: tuple  # of the input in the file


@dataclass(frozen=True)
class Output:
    name: str
    expression: Any  # oam.workflow.values.Expression
    path: tuple


@dataclass(frozen=True)
class AppSpec:
    """A validated application: typed properties for every component, trait and step."""

    name: str
    namespace: str
    labels: dict
    annotations: dict
    components: tuple[ComponentSpec, ...]
    steps: Optional[tuple[StepSpec, ...]]
    locator: Locator
    policies: tuple[PolicySpec, ...] = ()

    def component(self, name: str) -> Optional[ComponentSpec]:
        return next((c for c in self.components if c.name == name), None)

    @property
    def canaried(self) -> tuple[ComponentSpec, ...]:
        """Components with a trait that rolls out: the ones a workflow rolls out revision by revision."""
        return tuple(c for c in self.components if rollout_of(c))

    def gates(self) -> list[str]:
        """Names of the steps that wait for an approval."""
        return [s.name for s in all_steps(self.steps) if STEPS.get(s.type) is not None and STEPS.get(s.type).waits(s)]


def all_steps(steps) -> list[StepSpec]:
    """Every step, those inside step groups too, in order."""
    out: list[StepSpec] = []
    for s in steps or ():
        out.append(s)
        out += all_steps(s.sub_steps)
    return out


def rollout_of(comp: ComponentSpec) -> Optional[tuple[TraitType, Any]]:
    """The trait that rolls ``comp`` out revision by revision, and its properties; None if there is none."""
    for t in comp.traits:
        definition = TRAITS.get(t.type)
        if definition is not None and definition.rolls_out:
            return definition, definition.plan(t.properties, comp)
    return None


def rolls_out(comp: ComponentSpec) -> bool:
    """Whether ``comp``'s type runs its pods in a Deployment that a rollout may split by revision (an unknown
    type counts as one: it is reported once, as unknown)."""
    definition = COMPONENTS.get(comp.type)
    return definition is None or definition.rolls_out


def splits_traffic(comp: ComponentSpec) -> bool:
    """Whether a trait of ``comp`` weighs its routes between revisions."""
    return any(TRAITS.get(t.type) is not None and TRAITS.get(t.type).splits_traffic for t in comp.traits)


DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # RFC 1035: what names a Service must start with a letter
STEP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a step names no object: it may start with a digit


def check_dns_label(value: str, max_len: int, locator: Locator, path: tuple, what: str,
                    rule: re.Pattern = DNS_LABEL) -> list[Problem]:
    if rule.match(value) and len(value) <= max_len:
        return []
    start = "a letter" if rule is DNS_LABEL else "a letter or digit"
    return [locator.problem(path, f"{what} '{value}' is not a valid name",
                            f"use lower-case letters, digits and '-', start with {start}, at most {max_len} characters")]


def typed(registry: Registry, envelope: Any, path: tuple, locator: Locator,
          problems: list[Problem]) -> tuple[Optional[Definition], Any]:
    """The definition an envelope names and its typed properties; what is wrong goes to ``problems``."""
    definition = registry.get(envelope.type)
    if definition is None:
        problems.append(locator.problem(path + ("type",), f"unknown {registry.kind} type '{envelope.type}'",
                                        closest(envelope.type, registry.names())))
        return None, None
    if definition.refused:
        problems.append(locator.problem(path + ("type",), f"{registry.kind} type '{envelope.type}' is not supported: "
                                                          f"{definition.refused}", definition.alternative))
        return None, None
    try:
        return definition, definition.parse(envelope.properties)
    except ValidationError as err:
        problems.extend(pydantic_problems(err, locator, path + ("properties",), definition.properties))
        return definition, None


def build_component(raw: dict, path: tuple, locator: Locator) -> tuple[Optional[ComponentSpec], list[Problem]]:
    """A component from its raw form (as a policy rewrites it), validated; None with the problems when it is not."""
    problems: list[Problem] = []
    try:
        envelope = ComponentEnvelope.model_validate(raw)
    except ValidationError as err:
        return None, pydantic_problems(err, locator, path, ComponentEnvelope)
    comp = component_spec(envelope, path, locator, problems)
    if comp.properties is None or any(t.properties is None for t in comp.traits):
        return None, problems or [locator.problem(path, "is not valid", "check its properties")]
    return comp, problems


def raw_component(comp: ComponentSpec) -> dict:
    """The component as written (what a policy rewrites)."""
    out: dict = {"name": comp.name, "type": comp.type, "properties": dict(comp.raw_properties),
                 "traits": [{"type": t.type, "properties": dict(t.raw)} for t in comp.traits]}
    if comp.external_revision:
        out["externalRevision"] = comp.external_revision
    if comp.depends_on:
        out["dependsOn"] = list(comp.depends_on)
    return out


def component_spec(comp: ComponentEnvelope, path: tuple, locator: Locator, problems: list[Problem]) -> ComponentSpec:
    """A component and its traits typed (what is not valid is left None, and its problems go to ``problems``)."""
    _, props = typed(COMPONENTS, comp, path, locator, problems)
    traits = []
    once: set[str] = set()
    changed: dict[str, set[str]] = {}  # a trait type given once per container -> the containers changed so far
    for j, trait in enumerate(comp.traits):
        tpath = path + ("traits", j)
        definition, tprops = typed(TRAITS, trait, tpath, locator, problems)
        targets = definition.targets(tprops) if definition is not None and tprops is not None else None
        if definition is not None and type(definition).targets is not TraitType.targets:
            mine = {t or comp.name for t in targets or ()}
            again = changed.setdefault(trait.type, set()) & mine
            if again:
                problems.append(locator.problem(tpath + ("type",), f"a second '{trait.type}' trait changes container "
                                                f"{', '.join(sorted(again))} again", "merge the two into one"))
            changed[trait.type] |= mine
        elif trait.type in once:
            problems.append(locator.problem(tpath + ("type",), f"trait '{trait.type}' is given twice",
                                            "merge the two into one"))
        once.add(trait.type)
        traits.append(TraitSpec(trait.type, tprops, tpath, dict(trait.properties)))
    if comp.external_revision is not None:
        problems += check_dns_label(comp.external_revision, 63, locator, path + ("externalRevision",), "revision name")
    return ComponentSpec(comp.name, comp.type, props, dict(comp.properties), tuple(traits), path,
                         comp.external_revision, tuple(comp.depends_on))
