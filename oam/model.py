"""The envelope of an OAM Application (KubeVela's ``core.oam.dev/v1beta1``), validated into its typed form.

The typed form (the specs that definitions read) is in ``oam.kit.spec``.

Step one validates the envelope strictly; step two validates each component, trait and
step against its registered definition; step three runs the checks that need the whole
file (names, references between steps and components).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationError, field_validator

from oam.errors import ApplicationError, Problem, closest, excerpt
from oam.kit.durations import parse_duration
from oam.kit.spec import (DNS_LABEL, STEP_NAME, AppSpec, ComponentEnvelope, ComponentSpec, Input, OamModel, Output,
                          PolicySpec, StepSpec, TraitSpec, all_steps, check_dns_label, component_spec,
                          null_is_none_given, typed)
from oam.loader import MAX_BYTES, Locator, parse_yaml, pydantic_problems
from oam.registry import COMPONENTS, POLICIES, STEPS, TRAITS, Definition
from oam.workflow import values


class Metadata(OamModel):
    name: str = Field(description="Application name; prefixes every resource name")
    namespace: str = Field("default", description="Namespace of every object")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the Application")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the Application")


class StepInput(OamModel):
    source: str = Field(alias="from", description="The name of an output of an earlier step")
    parameter_key: Optional[str] = Field(None, description="Where the value goes in this step's properties, e.g. "
                                                           "data.status (none: only its if reads it)")


class StepOutput(OamModel):
    name: str = Field(description="The name later steps take it by (their inputs' from)")
    value_from: str = Field(description="What the value is: a path into what the step gives (output.status."
                                        "conditions[0].message, context.name), a \"string\", + between them")


class StepEnvelope(OamModel):
    name: str = Field(description="Step name, a DNS label")
    type: str = Field(description="Step type, e.g. canary-rollout")
    properties: dict[str, Any] = Field(default_factory=dict, description="The step's parameters")
    timeout: Optional[str] = Field(None, description="How long the pods this step scales may take to be Ready, "
                                                     "e.g. 90s or 10m (default: the readyTimeout config key)")
    sub_steps: list["StepEnvelope"] = Field(default_factory=list, description="The steps of a step-group")
    inputs: list[StepInput] = Field(default_factory=list, description="Values of earlier steps' outputs, each "
                                                                      "put into this step's properties")
    outputs: list[StepOutput] = Field(default_factory=list, description="Values this step gives later steps")
    depends_on: list[str] = Field(default_factory=list, description="Earlier steps this one runs after (steps run "
                                                                   "in order, so an earlier step is always done)")
    condition: Optional[str] = Field(None, alias="if", description="Run the step only when this holds: always, "
                                                                  "or comparisons of inputs.<from>, "
                                                                  "status.<step>.succeeded and the like")

    _null = field_validator("properties", "sub_steps", "inputs", "outputs", "depends_on",
                            mode="before")(null_is_none_given)


class PolicyEnvelope(OamModel):
    name: str = Field(description="Policy name, a DNS label")
    type: str = Field(description="Policy type")
    properties: dict[str, Any] = Field(default_factory=dict, description="The policy's parameters")

    _null = field_validator("properties", mode="before")(null_is_none_given)


class WorkflowEnvelope(OamModel):
    steps: list[StepEnvelope] = Field(default_factory=list, description="Steps run in order")
    ref: Optional[str] = Field(None, description="KubeVela's Workflow object kept in the cluster: refused "
                                                 "(write its steps here)")

    _null = field_validator("steps", mode="before")(null_is_none_given)


class SpecEnvelope(OamModel):
    components: list[ComponentEnvelope] = Field(default_factory=list, description="The application's components "
                                                                                  "(none: only what steps apply)")
    policies: list[PolicyEnvelope] = Field(default_factory=list, description="Rules applied to the whole application")
    workflow: Optional[WorkflowEnvelope] = Field(None, description="Delivery steps; none deploys everything")

    _null = field_validator("components", "policies", mode="before")(null_is_none_given)


class ApplicationEnvelope(OamModel):
    api_version: Literal["core.oam.dev/v1beta1"] = Field(description="Always core.oam.dev/v1beta1")
    kind: Literal["Application"] = Field(description="Always Application")
    metadata: Metadata
    spec: SpecEnvelope


def validate_application(data: Any, locator: Locator) -> AppSpec:
    """Validate parsed YAML; return the typed application or raise every problem at once."""
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"the value {excerpt(data)}"
        raise ApplicationError([locator.problem((), f"must be a mapping with apiVersion, kind, metadata and spec "
                                                    f"(an OAM Application); the file holds {what}",
                                                "check that the config key app names an Application file")])
    try:
        envelope = ApplicationEnvelope.model_validate(data)
    except ValidationError as err:
        problems = pydantic_problems(err, locator, (), ApplicationEnvelope)
        raise ApplicationError(problems + _salvage(data, locator)) from None

    problems: list[Problem] = []
    problems += check_dns_label(envelope.metadata.name, 63, locator, ("metadata", "name"), "application name")
    problems += check_dns_label(envelope.metadata.namespace, 63, locator, ("metadata", "namespace"), "namespace")

    if not envelope.spec.components and not (envelope.spec.workflow and (envelope.spec.workflow.steps or
                                                                         envelope.spec.workflow.ref)):
        # It would deploy nothing; on a stack that holds a release, an update would delete all of it without a word.
        # (Without components, steps may still apply objects of their own: such a workflow is an application.)
        problems.append(locator.problem(("spec", "components"), "the application has no components: it deploys "
                                                                 "nothing, and on a stack that holds a release an "
                                                                 "update would delete all of it",
                                        "add a component; to remove the application, run pulumi destroy"))
    components = []
    seen: dict[str, tuple] = {}
    for i, comp in enumerate(envelope.spec.components):
        path = ("spec", "components", i)
        problems += _named(comp.name, "component", path, seen, locator)
        if comp.inputs:
            problems.append(locator.problem(path + ("inputs",), "a component takes no inputs here: a value put into "
                                                                "its properties would make its revision from what "
                                                                "the cluster says",
                                            "write the value in the file"))
        if comp.outputs:
            problems.append(locator.problem(path + ("outputs",), "a component gives no outputs here",
                                            "give them on an apply-component step of this component (outputs: "
                                            "[{name: ..., valueFrom: output.status...}]) and pass them to later steps"))
        components.append(component_spec(comp, path, locator, problems))

    policies = []
    policy_seen: dict[str, tuple] = {}
    for i, policy in enumerate(envelope.spec.policies):
        path = ("spec", "policies", i)
        problems += _named(policy.name, "policy", path, policy_seen, locator)
        _, pprops = typed(POLICIES, policy, path, locator, problems)
        policies.append(PolicySpec(policy.name, policy.type, pprops, path, dict(policy.properties)))

    steps = None
    if envelope.spec.workflow is not None:
        steps = []
        step_seen: dict[str, int] = {}
        for i, step in enumerate(envelope.spec.workflow.steps):
            steps.append(_step(step, ("spec", "workflow", "steps", i), locator, problems, step_seen))
        if envelope.spec.workflow.ref is not None:
            problems.append(locator.problem(
                ("spec", "workflow", "ref"), f"the Workflow '{envelope.spec.workflow.ref}' is an object kept in the "
                "cluster, which KubeVela's controller reads when it runs; this program reads the file alone",
                "write that workflow's steps here under steps"))
        elif not steps:
            problems.append(locator.problem(("spec", "workflow", "steps"), "a workflow needs at least one step",
                                            "remove 'workflow' to deploy everything at once"))
        steps = tuple(steps)

    app = AppSpec(envelope.metadata.name, envelope.metadata.namespace, dict(envelope.metadata.labels),
                  dict(envelope.metadata.annotations), tuple(components), steps, locator, tuple(policies))

    # Steps that roll components out without a trait of theirs add it (canary-deploy).
    by_type: dict[str, list[StepSpec]] = {}
    for step in all_steps(app.steps):
        if step.properties is not None and STEPS.get(step.type) is not None:
            by_type.setdefault(step.type, []).append(step)
    for type_, typed_steps in by_type.items():
        app = STEPS.get(type_).shape(app, typed_steps)

    # Step three: checks that need the whole file, delegated to each definition; they run
    # on whatever validated so that one file's problems are all reported together.
    valid = not problems
    problems += _check_depends_on(app)
    problems += _check_passing(app)
    for policy in app.policies:
        if policy.properties is not None:
            problems += _run_check(POLICIES.get(policy.type), policy, app, None)
    for comp in app.components:
        if comp.properties is not None:
            problems += _run_check(COMPONENTS.get(comp.type), comp, app, comp)
        for trait in comp.traits:
            problems += _check_needs(trait, comp, app)
            if trait.properties is not None:
                problems += _run_check(TRAITS.get(trait.type), trait, app, comp)
    for step in all_steps(app.steps):
        if step.properties is not None and (valid or _steps_can_check(app)):
            problems += _run_check(STEPS.get(step.type), step, app, None)
    if problems:
        raise ApplicationError(sorted(problems, key=lambda p: (p.line or 0)))
    return app


def _check_depends_on(app: AppSpec) -> list[Problem]:
    """Each dependency is a component of the file, and no component waits for itself, however indirectly."""
    names = [c.name for c in app.components]
    problems = []
    for comp in app.components:
        for i, dep in enumerate(comp.depends_on):
            if dep not in names:
                problems.append(app.locator.problem(comp.path + ("dependsOn", i), f"'{dep}' is not a component of "
                                                                                  f"{app.locator.file}", closest(dep, names)))
    graph = {c.name: [d for d in c.depends_on if d in names] for c in app.components}
    done: set[str] = set()
    for comp in app.components:
        trail: list[str] = []

        def visit(name: str) -> Optional[list[str]]:
            if name in trail:
                return trail[trail.index(name):] + [name]
            if name in done:
                return None
            trail.append(name)
            for dep in graph[name]:
                cycle = visit(dep)
                if cycle:
                    return cycle
            trail.pop()
            done.add(name)
            return None

        cycle = visit(comp.name)
        if cycle:
            problems.append(app.locator.problem(comp.path + ("dependsOn",), "components wait for each other: "
                                                + " -> ".join(cycle), "remove one of these dependencies"))
            break
    return problems


def _named(name: str, what: str, path: tuple, seen: dict[str, tuple], locator: Locator) -> list[Problem]:
    """A valid name, not taken by an earlier one of ``seen`` (name -> path of its owner)."""
    problems = check_dns_label(name, 63, locator, path + ("name",), f"{what} name",
                               STEP_NAME if what == "step" else DNS_LABEL)
    if name in seen:
        where = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in seen[name]).replace(".[", "[")
        problems.append(locator.problem(path + ("name",), f"duplicate {what} name '{name}'", f"{where} has it already"))
    seen.setdefault(name, path)
    return problems


def _step(step: StepEnvelope, path: tuple, locator: Locator, problems: list[Problem],
          seen: dict[str, tuple]) -> StepSpec:
    problems += _named(step.name, "step", path, seen, locator)
    _, sprops = typed(STEPS, step, path, locator, problems)
    timeout = parse_duration(step.timeout) if step.timeout is not None else None
    if step.timeout is not None and not timeout:
        problems.append(locator.problem(path + ("timeout",), f"'{step.timeout}' is not a duration above 0",
                                        "write it like 90s, 10m or 1h30m"))
    subs = tuple(_step(sub, path + ("subSteps", j), locator, problems, seen) for j, sub in enumerate(step.sub_steps))
    inputs, outputs = [], []
    for j, given in enumerate(step.inputs):
        try:
            key = values.parse_key(given.parameter_key) if given.parameter_key is not None else None
            inputs.append(Input(given.source, key, path + ("inputs", j)))
        except ValueError as err:
            problems.append(locator.problem(path + ("inputs", j, "parameterKey"), f"{err}",
                                            "write a path into the step's properties, like data.status or env[0].value"))
    for j, given in enumerate(step.outputs):
        try:
            outputs.append(Output(given.name, values.parse(given.value_from), path + ("outputs", j)))
        except ValueError as err:
            problems.append(locator.problem(path + ("outputs", j, "valueFrom"), f"{err}",
                                            f"write {values.SUPPORTED}"))
    condition = None
    if step.condition is not None:
        try:
            condition = values.parse_condition(step.condition)
        except ValueError as err:
            problems.append(locator.problem(path + ("if",), str(err), f"write {values.CONDITION}"))
    return StepSpec(step.name, step.type, sprops, path, timeout, subs, tuple(inputs), tuple(outputs),
                    dict(step.properties), condition, tuple(step.depends_on))


def _check_condition(step: StepSpec, app: AppSpec, before: set[str]) -> list[Problem]:
    """An ``if`` reads the step's inputs (by their from), earlier steps' status and the context."""
    if step.condition is None:
        return []
    problems = []
    inputs = {i.source for i in step.inputs}
    for path in step.condition.paths():
        where = step.path + ("if",)
        if path.root == "inputs" and (not path.keys or path.keys[0] not in inputs):
            name = path.keys[0] if path.keys else ""
            problems.append(app.locator.problem(where, f"inputs.{name}: the step has no input from '{name}'",
                                                "list it under inputs (from: the output's name)"))
        elif path.root == "status" and (not path.keys or path.keys[0] not in before or len(path.keys) != 2
                                        or path.keys[1] not in STEP_STATUS):
            problems.append(app.locator.problem(where, f"{path} is not the status of an earlier step",
                                                f"write status.<an earlier step>.<{'|'.join(STEP_STATUS)}>"))
        elif path.root not in ("inputs", "status", "context"):
            problems.append(app.locator.problem(where, f"'{path.root}' is not known here",
                                                "an if reads inputs, status and context"))
    return problems


STEP_STATUS = ("phase", "succeeded", "failed", "skipped", "timeout")


def _check_passing(app: AppSpec) -> list[Problem]:
    """Each input takes an output an earlier step gives, on a step that takes inputs; each output has a name of
    its own and reads only what its step gives."""
    problems: list[Problem] = []
    given: dict[str, StepSpec] = {}
    before: set[str] = set()
    for step in all_steps(app.steps):
        definition = STEPS.get(step.type)
        if definition is None or definition.refused:  # reported once, as not supported
            continue
        problems += _check_condition(step, app, before)
        named = {s.name for s in all_steps(app.steps)}
        for j, other in enumerate(step.depends_on):
            if other not in before:
                why = ("a later step: steps run in order" if other in named and other != step.name else
                       "the step itself" if other == step.name else "not a step of the workflow")
                problems.append(app.locator.problem(step.path + ("dependsOn", j), f"'{other}' is {why}",
                                                    "name earlier steps only" if other in named else
                                                    closest(other, sorted(before))))
        before.add(step.name)
        for i in step.inputs:
            if i.key is not None and not definition.takes_inputs:
                why = (": a value put into a component's properties would make its revision from what the "
                       "cluster says; write the value in the file" if definition.places else "")
                problems.append(app.locator.problem(i.path, f"step type '{step.type}' takes no inputs{why}",
                                                    "inputs go into the properties of export2config, export2secret, "
                                                    "apply-object and print-message-in-status"))
            elif i.source not in given:
                problems.append(app.locator.problem(i.path + ("from",), f"no earlier step gives an output "
                                                                        f"named '{i.source}'",
                                                    closest(i.source, given)))
        for o in step.outputs:
            unknown = o.expression.roots - {"context"} - set(definition.gives)
            if unknown:
                gives = ", ".join(sorted({"context", *definition.gives}))
                problems.append(app.locator.problem(o.path + ("valueFrom",), f"step type '{step.type}' gives no "
                                                                             f"'{sorted(unknown)[0]}'",
                                                    f"it gives: {gives}"))
            if o.name in given:
                problems.append(app.locator.problem(o.path + ("name",), f"output '{o.name}' is given by step "
                                                                        f"'{given[o.name].name}' already",
                                                    "give each output a name of its own"))
            given.setdefault(o.name, step)
        if step.outputs and step.properties is not None:
            problems += definition.check_outputs(step, app)
    return problems


def _steps_can_check(app: AppSpec) -> bool:
    """Step checks read the rollout traits: only run them when those validated."""
    return all(t.properties is not None for c in app.components for t in c.traits
               if TRAITS.get(t.type) is not None and TRAITS.get(t.type).rolls_out)


def _salvage(data: Any, locator: Locator) -> list[Problem]:
    """When the envelope is broken, still check the components and steps that are whole."""
    problems: list[Problem] = []
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return problems
    for i, raw in enumerate(spec.get("components") or [] if isinstance(spec.get("components"), list) else []):
        try:
            comp = ComponentEnvelope.model_validate(raw)
        except ValidationError:
            continue
        component_spec(comp, ("spec", "components", i), locator, problems)
    raw_policies = spec.get("policies")
    for i, raw in enumerate(raw_policies if isinstance(raw_policies, list) else []):
        try:
            policy = PolicyEnvelope.model_validate(raw)
        except ValidationError:
            continue
        typed(POLICIES, policy, ("spec", "policies", i), locator, problems)
    workflow = spec.get("workflow")
    raw_steps = workflow.get("steps") if isinstance(workflow, dict) else None
    for i, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        try:
            step = StepEnvelope.model_validate(raw)
        except ValidationError:
            continue
        typed(STEPS, step, ("spec", "workflow", "steps", i), locator, problems)
    return problems


# What a trait needs of a component's workload, said of a component that lacks it.
LACKING = {"pods": "changes the pods, and {type} runs none",
           "replicas": "sets the replica count, and {type} has none: it runs {runs}",
           "deployment": "changes a Deployment's own fields, and {type} runs {runs}"}


def _check_needs(trait: TraitSpec, comp: ComponentSpec, app: AppSpec) -> list[Problem]:
    definition, component = TRAITS.get(trait.type), COMPONENTS.get(comp.type)
    if definition is None or component is None:
        return []
    missing = [need for need in ("pods", "replicas", "deployment") if need in definition.needs - component.offers]
    if not missing:
        return []
    why = LACKING[missing[0]].format(type=comp.type, runs=component.runs)
    usable = sorted(t for t in TRAITS.names() if TRAITS.get(t).needs <= component.offers and not TRAITS.get(t).refused)
    hint = ("remove it, or use a webservice or worker component" if len(usable) > 8 else
            f"only {', '.join(usable)} apply to {comp.type}")
    return [app.locator.problem(trait.path + ("type",), f"trait '{trait.type}' {why}", hint)]


def _run_check(definition: Optional[Definition], spec: Any, app: AppSpec, comp: Optional[ComponentSpec]) -> list[Problem]:
    if definition is None:
        return []
    return list(definition.check(spec, app, comp))


def read_application(path: Path, display: Optional[str] = None):
    """Read, parse and validate an application file; raise ApplicationError with every problem."""
    display = display or str(path)
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        raise ApplicationError([Problem(display, None, "app", "file not found",
                                        "set the config key 'app' to an existing file, relative to the project")]) from None
    except OSError as err:
        raise ApplicationError([Problem(display, None, "app", f"cannot be read ({err.strerror or err})",
                                        "set the config key 'app' to an Application file")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ApplicationError([Problem(display, line, "yaml", f"is not UTF-8 text (byte 0x{raw[err.start]:02x})",
                                        "save the file as UTF-8; set app to an Application YAML file")]) from None
    data, locator = parse_yaml(text, display)
    return validate_application(data, locator)
