"""A trait's patch applied to the workload as KubeVela applies it, with the strategies its comments name. Pure.

The patch is merged into the object: maps key by key, anything else replaces what is there.
A field of the patch may carry, in a comment above it in the definition's CUE:

* ``+patchKey=K``: a list whose items are matched by their field K: an item of the patch
  merges into the item with the same K, and one with a K the list lacks is appended;
* ``+patchStrategy=replace``: the field's value replaces the object's, whole;
* ``+patchStrategy=retainKeys``: a map keeps only the keys the patch gives, merged;
* ``+patchStrategy=jsonMergePatch``: the field's value is a JSON merge patch (RFC 7396) of
  the object's (null deletes a key);
* ``+patchStrategy=jsonPatch``: the field's value holds ``operations``, a JSON patch (RFC
  6902) of the object's value there.

A list without a key is replaced, as Kubernetes' strategic merge replaces a list without a
merge key.
"""
from __future__ import annotations

import copy
from typing import Any

Directives = dict[tuple[str, ...], dict[str, str]]  # field path (list indices left out) -> patchKey / patchStrategy


def directives(found: list[dict[str, Any]]) -> Directives:
    """The evaluator's list of annotated fields, by their path without list indices."""
    out: Directives = {}
    for d in found:
        path = tuple(str(p) for p in d.get("path", []) if not isinstance(p, int))
        entry = out.setdefault(path, {})
        for key in ("patchKey", "patchStrategy"):
            if d.get(key):
                entry[key] = d[key]
    return out


class PatchError(ValueError):
    """A patch that cannot be applied: what the strategy needs is not there."""


def apply_patch(target: Any, patch: Any, found: Directives, path: tuple[str, ...] = ()) -> Any:
    """``target`` with ``patch`` applied; ``found``: the strategies by field path (``()``: the patch itself)."""
    rule = found.get(path, {})
    strategy = rule.get("patchStrategy", "")
    if strategy == "replace":
        return copy.deepcopy(patch)
    if strategy == "jsonMergePatch":
        return merge_patch(target, patch)
    if strategy == "jsonPatch":
        operations = patch.get("operations") if isinstance(patch, dict) else None
        if not isinstance(operations, list):
            raise PatchError(f"{'.'.join(path) or 'patch'}: a jsonPatch strategy needs a list of operations")
        return json_patch(target, operations)
    if isinstance(patch, dict):
        base = target if isinstance(target, dict) else {}
        if strategy == "retainKeys":
            base = {k: v for k, v in base.items() if k in patch}
        out = dict(base)
        for key, value in patch.items():
            out[key] = apply_patch(base.get(key), value, found, path + (str(key),))
        return out
    if isinstance(patch, list) and rule.get("patchKey") and isinstance(target, list):
        key = rule["patchKey"]
        out = list(target)
        for item in patch:
            at = next((i for i, have in enumerate(out) if isinstance(have, dict) and isinstance(item, dict)
                       and key in item and have.get(key) == item.get(key)), None)
            if at is None:
                out.append(apply_patch(None, item, found, path))
            else:
                out[at] = apply_patch(out[at], item, found, path)
        return out
    if isinstance(patch, list):
        return [apply_patch(None, item, found, path) for item in patch]
    return copy.deepcopy(patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: mappings merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: Any, operations: list[Any]) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    doc = copy.deepcopy(target)
    for n, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(f"operations[{n}]: op must be add, remove, replace, move, copy or test")
        kind, where = op["op"], _pointer(op.get("path"), n)
        if kind in ("move", "copy"):
            value = _get(doc, _pointer(op.get("from"), n), n)
            if kind == "move":
                doc = _remove(doc, _pointer(op.get("from"), n), n)
            doc = _add(doc, where, copy.deepcopy(value), n)
        elif kind == "test":
            if _get(doc, where, n) != op.get("value"):
                raise PatchError(f"operations[{n}]: test of {op.get('path')} failed")
        elif kind == "remove":
            doc = _remove(doc, where, n)
        elif kind == "replace":
            _get(doc, where, n)
            doc = _remove(doc, where, n)
            doc = _add(doc, where, copy.deepcopy(op.get("value")), n)
        else:
            doc = _add(doc, where, copy.deepcopy(op.get("value")), n)
    return doc


def _pointer(text: Any, n: int) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"operations[{n}]: path must be a JSON pointer such as /spec/replicas")
    return [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]] if text else []


def _index(container: list, part: str, n: int, adding: bool = False) -> int:
    if adding and part == "-":
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if adding else 1):
        raise PatchError(f"operations[{n}]: no item {part} in a list of {len(container)}")
    return int(part)


def _get(doc: Any, parts: list[str], n: int) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, n)]
        else:
            raise PatchError(f"operations[{n}]: /{'/'.join(parts)} is not there")
    return doc


def _add(doc: Any, parts: list[str], value: Any, n: int) -> Any:
    if not parts:
        return value
    parent = _get(doc, parts[:-1], n)
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], n, adding=True), value)
    else:
        raise PatchError(f"operations[{n}]: /{'/'.join(parts[:-1])} holds no map or list")
    return doc


def _remove(doc: Any, parts: list[str], n: int) -> Any:
    if not parts:
        return None
    parent = _get(doc, parts[:-1], n)
    if isinstance(parent, dict) and parts[-1] in parent:
        del parent[parts[-1]]
    elif isinstance(parent, list):
        del parent[_index(parent, parts[-1], n)]
    else:
        raise PatchError(f"operations[{n}]: /{'/'.join(parts)} is not there")
    return doc
