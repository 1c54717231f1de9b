"""YAML -> Application model, keeping the line of every key so errors can point at it.

Validation runs in two steps, as a registry-driven format should: the strict envelope
(:mod:`oam.model`), then each component, trait and step against its own definition.
All problems of a file are collected before anything is raised.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import yaml
from pydantic import BaseModel, ValidationError

from oam.errors import ApplicationError, Problem, closest, excerpt, quoting_hint

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
    """Maps a key path in one YAML file to its line, and to the text written there when YAML read a plain scalar as
    something other than a string (``yes``, ``0x1F``, ``1.10``): what a quoting hint must quote."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)
    written: dict[PathKey, str] = field(default_factory=dict)

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


MAX_BYTES = 1 << 20  # an Application file is kilobytes; anything near a megabyte is a mistake
MAX_NODES = 100_000  # values after aliases are expanded: bounds an alias bomb
MAX_DEPTH = 64  # nesting of mappings and lists
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: 3.5x faster
PARSE_HINT = "check the indentation and the ':' of this line and the one before"


def _fail(file: str, line: Optional[int], message: str, hint: str = "") -> ApplicationError:
    return ApplicationError([Problem(file, line, "yaml", message, hint)])


def parse_yaml(text: str, file: str) -> tuple[Any, Locator]:
    """Parse one YAML document; return the data and a locator of its keys.

    Bounded: the file's size, the values after aliases are expanded and the nesting are
    limited, a recursive alias is refused, and every message quotes at most an excerpt.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _fail(file, None, f"the file is larger than {MAX_BYTES // 1024} KiB",
                    "an Application file is a few kilobytes: check that app names the right file")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _fail(file, line, "holds a NUL byte: this is not a text file", "set app to an Application YAML file")
    locator = Locator(file)
    loader = None
    try:
        try:
            loader, documents = _compose(text, LOADER)
        except (yaml.YAMLError, ValueError):
            if LOADER is yaml.SafeLoader:
                raise
            # A file that does not parse gets PyYAML's own message and line: clearer than libyaml's.
            loader, documents = _compose(text, yaml.SafeLoader)
        if not documents:
            raise ApplicationError([Problem(file, 1, "(document)", "the file is empty",
                                            "write an OAM Application (apiVersion, kind, metadata, spec)")])
        if len(documents) > 1:
            raise _fail(file, _document_start(text, documents[1].start_mark.line),
                        "holds a second YAML document: one Application per file",
                        "move the second document to a file of its own, or remove the '---' before it")
        data = _Walker(loader, locator).walk(documents[0], ())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = err.problem or str(err)
        context = f" ({err.context})" if err.context else ""
        hint = ""
        if isinstance(err, yaml.scanner.ScannerError) and "quoted scalar" in (err.context or "") and err.context_mark:
            line = err.context_mark.line + 1
            hint = "the quote that opens on this line is not closed: close it, or remove it"
        elif isinstance(err, (yaml.scanner.ScannerError, yaml.parser.ParserError)):
            line, hint = _indentation(text, line)
        if isinstance(err, yaml.composer.ComposerError) and "undefined alias" in what:
            hint = "define the anchor (&name) before the alias (*name) that uses it"
        raise _fail(file, line, f"does not parse: {what}{context}", hint) from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow (binary junk)
        line = text.count("\n", 0, err.position) + 1
        raise _fail(file, line, f"does not parse: character {err.character!r} is not allowed in YAML",
                    "set app to an Application YAML file; quote the value if the character belongs there") from None
    except RecursionError:
        raise _fail(file, None, f"nests mappings or lists more than {MAX_DEPTH} levels deep",
                    "an Application nests a few levels; check the file") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, locator


def _spaces(n: int) -> str:
    return "1 space" if n == 1 else f"{n} spaces"


def _key_column(line: str) -> int:
    """Where the key of a block line starts: after its indentation and any '- ' that open list items."""
    column = len(line) - len(line.lstrip(" "))
    while line[column:column + 2] == "- " or line[column:] == "-":
        column += 2
        column += len(line[column:]) - len(line[column:].lstrip(" "))
    return column


def _indentation(text: str, line: Optional[int]) -> tuple[Optional[int], str]:
    """The line to report a parse error at, and a hint: a tab that indents a line, or a key that does not line up
    with the key of the line above it in the same mapping; otherwise the general hint."""
    lines = text.splitlines()
    if line is None or not lines:
        return line, PARSE_HINT
    for n in range(max(line - 2, 0), min(line, len(lines))):  # the line the parser stopped at and the one before
        indent = lines[n][:len(lines[n]) - len(lines[n].lstrip(" \t"))]
        if "\t" in indent:
            return n + 1, "a tab indents this line: YAML indents with spaces only; replace the tab with spaces"
    content = [n for n in range(min(line, len(lines))) if lines[n].strip() and not lines[n].lstrip().startswith("#")]
    if len(content) >= 2:
        here, above = content[-1], content[-2]
        text_here, text_above = lines[here], lines[above]
        column, key_above = len(text_here) - len(text_here.lstrip(" ")), _key_column(text_above)
        opens = text_above.rstrip().endswith(":") or text_above.rstrip() == "-"
        if ":" in text_here and not opens and column != key_above and column > len(text_above) - len(
                text_above.lstrip(" ")):
            key = text_here.strip().split(":", 1)[0]
            return here + 1, (f"'{key}' is indented {_spaces(column)}, but the key on line {above + 1} starts at "
                              f"column {key_above}: keys of one mapping line up; indent it {_spaces(key_above)}, or "
                              f"end line {above + 1} with ':' if '{key}' belongs under it")
        columns = {_key_column(lines[n]) for n in content[:-1]}
        if ":" in text_here and column not in columns:
            key = text_here.strip().split(":", 1)[0]
            near = sorted(columns, key=lambda c: (abs(c - column), c))[:2]
            return here + 1, (f"'{key}' is indented {_spaces(column)}, where no key above it starts: indent it as the "
                              f"keys of its mapping, {' or '.join(str(c) for c in sorted(near))} spaces")
    return line, PARSE_HINT


def _compose(text: str, loader_class) -> tuple[Any, list]:
    """The loader (to build values with) and the document nodes of ``text``, empty documents left out."""
    loader = loader_class(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not (isinstance(node, yaml.ScalarNode) and node.value == "" and
                                         node.tag == "tag:yaml.org,2002:null"):
                documents.append(node)
        return loader, documents
    except BaseException:
        loader.dispose()
        raise


def _document_start(text: str, first_line: int) -> int:
    """The 1-based line of the '---' that opens the document whose first node is on ``first_line`` (0-based)."""
    lines = text.splitlines()
    for i in range(min(first_line, len(lines) - 1), -1, -1):
        if lines[i].startswith("---"):
            return i + 1
    return first_line + 1


class _Walker:
    """Builds plain data from the node tree, recording lines; bounded and merge-key aware."""

    def __init__(self, loader: yaml.SafeLoader, locator: Locator):
        self.loader, self.locator, self.count = loader, locator, 0
        self.open: set[int] = set()  # nodes being built: meeting one again is a recursive alias

    def walk(self, node: yaml.Node, path: PathKey) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:
            # Named at the field the expansion fills (its key's line), not at the anchor it copies.
            field_path = path
            while field_path and isinstance(field_path[-1], int):
                field_path = field_path[:-1]
            raise ApplicationError([self.locator.problem(
                field_path, f"holds more than {MAX_NODES} values once its aliases are expanded",
                "use fewer aliases (*name), or write the values out")])
        if len(path) > MAX_DEPTH:
            raise _fail(self.locator.file, line, f"nests mappings or lists more than {MAX_DEPTH} levels deep",
                        "an Application nests a few levels; check the file")
        self.locator.lines.setdefault(path, line)
        if isinstance(node, yaml.ScalarNode):
            if not node.style and node.tag != STR_TAG:
                self.locator.written.setdefault(path, node.value)
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.open:
            raise _fail(self.locator.file, line, "an alias refers to the mapping or list that contains it",
                        "an alias (*name) must name an anchor (&name) outside itself")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.walk(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:  # <<: *defaults (or a list of them): keys given here win
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    value = self.walk(source, path)
                    if not isinstance(value, dict):
                        raise _fail(self.locator.file, line, "'<<' must merge a mapping (an alias of one)")
                    merged = {**value, **merged}
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail(self.locator.file, line, "a key is a mapping or a list ('? ...'): keys are names",
                            "write the key as a plain name")
            key = self.loader.construct_object(key_node, deep=True)
            if key in out:
                raise _fail(self.locator.file, line, f"duplicate key {excerpt(key)}",
                            f"line {self.locator.lines[path + (key,)]} has it already; keep one")
            self.locator.lines[path + (key,)] = line
            out[key] = self.walk(value_node, path + (key,))
            self.locator.lines[path + (key,)] = line
        for key, value in merged.items():
            out.setdefault(key, value)
        return out


_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer (got {input})",
    "int_from_float": "must be an integer (got {input})",
    "string_type": "must be a string (got {input})",
    "bool_type": "must be true or false (got {input})",
    "list_type": "must be a list (got {input})",
    "dict_type": "must be a mapping (got {input})",
    "model_type": "must be a mapping (got {input})",
    "model_attributes_type": "must be a mapping (got {input})",
    "too_short": "must not be empty",
}


def _splits(value: str) -> bool:
    try:
        return len(shlex.split(value)) > 1
    except ValueError:
        return False


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
            message = f"must be {item['ctx']['expected']} (got {excerpt(item['input'])})"
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                    "less_than": "<"}[kind]
            bound = next(iter(item["ctx"].values()))
            message = f"must be {sign} {bound} (got {excerpt(item['input'])})"
        elif kind in _MESSAGES:
            message = _MESSAGES[kind].format(input=excerpt(item.get("input")))
            if kind == "list_type" and not isinstance(item.get("input"), (list, dict)):
                value = item.get("input")
                words = shlex.split(value) if isinstance(value, str) and _splits(value) else [value]
                hint = "write it as a list: [" + ", ".join(json.dumps(w) for w in words[:8]) + (
                    ", ...]" if len(words) > 8 else "]")
            if kind == "missing":
                hint = f"add '{loc[-1]}'" if loc else ""
            if kind == "string_type" and isinstance(item.get("input"), (bool, int, float)) or \
                    kind == "string_type" and item.get("input") is None:
                hint = quoting_hint(item.get("input"), locator.written.get(path))
        else:
            message = item["msg"][0].lower() + item["msg"][1:]
            if "input" in item and kind != "value_error" and "(got " not in message:
                message += f" (got {excerpt(item['input'])})"
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
