"""What the component tests do with an Application file they write: render it, read its problems, deploy it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from oam.config import StageConfig
from oam.errors import OamError
from oam.model import read_application
from oam.render import plan
from oam.revisions import History
from tests.harness import StageRun, run_stage


def objects(path: str) -> dict[str, dict]:
    """key -> manifest of the first stage, rendered without Pulumi."""
    app = read_application(Path(path), path)
    return {d.key: d.manifest for d in plan(app, History(), StageConfig(app=path)).objects}


def problems(path: str) -> str:
    with pytest.raises(OamError) as err:
        read_application(Path(path), path)
    return str(err.value)


def deploy(path: str, previous: Optional[StageRun] = None, **config) -> StageRun:
    run = run_stage({"app": path, **config}, previous)
    assert run.error is None, run.error
    return run


def line(text: str, marker: str) -> int:
    assert marker in text, marker
    return text[:text.index(marker)].count("\n") + 1
