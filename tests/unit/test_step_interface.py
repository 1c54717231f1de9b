"""Step definitions act on the workflow run only through kit.run.Run, and the engine's WorkflowRun offers all of it."""
from __future__ import annotations

import ast
from pathlib import Path

from oam.config import StageConfig
from oam.kit.run import Run
from oam.model import read_application
from oam.revisions import History, Release
from oam.workflow.engine import WorkflowRun, utcnow

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = {name for name in vars(Run) if not name.startswith("_")}


def test_steps_use_only_what_the_run_declares():
    used = {}
    for path in sorted((ROOT / "oam" / "steps").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "run":
                used.setdefault(node.attr, f"{path.name}:{node.lineno}")
    assert {name: at for name, at in used.items() if name not in MEMBERS} == {}


def test_the_engines_run_offers_all_of_it():
    app = read_application(ROOT / "examples/shop/v1.yaml", "examples/shop/v1.yaml")
    run = WorkflowRun(app, StageConfig(app=""), Release(1, {}), History(), False, utcnow())
    assert sorted(name for name in MEMBERS if not hasattr(run, name)) == []
