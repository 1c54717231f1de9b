"""The import graph: definitions import the kit, never the core that calls them, and no module imports itself back.

Every import statement counts, wherever it is: at module level, inside a function, and under
``TYPE_CHECKING``; a cycle of annotations is a cycle in the picture a reader draws.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OAM = ROOT / "oam"
DEFINITIONS = ("oam.components", "oam.traits", "oam.steps", "oam.policies")
# What a definition may import of oam (oam.registry's docstring says so).
DEFINITION_MAY_IMPORT = ("oam.kit", "oam.errors", "oam.registry", *DEFINITIONS)
# The kit orchestrates nothing: it stands on the registry and on plain data (errors, YAML positions, revisions).
KIT_MAY_IMPORT = ("oam.kit", "oam.errors", "oam.loader", "oam.registry", "oam.revisions")
THIRD_PARTY_FOR_DEFINITIONS = {"pydantic", "pydantic_core"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(OAM.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement of module ``name``: an oam module by its full name (a
    name imported from a package that is a module of its own counts as that module), any other by its top name."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in MODULES else base, node.lineno))
    return out


def _within(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def _in_package(name: str, packages: tuple[str, ...]) -> bool:
    return any(name.startswith(p + ".") for p in packages)


def test_definitions_import_only_the_kit_the_registry_and_other_definitions():
    wrong = []
    for name, path in MODULES.items():
        if not _in_package(name, DEFINITIONS):
            continue
        for module, line in _imports(name):
            top = module.split(".")[0]
            if top == "oam" and not _within(module, DEFINITION_MAY_IMPORT):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
            elif top not in ("oam", "__future__") and top not in sys.stdlib_module_names \
                    and top not in THIRD_PARTY_FOR_DEFINITIONS:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_kit_imports_nothing_that_orchestrates():
    wrong = [f"{path.relative_to(ROOT)}:{line}: imports {module}"
             for name, path in MODULES.items() if _within(name, ("oam.kit",))
             for module, line in _imports(name)
             if module.split(".")[0] == "oam" and not _within(module, KIT_MAY_IMPORT)]
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, list[str]]) -> list[str]:
    """Each cycle a depth-first walk of ``graph`` (module -> the modules it imports) closes, as a -> b -> a."""
    found = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    trail: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        trail.append(name)
        for other in graph[name]:
            if state.get(other) == 1:
                found.append(" -> ".join(trail[trail.index(other):] + [other]))
            elif other not in state:
                visit(other)
        trail.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name)
    return found


def test_no_module_of_oam_imports_itself_back():
    graph = {name: sorted({m for m, _ in _imports(name) if m in MODULES and m != name}) for name in MODULES}
    found = cycles(graph)
    assert not found, "\n".join(found)


def test_the_checks_see_what_they_must():
    """A parser that saw nothing would pass every check above: it reads every definition, the imports inside
    functions and under TYPE_CHECKING, and the walk finds a cycle where there is one."""
    assert sum(_in_package(name, DEFINITIONS) for name in MODULES) > 80
    assert "oam.registry" in dict(_imports("oam.traits.scaler"))
    assert "oam.kit.stage" in dict(_imports("oam.registry"))  # under TYPE_CHECKING
    assert "oam.model" in dict(_imports("oam.advance"))  # inside a function
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == ["a -> b -> c -> a"]
