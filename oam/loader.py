"""YAML -> Application model, keeping the line of every key so errors can point at it.

Validation runs in two steps, as a registry-driven format should: the strict envelope
(:mod:`oam.model`), then each component, trait and step against its own definition.
All problems of a file are collected before anything is raised.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import BaseModel, ValidationError

from oam.errors import ApplicationError, Problem

PathKey = tuple  # ("spec", "components", 0, "name")


def format_path(parts: Iterable[Any]) -> str:
    """("spec", "components", 0, "name") -> "spec.components[0].name"."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass
class Locator:
    """Maps a key path in one YAML file to its line."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: Iterable[Any]) -> Optional[int]:
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

    def problem(self, path: Iterable[Any], message: str, hint: str = "") -> Problem:
        parts = tuple(path)
        return Problem(self.file, self.line(parts), format_path(parts), message, hint)


def closest(name: str, known: Iterable[str]) -> str:
    """A hint naming the known values and the nearest one to ``name``."""
    known = sorted(known)
    near = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    listed = ", ".join(known) if known else "none"
    return (f"did you mean '{near[0]}'? known: {listed}" if near else f"known: {listed}")


def parse_yaml(text: str, file: str) -> tuple[Any, Locator]:
    """Parse one YAML document; return the data and a locator of its keys."""
    locator = Locator(file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ApplicationError([Problem(file, 1, "(document)", "the file is empty",
                                            "write an OAM Application (apiVersion, kind, metadata, spec)")])
        data = _walk(loader, node, (), locator)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = err.problem or str(err)
        context = f" ({err.context})" if err.context else ""
        raise ApplicationError([Problem(file, line, "yaml", f"does not parse: {what}{context}",
                                        "check the indentation and the ':' of this line and the one before")]) from None
    finally:
        loader.dispose()
    return data, locator


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, locator: Locator) -> Any:
    locator.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise yaml.MarkedYAMLError(problem=f"duplicate key '{key}'", problem_mark=key_node.start_mark)
            locator.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _walk(loader, value_node, path + (key,), locator)
            locator.lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, path + (i,), locator) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer (got {input!r})",
    "int_from_float": "must be an integer (got {input!r})",
    "string_type": "must be a string (got {input!r})",
    "bool_type": "must be true or false (got {input!r})",
    "list_type": "must be a list (got {input!r})",
    "dict_type": "must be a mapping (got {input!r})",
    "model_type": "must be a mapping (got {input!r})",
    "model_attributes_type": "must be a mapping (got {input!r})",
    "too_short": "must not be empty",
}


def pydantic_problems(err: ValidationError, locator: Locator, prefix: PathKey,
                      model: Optional[type[BaseModel]] = None) -> list[Problem]:
    """Turn a pydantic error into our problems, with lines and hints."""
    problems = []
    for item in err.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = item["type"]
        path = prefix + loc
        hint = ""
        if kind == "extra_forbidden":
            known = _known_fields(model, loc[:-1]) if model else []
            message = "unknown property"
            hint = closest(str(loc[-1]), known)
        elif kind == "literal_error":
            message = f"must be {item['ctx']['expected']} (got {item['input']!r})"
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                    "less_than": "<"}[kind]
            bound = next(iter(item["ctx"].values()))
            message = f"must be {sign} {bound} (got {item['input']!r})"
        elif kind in _MESSAGES:
            message = _MESSAGES[kind].format(input=item.get("input"))
            if kind == "list_type" and not isinstance(item.get("input"), (list, dict)):
                hint = f"write it as a list: [{item.get('input')}]"
            if kind == "missing":
                hint = f"add '{loc[-1]}'" if loc else ""
        else:
            message = item["msg"][0].lower() + item["msg"][1:]
            if "input" in item and kind != "value_error" and "(got " not in message:
                message += f" (got {item['input']!r})"
            if kind == "value_error" and message.startswith("value error, "):
                message = message[len("value error, "):]
        if "; " in message:
            message, hint = message.split("; ", 1)
        problems.append(locator.problem(path, message, hint))
    return problems


def _known_fields(model: type[BaseModel], loc: PathKey) -> list[str]:
    """Field names (by alias) of the model found at loc below ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        match = next((f for n, f in fields.items() if (f.alias or n) == part or n == part), None)
        if match is None:
            return []
        current = _model_in(match.annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]


def _model_in(annotation: Any) -> Optional[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def read_application(path: Path, display: Optional[str] = None):
    """Read, parse and validate an application file; raise ApplicationError with every problem."""
    from oam.model import validate_application  # late: model imports the registries

    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApplicationError([Problem(display, None, "app", "file not found",
                                        "set the config key 'app' to an existing file, relative to the project")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ApplicationError([Problem(display, None, "app", f"cannot be read ({err})")]) from None
    data, locator = parse_yaml(text, display)
    return validate_application(data, locator)
