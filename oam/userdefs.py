"""Users' own definitions: KubeVela ComponentDefinition, TraitDefinition and PolicyDefinition objects whose
behaviour is a CUE template, read from the files the ``definitions`` config key (or ``--definitions``) names,
evaluated by CUE itself.

The evaluator is ``oam-cue`` (tools/cue: the CUE evaluator of cuelang.org/go, built into the tools cache by
tools/build-cue.sh the first time a stack or a command needs it). A template sees ``parameter`` (the properties
the Application gives) and ``context`` as KubeVela gives it: ``name`` (the component), ``appName``,
``namespace``, ``revision`` (the name of the component's revision, as its pods are labelled), and for a trait
``output`` (the workload as built so far) and ``outputs`` (the objects the component's template and the traits
before it output, by name); a policy's ``name`` is the policy's. Parameters are checked against the
template's ``parameter`` before anything runs: a wrong type, an unknown field and a missing one are problems at the
Application's line; an error of the template is reported with CUE's own words and the definition's file and line.

* A component's ``output`` is its workload, and its ``outputs`` its other objects; all are applied as objects
  written in full are (k8s-objects): in the order the safety rules need, awaited when they run pods.
* A trait's ``patch`` changes the workload, with KubeVela's patch strategies (oam.kit.patching); its
  ``patchOutputs`` change the component's other objects by name, and its ``outputs`` are objects of the
  component. On a component of this program's own types that runs pods, the patch changes the Deployment (or what
  runs the pods), and the change is part of the revision.
* A policy's ``output`` and ``outputs`` are objects of the application (KubeVela's policies that generate
  resources): applied at every stage, in the local cluster; a pod that names one waits for it. A PolicyDefinition
  whose template outputs nothing is refused: such a policy's effect is KubeVela's controller's.
* A definition with the name of a built-in one replaces it, with a note.
* A WorkflowStepDefinition is refused: its effect is KubeVela's controller's.
"""
from __future__ import annotations

import atexit
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from pydantic import ConfigDict, RootModel

from oam.errors import ApplicationError, OamError, Problem, excerpt
from oam.kit.context import REVISION_LABEL, ComponentContext, Workload
from oam.kit.patching import PatchError, apply_patch, directives
from oam.loader import Locator, parse_yaml
from oam.registry import COMPONENTS, POLICIES, STEPS, TRAITS, ComponentType, PolicyType, Registry, TraitType

ROOT = Path(__file__).resolve().parent.parent
KINDS: dict[str, tuple[Registry, str]] = {
    "ComponentDefinition": (COMPONENTS, "component"),
    "TraitDefinition": (TRAITS, "trait"),
    "PolicyDefinition": (POLICIES, "policy"),
    "WorkflowStepDefinition": (STEPS, "workflow step"),
}
NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
ACTION = re.compile(r"\b(?:op|vela)\.#?([A-Z][A-Za-z]*)")
OUTPUTS = re.compile(r"\boutputs?\s*:")


@dataclass(frozen=True)
class Source:
    """One definition as its file writes it."""

    kind: str  # ComponentDefinition, TraitDefinition, PolicyDefinition
    name: str
    template: str
    file: str
    line: int  # the line of the file that holds the template's first line
    description: str = ""
    applies_to: tuple[str, ...] = ()  # a trait's appliesToWorkloads (none, or "*": every workload)

    def at(self, template_line: Optional[int]) -> str:
        """``file:line`` of a line of the template."""
        return f"{self.file}:{self.line + template_line - 1}" if template_line else self.file


# --- reading ------------------------------------------------------------------------------------------------------

def definition_files(paths: list[str], base: Path, missing: Callable[[str], Problem]) -> list[Path]:
    """The YAML files the paths name (a folder: the .yaml and .yml files below it, in name order); a problem for a
    path that is not there."""
    out, problems = [], []
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            problems.append(missing(raw))
    if problems:
        raise OamError(problems)
    return list(dict.fromkeys(out))


