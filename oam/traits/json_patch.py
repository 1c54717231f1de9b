"""json-patch: change the component's workload object with JSON Patch operations (RFC 6902)."""
from __future__ import annotations

import copy
from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from oam.errors import ApplicationError, Problem
from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.kit.workload import trial_workload
from oam.registry import TRAITS, TraitType
from oam.traits.json_merge_patch import OWN_LABELS, PROTECTED

_NEEDS_VALUE = ("add", "replace", "test")
_NEEDS_FROM = ("move", "copy")


class Operation(OamModel):
    op: Literal["add", "remove", "replace", "move", "copy", "test"] = Field(description="What to do at path")
    path: str = Field(description="JSON Pointer (RFC 6901) into the workload object, like /spec/template/spec/"
                                  "containers/0/args; ~1 stands for '/' in a key and ~0 for '~'")
    value: Any = Field(None, description="The value to add, to replace with, or to test for (add, replace, test)")
    from_: Optional[str] = Field(None, alias="from", description="JSON Pointer of the value to move or copy (move, copy)")

    @model_validator(mode="after")
    def _fields_of_op(self):
        given = self.model_fields_set
        if self.op in _NEEDS_VALUE and "value" not in given:
            raise ValueError(f"op {self.op} needs value")
        if self.op not in _NEEDS_VALUE and "value" in given:
            raise ValueError(f"op {self.op} takes no value; remove it")
        if self.op in _NEEDS_FROM and self.from_ is None:
            raise ValueError(f"op {self.op} needs from, the pointer of the value to {self.op}")
        if self.op not in _NEEDS_FROM and self.from_ is not None:
            raise ValueError(f"op {self.op} takes no from; remove it")
        for field, pointer in (("path", self.path), ("from", self.from_ or "")):
            problem = pointer_problem(pointer)
            if problem:
                raise ValueError(f"{field}: {problem}")
        source = _tokens(self.from_ or "")
        if self.op == "move" and _tokens(self.path)[:len(source)] == source and self.path != self.from_:
            raise ValueError("a value cannot be moved into itself (path is inside from)")
        return self


class JsonPatchProperties(OamModel):
    operations: list[Operation] = Field(min_length=1, description="The operations, applied in order; if one "
                                                                  "cannot apply, none is")


class PatchError(Exception):
    """An operation that cannot apply: ``field`` (path or from) of the operation at ``index``."""

    def __init__(self, index: int, field: str, message: str, hint: str):
        super().__init__(message)
        self.index, self.field, self.message, self.hint = index, field, message, hint


def pointer_problem(pointer: str) -> str:
    if pointer and not pointer.startswith("/"):
        return f"'{pointer[:60]}' is not a JSON Pointer; it starts with '/', like /spec/template"
    rest = pointer.replace("~0", "").replace("~1", "")
    if "~" in rest:
        return f"'{pointer[:60]}' has a '~' that is not ~0 or ~1; write '~' as ~0 and '/' in a key as ~1"
    return ""


def _tokens(pointer: str) -> tuple[str, ...]:
    if not pointer:
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def _pointer(tokens: tuple) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens) or "(the whole object)"


def _owned(tokens: tuple) -> bool:
    """Whether this location is the application's: a protected field or inside one, an own label, an engine key."""
    if any(tokens[:len(p)] == p for p in PROTECTED):
        return True
    key, parent = (tokens[-1], tokens[-2]) if len(tokens) >= 2 else ("", "")
    return (parent == "labels" and key.startswith(OWN_LABELS) or
            parent == "annotations" and key.split("/")[0].endswith("pulumi.com"))


def _nodes(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in ``value`` (relative, under ``prefix``)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, prefix + (str(k),))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, prefix + (str(i),))
    return out


def _reaches_owned(doc: Any, tokens: tuple) -> bool:
    """Whether changing (or reading) ``tokens`` changes what the application owns: at it, in it or around it."""
    if _owned(tokens) or any(p[:len(tokens)] == tokens for p in PROTECTED):
        return True
    try:
        here = _get(doc, tokens, -1, "path")
    except PatchError:
        return False
    return any(_owned(tokens + sub) for sub in _nodes(here))


def _index(container: list, token: str, i: int, field: str, pointer: tuple, end: bool = False) -> int:
    if token == "-" and end:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(i, field, f"'{token}' in {_pointer(pointer)} is not an index of a list",
                         "write an index: 0, 1, ... (or '-' to add at the end)")
    n = int(token)
    if n > len(container) or (n == len(container) and not end):
        raise PatchError(i, field, f"index {n} in {_pointer(pointer)} is past the end of a list of "
                                   f"{len(container)}", f"use an index from 0 to {len(container) - (0 if end else 1)}")
    return n


