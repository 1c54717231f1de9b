"""The values steps pass to each other: a step's ``outputs`` (``valueFrom``) and a later step's ``inputs``
(``parameterKey``).

KubeVela writes ``valueFrom`` in CUE. What is taken here is the part of CUE these expressions use:
a path into what the step gives (``output.status.conditions[0].message``, ``output.value.data["cpu"]``,
``context.name``), a quoted string, and ``+`` between them (strings joined, numbers added). Anything
else (``import``, a function call) is refused with its line: it would need CUE itself.

Pure.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Union

Key = Union[str, int]

_TOKEN = re.compile(r"""\s*(?:
    (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[.\[\]+])
)""", re.VERBOSE)


@dataclass(frozen=True)
class Path:
    root: str
    keys: tuple[Key, ...]

    def __str__(self) -> str:
        return self.root + "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if _plain(k) else f"[{json.dumps(k)}]")
                                   for k in self.keys)


@dataclass(frozen=True)
class Expression:
    """Terms joined by +: each a Path or a literal (str, int, float)."""

    text: str
    terms: tuple[Any, ...]

    @property
    def roots(self) -> set[str]:
        return {t.root for t in self.terms if isinstance(t, Path)}


def _plain(key: str) -> bool:
    return re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", key) is not None


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.strip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read '{text[at:at + 20]}'")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        at = match.end()
        while at < len(text) and text[at].isspace():
            at += 1
    return out


def _path(tokens: list[tuple[str, str]], at: int, text: str) -> tuple[Path, int]:
    root = tokens[at][1]
    keys: list[Key] = []
    at += 1
    while at < len(tokens) and tokens[at] in (("punct", "."), ("punct", "[")):
        if tokens[at][1] == ".":
            if at + 1 >= len(tokens) or tokens[at + 1][0] != "name":
                raise ValueError("a name must follow '.'")
            keys.append(tokens[at + 1][1])
            at += 2
            continue
        if at + 2 >= len(tokens) or tokens[at + 2] != ("punct", "]") or tokens[at + 1][0] not in ("string", "number"):
            raise ValueError("write an index as [0] or [\"key\"]")
        kind, value = tokens[at + 1]
        if kind == "number" and not re.fullmatch(r"\d+", value):
            raise ValueError(f"index {value} is not a whole number")
        keys.append(json.loads(value) if kind == "string" else int(value))
        at += 3
    return Path(root, tuple(keys)), at


SUPPORTED = 'a path (output.status.conditions[0].message, context.name), a "string", and + between them'


def parse(text: str) -> Expression:
    """``valueFrom`` read; ValueError saying what is not taken."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty")
    if re.search(r"(^|\n)\s*import\s", text) or "(" in text:
        raise ValueError("uses CUE functions or imports, which are not evaluated here")
    tokens = _tokens(text)
    terms: list[Any] = []
    at = 0
    while True:
        if at >= len(tokens):
            raise ValueError("ends after '+'")
        kind, value = tokens[at]
        if kind == "name":
            path, at = _path(tokens, at, text)
            terms.append(path)
        elif kind == "string":
            terms.append(json.loads(value))
            at += 1
        elif kind == "number":
            terms.append(json.loads(value))
            at += 1
        else:
            raise ValueError(f"unexpected '{value}'")
        if at == len(tokens):
            return Expression(text.strip(), tuple(terms))
        if tokens[at] != ("punct", "+"):
            raise ValueError(f"unexpected '{tokens[at][1]}'")
        at += 1


def parse_key(text: str) -> tuple[Key, ...]:
    """``parameterKey`` read: a path into the step's properties (data.serverstatus, env[0].value)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty")
    tokens = _tokens(text)
    if not tokens or tokens[0][0] != "name":
        raise ValueError("must start with a name")
    path, at = _path(tokens, 0, text)
    if at != len(tokens):
        raise ValueError(f"unexpected '{tokens[at][1]}'")
    return (path.root,) + path.keys


class Missing(LookupError):
    """A path that leads to nothing (yet): the object has no such field."""


def lookup(path: Path, scope: dict[str, Any]) -> Any:
    if path.root not in scope:
        raise Missing(f"'{path.root}' is not given here")
    value = scope[path.root]
    for i, key in enumerate(path.keys):
        if isinstance(key, int) and isinstance(value, list) and 0 <= key < len(value):
            value = value[key]
        elif isinstance(key, str) and isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise Missing(f"{Path(path.root, path.keys[:i + 1])} is not there")
    return value


def evaluate(expression: Expression, scope: dict[str, Any]) -> Any:
    """The value; Missing when a path leads to nothing, ValueError when + joins values it cannot join."""
    values = [lookup(t, scope) if isinstance(t, Path) else t for t in expression.terms]
    if len(values) == 1:
        return copy.deepcopy(values[0])
    if all(isinstance(v, str) for v in values):
        return "".join(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values)
    raise ValueError(f"+ joins strings or numbers, not {', '.join(type(v).__name__ for v in values)}")


def put(target: dict, keys: tuple[Key, ...], value: Any) -> dict:
    """A copy of ``target`` with ``value`` at ``keys`` (mappings made on the way; a list index must exist)."""
    out = copy.deepcopy(target)
    node: Any = out
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(key, int):
            if not isinstance(node, list) or not 0 <= key < len(node):
                raise ValueError(f"{_show(keys[:i + 1])}: there is no item {key} to set")
            if last:
                node[key] = value
            else:
                node = node[key]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{_show(keys[:i])} is not a mapping")
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, [] if isinstance(keys[i + 1], int) else {})
    return out


def _show(keys: tuple[Key, ...]) -> str:
    return str(Path(str(keys[0]), keys[1:])) if keys else "properties"
