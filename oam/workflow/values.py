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


# --- if: a step's condition ----------------------------------------------------------------------------------

_COND_TOKEN = re.compile(r"""\s*(?:
    (?P<op>==|!=|<=|>=|&&|\|\||[<>!()])
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[.\[\]])
)""", re.VERBOSE)

CONDITION = ('"always", or comparisons (==, !=, <, >, <=, >=) of paths (inputs.name, status.step.succeeded, '
             'context.name), strings, numbers and true/false, joined with &&, || and !')


@dataclass(frozen=True)
class Condition:
    """A step's ``if``: a tree of ("or"|"and", a, b), ("not", a), ("cmp", op, a, b), ("value", Path|literal)."""

    text: str
    tree: Any

    @property
    def always(self) -> bool:
        return self.tree == ("always",)

    def paths(self) -> list[Path]:
        out: list[Path] = []

        def walk(node):
            if node[0] == "value":
                if isinstance(node[1], Path):
                    out.append(node[1])
            else:
                for part in node[1:]:
                    if isinstance(part, tuple):
                        walk(part)
        walk(self.tree)
        return out


def parse_condition(text: str) -> Condition:
    """``if`` read; ValueError saying what is not taken."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty")
    if text.strip() == "always":
        return Condition("always", ("always",))
    tokens: list[tuple[str, str]] = []
    at, source = 0, text.strip()
    while at < len(source):
        match = _COND_TOKEN.match(source, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read '{source[at:at + 20]}'")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        at = match.end()
    pos = 0

    def peek() -> tuple[str, str]:
        return tokens[pos] if pos < len(tokens) else ("end", "")

    def take() -> tuple[str, str]:
        nonlocal pos
        token = peek()
        pos += 1
        return token

    def either():
        node = both()
        while peek() == ("op", "||"):
            take()
            node = ("or", node, both())
        return node

    def both():
        node = unary()
        while peek() == ("op", "&&"):
            take()
            node = ("and", node, unary())
        return node

    def unary():
        if pos > 0 and len(tokens) > 200:
            raise ValueError("is too long for a condition")
        if peek() == ("op", "!"):
            take()
            return ("not", unary())
        left = atom()
        if peek()[0] == "op" and peek()[1] in ("==", "!=", "<", ">", "<=", ">="):
            op = take()[1]
            return ("cmp", op, left, atom())
        return left

    def atom():
        nonlocal pos
        kind, value = peek()
        if (kind, value) == ("op", "("):
            take()
            node = either()
            if take() != ("op", ")"):
                raise ValueError("a '(' is not closed")
            return node
        if kind == "name":
            if value in ("true", "false"):
                take()
                return ("value", value == "true")
            path, pos = _path(tokens, pos, source)
            return ("value", path)
        if kind in ("string", "number"):
            take()
            return ("value", json.loads(value))
        raise ValueError(f"unexpected '{value}'" if value else "ends too soon")

    tree = either()
    if pos != len(tokens):
        raise ValueError(f"unexpected '{tokens[pos][1]}'")
    return Condition(source, tree)


def holds(condition: Condition, scope: dict[str, Any]) -> bool:
    """Whether the condition holds; Missing when a path leads to nothing."""
    def value(node):
        kind = node[0]
        if kind == "value":
            return lookup(node[1], scope) if isinstance(node[1], Path) else node[1]
        if kind == "not":
            return not truth(node[1])
        if kind == "and":
            return truth(node[1]) and truth(node[2])
        if kind == "or":
            return truth(node[1]) or truth(node[2])
        op, a, b = node[1], value(node[2]), value(node[3])
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        if not numbers and not (isinstance(a, str) and isinstance(b, str)):
            raise ValueError(f"{op} compares two numbers or two strings, not {type(a).__name__} and "
                             f"{type(b).__name__}")
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]

    def truth(node) -> bool:
        result = value(node)
        if not isinstance(result, bool):
            raise ValueError(f"'{result}' is not true or false")
        return result

    return True if condition.always else truth(condition.tree)