def _get(doc: Any, tokens: tuple, i: int, field: str) -> Any:
    here = doc
    for depth, token in enumerate(tokens):
        at = tokens[:depth + 1]
        if isinstance(here, dict):
            if token not in here:
                raise PatchError(i, field, f"{_pointer(at)} does not exist in the workload object",
                                 f"the keys there: {', '.join(sorted(map(str, here))) or 'none'}")
            here = here[token]
        elif isinstance(here, list):
            here = here[_index(here, token, i, field, at)]
        else:
            raise PatchError(i, field, f"{_pointer(tokens[:depth])} holds {type(here).__name__} {here!r:.40}, "
                                       f"not a mapping or a list", "point into a mapping or a list")
    return here


def _add(doc: Any, tokens: tuple, value: Any, i: int) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1], i, "path")
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], i, "path", tokens, end=True), value)
    else:
        raise PatchError(i, "path", f"{_pointer(tokens[:-1])} holds {type(parent).__name__}, not a mapping or a "
                                    "list", "point into a mapping or a list")
    return doc


def _remove(doc: Any, tokens: tuple, i: int, field: str) -> Any:
    _get(doc, tokens, i, field)  # it exists
    parent = _get(doc, tokens[:-1], i, field)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[int(tokens[-1])]
    return doc


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_OWNED_HINT = "replicas come from scaler or rollout, names, selectors and app.oam.dev/ labels from the component"


def apply_operations(doc: Any, operations: list[Operation]) -> Any:
    """``doc`` patched (a copy); raises PatchError at the first operation that cannot apply or that would
    change (or read, for test) what the application owns."""
    doc = copy.deepcopy(doc)
    for i, o in enumerate(operations):
        path, source = _tokens(o.path), _tokens(o.from_ or "")
        if _reaches_owned(doc, path):
            what = "tests" if o.op == "test" else "changes"
            why = " (its value differs from stage to stage)" if o.op == "test" else ""
            raise PatchError(i, "path", f"{o.path or '(the whole object)'} {what} a field the application sets{why}",
                             "patch other fields; " + _OWNED_HINT)
        if o.op == "move" and _reaches_owned(doc, source):
            raise PatchError(i, "from", f"{o.from_} moves a field the application sets out of its place",
                             "copy it instead, or patch other fields")
        if o.op in ("add", "replace", "move", "copy"):
            value = copy.deepcopy(o.value if o.op in ("add", "replace") else _get(doc, source, i, "from"))
            owned = [sub for sub in _nodes(value, path) if _owned(sub)]
            if owned:
                raise PatchError(i, "value" if o.op in ("add", "replace") else "path",
                                 f"would set {_pointer(owned[0])}, a field the application sets",
                                 "patch other fields; " + _OWNED_HINT)
        if o.op == "test":
            found = _get(doc, path, i, "path")
            if not _equal(found, o.value):
                raise PatchError(i, "value", f"test failed: {o.path} is {found!r:.60}, not {o.value!r:.60}",
                                 "test for the value the workload object has, or remove the test")
        elif o.op == "add":
            doc = _add(doc, path, value, i)
        elif o.op == "remove":
            doc = _remove(doc, path, i, "path")
        elif o.op == "replace":
            _get(doc, path, i, "path")  # it exists
            if not path:
                doc = value
            elif isinstance(parent := _get(doc, path[:-1], i, "path"), dict):
                parent[path[-1]] = value  # in place: the key keeps its position
            else:
                parent[int(path[-1])] = value
        elif o.op == "move":
            if source != path:
                doc = _add(_remove(doc, source, i, "from"), path, value, i)
        else:  # copy
            doc = _add(doc, path, value, i)
    return doc


@TRAITS.register
class JsonPatch(TraitType):
    """Patch the component's Deployment with RFC 6902 operations (not its names, selector, replicas or own labels)."""

    name = "json-patch"
    Properties = JsonPatchProperties

    def check(self, trait, app, comp):
        # Tried on the object the file's revision renders, so an operation that cannot apply is refused
        # here, with its line, before anything is applied.
        doc = trial_workload(app, comp, trait)
        if doc is None:
            return []
        try:
            apply_operations(doc, trait.properties.operations)
        except PatchError as err:
            return [app.locator.problem(trait.path + ("properties", "operations", err.index, err.field),
                                        err.message, err.hint)]
        return []

    def patch_workload(self, p: JsonPatchProperties, manifest: dict, ctx: ComponentContext) -> None:
        try:
            patched = apply_operations(manifest, p.operations)
        except PatchError as err:
            # Checked on the file's own revision; this is another placement's override, or an older
            # revision's patch on today's object.
            raise ApplicationError([Problem(
                f"application {ctx.app}", None,
                f"component {ctx.component}: json-patch operations[{err.index}].{err.field}",
                f"{err.message} in {manifest['kind']} {manifest['metadata'].get('name')}", err.hint)]) from None
        manifest.clear()
        manifest.update(patched)