def read_definitions(files: list[Path], base: Path) -> list[Source]:
    """Every definition in ``files``; ApplicationError with every problem of them."""
    sources, problems = [], []
    for path in files:
        shown = os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            problems.append(Problem(shown, None, "(file)", f"cannot be read as a definition file ({err})",
                                    "name YAML files of ComponentDefinition, TraitDefinition and "
                                    "PolicyDefinition objects"))
            continue
        for data, locator in _documents(text, shown):
            if data is None:
                continue
            found = _source(data, locator, text.splitlines(), problems)
            if found is not None:
                sources.append(found)
    seen: dict[tuple[str, str], Source] = {}
    for s in sources:
        other = seen.setdefault((s.kind, s.name), s)
        if other is not s:
            problems.append(Problem(s.file, s.line, "metadata.name", f"{s.kind} '{s.name}' is defined twice (also "
                                    f"in {other.file})", "keep one of them"))
    if problems:
        raise ApplicationError(problems)
    return sources


def _documents(text: str, file: str):
    """Each YAML document of a file, with a locator whose lines are the file's."""
    starts = [0] + [m.start() + 1 for m in re.finditer(r"\n---[ \t]*(?=\n|$)", text)]
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else len(text)
        chunk = text[start:end]
        if i > 0:
            chunk = chunk.split("\n", 1)[1] if "\n" in chunk else ""  # the '---' line itself
        offset = text.count("\n", 0, start) + (1 if i > 0 else 0)
        if not chunk.strip():
            continue
        data, locator = parse_yaml(chunk, file)
        yield data, Locator(file, {k: v + offset for k, v in locator.lines.items()}, locator.written)


def _source(data: Any, locator: Locator, text: list[str], problems: list[Problem]) -> Optional[Source]:
    if not isinstance(data, dict):
        problems.append(locator.problem((), "is not a definition (a mapping with apiVersion, kind, metadata, spec)"))
        return None
    kind = data.get("kind")
    if kind not in KINDS:
        problems.append(locator.problem(("kind",), f"kind {excerpt(kind)} is not a definition read here",
                                        "ComponentDefinition, TraitDefinition or PolicyDefinition "
                                        "(core.oam.dev/v1beta1)"))
        return None
    if not str(data.get("apiVersion", "")).startswith("core.oam.dev/"):
        problems.append(locator.problem(("apiVersion",), f"apiVersion {excerpt(data.get('apiVersion'))} is not "
                                        "core.oam.dev's", "apiVersion: core.oam.dev/v1beta1"))
        return None
    name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(locator.problem(("metadata", "name"), f"{excerpt(name)} is not a definition name",
                                        "lower-case letters, digits and '-'"))
        return None
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    schematic = spec.get("schematic") if isinstance(spec.get("schematic"), dict) else {}
    cue = schematic.get("cue") if isinstance(schematic.get("cue"), dict) else {}
    template = cue.get("template")
    where = ("spec", "schematic", "cue", "template")
    if not isinstance(template, str) or not template.strip():
        other = next((k for k in schematic if k != "cue"), None)
        why = (f"its schematic is {other}: only CUE templates are read here" if other else
               "it has no CUE template (spec.schematic.cue.template)")
        problems.append(locator.problem(where if other is None else ("spec", "schematic"), why,
                                        "write the definition's behaviour as a CUE template"))
        return None
    line = locator.line(where) or 1
    written = text[line - 1] if 0 < line <= len(text) else ""
    if re.search(r"template:\s*[|>][-+0-9]*\s*(#.*)?$", written):
        line += 1  # a block scalar (template: |) starts on the next line
    annotations = (data.get("metadata") or {}).get("annotations") or {}
    description = str(annotations.get("definition.oam.dev/description", "")) if isinstance(annotations, dict) else ""
    applies = spec.get("appliesToWorkloads") if kind == "TraitDefinition" else None
    if applies is not None and not (isinstance(applies, list) and all(isinstance(a, str) for a in applies)):
        problems.append(locator.problem(("spec", "appliesToWorkloads"), "must be a list of workload names",
                                        "such as [deployments.apps], [webservice] or [\"*\"]"))
        return None
    source = Source(kind, name, template, locator.file, line, description, tuple(applies or ()))
    registry, what = KINDS[kind]
    if kind == "WorkflowStepDefinition":
        actions = sorted(set(ACTION.findall(template)))
        named = f" (it uses {', '.join('op.#' + a for a in actions)})" if actions else ""
        problems.append(locator.problem(where, f"WorkflowStepDefinition '{name}' is not supported: a step written "
                                        f"in CUE acts through KubeVela's vela/op actions{named}, which KubeVela's "
                                        "workflow controller runs in the cluster; this program runs no controller",
                                        "use the built-in steps (python -m oam reference lists them)"))
        return None
    if kind == "PolicyDefinition" and not OUTPUTS.search(template):
        builtin = POLICIES.get(name)
        problems.append(locator.problem(where, f"PolicyDefinition '{name}' outputs no objects: a policy written in "
                                        "CUE takes effect here through the objects its template outputs (output, "
                                        "outputs); one without them is given its effect by KubeVela's controller",
                                        f"leave it out: the built-in policy '{name}' does its work here" if builtin
                                        else "set output (or outputs) in its template, or use a built-in policy "
                                        "(python -m oam reference lists them)"))
        return None
    return source


# --- evaluating ---------------------------------------------------------------------------------------------------

class CueError(OamError):
    """The evaluator could not be built or run."""


def evaluator_binary() -> str:
    """The oam-cue binary: OAM_CUE, or the tools cache's (built by tools/build-cue.sh the first time)."""
    given = os.environ.get("OAM_CUE")
    if given:
        return given
    script = str(ROOT / "tools" / "build-cue.sh")
    if subprocess.run(["bash", script, "--check"], capture_output=True).returncode == 3:
        print("building the CUE evaluator once (tools/build-cue.sh: about a minute on a new machine)",
              file=sys.stderr, flush=True)
    proc = subprocess.run(["bash", script], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise CueError([Problem("tools/build-cue.sh", None, "(definitions)", "could not build the CUE evaluator: "
                                + (proc.stderr.strip().splitlines() or ["no output"])[-1],
                                "run bash tools/build-cue.sh to see why (it needs Go and the Go module proxy)")])
    return str(Path(proc.stdout.strip().splitlines()[-1]) / "oam-cue")


class Evaluator:
    """One oam-cue process for the program's run (started at its first question, ``--serve``: a request a line),
    and each answer remembered by its question."""

    def __init__(self, binary: Optional[str] = None):
        self._binary = binary
        self.answers: dict[str, dict] = {}
        self.runs = 0
        self._process: Optional[subprocess.Popen] = None

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = evaluator_binary()
        return self._binary

    def run(self, jobs: list[dict]) -> list[dict]:
        keys = [hashlib.sha256(json.dumps(j, sort_keys=True, default=str).encode()).hexdigest() for j in jobs]
        todo = {k: j for k, j in zip(keys, jobs) if k not in self.answers}
        if todo:
            request = json.dumps({"jobs": [{**j, "id": k} for k, j in todo.items()]}, default=str)
            for result in self._ask(request)["results"]:
                self.answers[result["id"]] = result
        return [self.answers[k] for k in keys]

    def _ask(self, request: str) -> dict:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen([self.binary, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)
        self.runs += 1
        try:
            self._process.stdin.write(request + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except OSError:
            line = ""
        if not line:
            self._process.kill()
            error = (self._process.stderr.read() or "").strip()
            self._process = None
            raise CueError([Problem(self.binary, None, "(definitions)", "the CUE evaluator failed: "
                                    + (error.splitlines()[-1] if error else "it ended without an answer"))])
        return json.loads(line)

    def close(self) -> None:
        """End the evaluator process (at exit: it would end on its own once its input closes)."""
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def eval(self, source: Source, parameter: Any, context: dict) -> dict:
        return self.run([{"op": "eval", "template": source.template, "parameter": parameter,
                          "context": context}])[0]

    def describe(self, source: Source) -> dict:
        return self.run([{"op": "describe", "template": source.template}])[0]


EVALUATOR = Evaluator()
atexit.register(EVALUATOR.close)


def problems_of(result: dict, source: Source, locator: Locator, at: tuple, typed: tuple) -> list[Problem]:
    """The evaluator's errors as problems: a parameter's at its line of the Application (``at``: where the
    properties are), the template's at ``typed`` (the line that names the definition), with the definition's file
    and line and CUE's words."""
    out = []
    for err in result.get("errors") or []:
        path = tuple(err.get("path") or ())
        if path:
            out.append(locator.problem(at + path, err["message"],
                                       f"{source.kind} '{source.name}' ({source.file}) declares the parameters"))
        else:
            out.append(locator.problem(typed, f"{source.kind} '{source.name}' failed: {source.at(err.get('line'))}: "
                                              f"{err['message']}",
                                       "the definition's CUE template does not evaluate for these properties"))
    return out


# --- the schema of a definition's parameters ----------------------------------------------------------------------

def json_schema(node: dict) -> dict:
    """The evaluator's description of a parameter as JSON Schema."""
    kind = node.get("type", "any")
    if "anyOf" in node:
        return {"anyOf": [json_schema(n) for n in node["anyOf"]]}
    if "enum" in node:
        return {"enum": node["enum"]}
    if kind == "object":
        props, required = {}, []
        for name, f in (node.get("fields") or {}).items():
            entry = json_schema(f.get("node") or {})
            if f.get("doc"):
                entry["description"] = f["doc"].removeprefix("+usage=").strip()
            if "default" in f:
                entry["default"] = f["default"]
            elif not f.get("optional"):
                required.append(name)
            props[name] = entry
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        if node.get("values"):
            out["additionalProperties"] = json_schema(node["values"])
        else:
            out["additionalProperties"] = bool(node.get("open"))
        return out
    if kind == "array":
        return {"type": "array", **({"items": json_schema(node["items"])} if node.get("items") else {})}
    return {} if kind == "any" else {"type": kind}


def properties_model(source: Source) -> type:
    """The properties of a user's definition: any mapping (CUE checks it); its JSON schema is the template's
    parameter, described by the evaluator when a schema or the reference asks for it."""

    def schema(cls, core_schema, handler) -> dict:
        result = EVALUATOR.describe(source)
        if result.get("errors"):
            return {"type": "object", "description": f"(the template does not evaluate: "
                                                     f"{result['errors'][0]['message']})"}
        out = json_schema(result.get("parameter") or {})
        out["title"] = cls.__name__
        return out

    name = "".join(part.capitalize() for part in re.split(r"[-.]", source.name)) + "Properties"
    return type(name, (RootModel[dict[str, Any]],), {
        "__module__": __name__, "__doc__": f"The parameters of {source.kind} '{source.name}' ({source.file}).",
        "model_config": ConfigDict(strict=True, frozen=True),
        "__get_pydantic_json_schema__": classmethod(schema)})


# --- the definitions ----------------------------------------------------------------------------------------------

def context_value(name: str, app: str, namespace: str, revision: str) -> dict[str, Any]:
    """KubeVela's context of a template: the component, the application, the namespace and, once it is known, the
    name of the component's revision."""
    out = {"name": name, "appName": app, "namespace": namespace}
    if revision:
        out["revision"] = revision
    return out


@dataclass(frozen=True)
class Bound:
    """A user component's properties with what its template's context needs from the application."""

    properties: dict[str, Any]
    app: str
    namespace: str
    revision: str = ""


def _named(obj: Any, name: str, namespace: str) -> Any:
    if isinstance(obj, dict):
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict):
            meta.setdefault("name", name)
    return obj


def user_component(source: Source) -> ComponentType:
    """A component type whose template's ``output`` (its workload) and ``outputs`` are its objects."""

    class UserComponent(ComponentType):
        __doc__ = source.description or f"A component type of {source.file}."
        kind = "component"
        name = source.name
        Properties = properties_model(source)
        token = "oam:component:Defined"
        rolls_out = False
        offers = frozenset()
        runs = "the objects its template outputs"
        user = source

        def evaluate(self, props: dict, app_name: str, namespace: str, component: str, revision: str = "") -> dict:
            return EVALUATOR.eval(source, props, context_value(component, app_name, namespace, revision))

        def check(self, comp, app, _):
            result = self.evaluate(comp.properties.root, app.name, app.namespace, comp.name)
            problems = problems_of(result, source, app.locator, comp.path + ("properties",), comp.path + ("type",))
            return problems or _output_problems(result, source, app, comp.path + ("type",), "the workload")

        def complete(self, p, app, revision: str = "") -> Bound:
            return Bound(p.root, app.name, app.namespace, revision)

        def workload(self, name: str, p: Bound) -> Workload:
            from oam.components.k8s_objects import object_order

            result = self.evaluate(p.properties, p.app, p.namespace, name, p.revision)
            objects, names = [], []
            if isinstance(result.get("output"), dict):
                objects.append(_named(copy.deepcopy(result["output"]), name, p.namespace))
                names.append("")
            for k, o in (result.get("outputs") or {}).items():
                if isinstance(o, dict):
                    objects.append(_named(copy.deepcopy(o), f"{name}-{k}", p.namespace))
                    names.append(k)
            return Workload(container={}, objects=objects, object_after=object_order(objects),
                            main=0 if isinstance(result.get("output"), dict) else None, object_names=names)

    return UserComponent()


def _outputs(ctx: Optional[ComponentContext]) -> dict[str, Any]:
    """A trait's ``context.outputs``: the objects the component's template and the traits before it output, by the
    names their templates give them."""
    if ctx is None:
        return {}
    return {name: ctx.objects[role] for name, role in ctx.named.items() if role in ctx.objects}


def user_trait(source: Source) -> TraitType:
    """A trait whose template's ``patch`` changes the workload and ``outputs`` add objects."""

    class UserTrait(TraitType):
        __doc__ = source.description or f"A trait of {source.file}."
        kind = "trait"
        name = source.name
        Properties = properties_model(source)
        needs = frozenset()
        user = source

        def evaluate(self, props: dict, ctx: dict) -> dict:
            return EVALUATOR.eval(source, props, ctx)

        def check(self, trait, app, comp):
            from oam.kit.workload import trial_context, trial_workload

            output = trial_workload(app, comp, trait)
            built = trial_context(app, comp)
            if output is None and built is not None and built.main:
                output = built.objects.get(built.main)
            if output is not None and not applies_to(source.applies_to, comp.type, output):
                return [app.locator.problem(trait.path + ("type",), f"TraitDefinition '{source.name}' applies to "
                                            f"{', '.join(source.applies_to)} (its appliesToWorkloads, "
                                            f"{source.file}); component '{comp.name}' of type '{comp.type}' runs "
                                            f"{resource_name(output)}",
                                            "use it on a component it applies to, or name this one's type in "
                                            "its appliesToWorkloads")]
            result = self.evaluate(trait.properties.root, {**context_value(comp.name, app.name, app.namespace, ""),
                                                           "output": output or {}, "outputs": _outputs(built)})
            problems = problems_of(result, source, app.locator, trait.path + ("properties",), trait.path + ("type",))
            if not problems and result.get("patch") is not None and output is None and built is not None:
                problems.append(app.locator.problem(trait.path + ("type",), f"TraitDefinition '{source.name}' "
                                                    f"patches the workload, and component '{comp.name}' has none "
                                                    "to patch", "use it on a component that runs pods"))
            if not problems and result.get("patch") is not None and output is not None:
                try:
                    apply_patch(copy.deepcopy(output), result["patch"], directives(result.get("directives") or []))
                except PatchError as err:
                    problems.append(app.locator.problem(trait.path + ("type",), f"TraitDefinition "
                                                        f"'{source.name}' ({source.file}): its patch does not "
                                                        f"apply: {err}"))
            outputs = _outputs(built)
            for name, patch in (result.get("patchOutputs") or {}).items() if not problems else ():
                if name not in outputs:
                    problems.append(app.locator.problem(trait.path + ("type",), f"TraitDefinition "
                                                        f"'{source.name}' ({source.file}) patches output '{name}', "
                                                        f"which component '{comp.name}' does not have", "its "
                                                        "outputs: " + (", ".join(sorted(outputs)) or "none")))
                    continue
                try:
                    apply_patch(copy.deepcopy(outputs[name]), patch,
                                directives((result.get("outputDirectives") or {}).get(name) or []))
                except PatchError as err:
                    problems.append(app.locator.problem(trait.path + ("type",), f"TraitDefinition "
                                                        f"'{source.name}' ({source.file}): its patch of output "
                                                        f"'{name}' does not apply: {err}"))
            return problems

        def _context(self, ctx: ComponentContext, output: Any) -> dict:
            # The revision of a Deployment the trait patches is the one its pods are labelled with.
            labels = ((((output or {}).get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
                "labels") or {}
            revision = labels.get(REVISION_LABEL) or ctx.revision
            return {**context_value(ctx.component, ctx.app, ctx.namespace, revision), "output": output or {},
                    "outputs": _outputs(ctx)}

        def apply(self, p, ctx: ComponentContext) -> None:
            main = ctx.objects.get(ctx.main) if ctx.main else None
            result = self.evaluate(p.root, self._context(ctx, main))
            if main is not None and result.get("patch") is not None:
                ctx.objects[ctx.main] = apply_patch(main, result["patch"], directives(result.get("directives") or []))
            for key, obj in (result.get("outputs") or {}).items():
                if isinstance(obj, dict):
                    ctx.add(f"{source.name}-{key}", _named(copy.deepcopy(obj), f"{ctx.component}-{key}",
                                                           ctx.namespace))
                    obj_meta = ctx.objects[f"{source.name}-{key}"].setdefault("metadata", {})
                    obj_meta.setdefault("namespace", ctx.namespace)
                    ctx.named[key] = f"{source.name}-{key}"  # a later trait's context.outputs names it
            for name, patch in (result.get("patchOutputs") or {}).items():
                role = ctx.named.get(name)
                if role in ctx.objects:
                    ctx.objects[role] = apply_patch(ctx.objects[role], patch, directives(
                        (result.get("outputDirectives") or {}).get(name) or []))

        def patch_workload(self, p, manifest: dict, ctx: ComponentContext) -> None:
            result = self.evaluate(p.root, self._context(ctx, manifest))
            if result.get("patch") is None:
                return
            patched = apply_patch(manifest, result["patch"], directives(result.get("directives") or []))
            manifest.clear()
            manifest.update(patched)

    return UserTrait()


def user_policy(source: Source) -> PolicyType:
    """A policy whose template's ``output`` and ``outputs`` are objects of the application, as KubeVela applies a
    policy's objects: at every stage, in the local cluster, in the application's namespace unless they name one (a
    pod that names one of them waits for it)."""

    class UserPolicy(PolicyType):
        __doc__ = source.description or f"A policy of {source.file}."
        kind = "policy"
        name = source.name
        Properties = properties_model(source)
        user = source

        def evaluate(self, props: dict, app: Any, policy: Any) -> dict:
            return EVALUATOR.eval(source, props, context_value(policy.name, app.name, app.namespace, ""))

        def check(self, policy, app, _):
            result = self.evaluate(policy.properties.root, app, policy)
            problems = problems_of(result, source, app.locator, policy.path + ("properties",),
                                   policy.path + ("type",))
            return problems or _output_problems(result, source, app, policy.path + ("type",), "an object")

        def objects(self, p, app, policy) -> list[dict]:
            result = self.evaluate(p.root, app, policy)
            out = []
            if isinstance(result.get("output"), dict):
                out.append(_named(copy.deepcopy(result["output"]), policy.name, app.namespace))
            out += [_named(copy.deepcopy(o), f"{policy.name}-{k}", app.namespace)
                    for k, o in (result.get("outputs") or {}).items() if isinstance(o, dict)]
            return out

    return UserPolicy()


def _output_problems(result: dict, source: Source, app: Any, where: tuple, output_is: str) -> list[Problem]:
    """A component's or policy's template that outputs nothing, or an output that is not an object."""
    if not isinstance(result.get("output"), dict) and not result.get("outputs"):
        return [app.locator.problem(where, f"{source.kind} '{source.name}' ({source.file}) outputs nothing for these "
                                           "properties", f"its template sets output ({output_is}) or outputs")]
    return [app.locator.problem(where, f"{source.kind} '{source.name}' ({source.file}): its {name} is not an object "
                                       "with apiVersion, kind and a metadata mapping")
            for name, obj in [("output", result.get("output")),
                              *((f"outputs.{k}", v) for k, v in (result.get("outputs") or {}).items())]
            if obj is not None and not (isinstance(obj, dict) and isinstance(obj.get("apiVersion"), str)
                                        and isinstance(obj.get("kind"), str)
                                        and isinstance(obj.get("metadata", {}), dict))]


def resource_name(obj: dict) -> str:
    """A workload as KubeVela's appliesToWorkloads names it: ``<plural>.<group>`` (deployments.apps), or the plural
    alone for the core group."""
    kind = str(obj.get("kind", "")).lower()
    plural = kind + "es" if kind.endswith("s") else kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


def applies_to(names: tuple[str, ...], component_type: str, workload: dict) -> bool:
    """Whether a trait whose appliesToWorkloads is ``names`` applies to a component of ``component_type`` whose
    workload is ``workload``: none or "*" is every one; else its type's name, its workload's ``<plural>.<group>``,
    or ``*.<group>``. (A component without a workload, or one that does not render, is not judged.)"""
    if not names or "*" in names or component_type in names:
        return True
    resource = resource_name(workload)
    return resource in names or f"*.{resource.partition('.')[2]}" in names


@dataclass
class Installed:
    """The users' definitions in use, and the built-in ones they replace."""

    sources: list[Source] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # "trait 'x' (file)" of each built-in replaced

    @property
    def notes(self) -> list[str]:
        return [f"{r} replaces the built-in one of that name" for r in self.replaced]


def install(sources: list[Source]) -> Installed:
    """Register the users' definitions (in place of built-in ones of their names)."""
    out = Installed(sources)
    for s in sources:
        registry, what = KINDS[s.kind]
        definition = {"ComponentDefinition": user_component, "TraitDefinition": user_trait,
                      "PolicyDefinition": user_policy}[s.kind](s)
        if registry.use(definition):
            out.replaced.append(f"{what} '{s.name}' of {s.file}")
    return out


def uninstall() -> None:
    """Back to the built-in definitions alone."""
    for registry, _ in KINDS.values():
        registry.forget_users()


def load(paths: list[str], base: Path, missing: Callable[[str], Problem]) -> Installed:
    """Read and register the definitions ``paths`` name (relative to ``base``)."""
    uninstall()
    if not paths:
        return Installed()
    return install(read_definitions(definition_files(paths, base, missing), base))


__all__ = ["Source", "Evaluator", "EVALUATOR", "load", "install", "uninstall", "read_definitions",
           "definition_files", "json_schema"]
