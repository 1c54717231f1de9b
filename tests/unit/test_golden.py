"""Golden manifests of every example at every stage.

Regenerate on purpose only: ``OAM_UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py``;
CI never sets it, so a changed manifest fails until a person has looked at the diff.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from oam.config import StageConfig
from oam.kit.applied import Applied
from oam.model import read_application
from oam.render import plan
from oam.revisions import History
from tests.harness import ROOT

GOLDEN = ROOT / "tests" / "golden"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

# name -> the stages walked in order: (golden file, app, config, minutes since T0)
WALKS = {
    "bookinfo": [
        ("1-first-deploy", "examples/bookinfo/first-deploy.yaml", {}, 0),
        ("2-rollout-10-percent", "examples/bookinfo/rollout-v2.yaml", {}, 1),
        ("3-approved", "examples/bookinfo/rollout-v2.yaml", {"approve": ("manual-approval",)}, 2),
        ("4-rollback", "examples/bookinfo/rollback.yaml", {"approve": ("manual-approval",)}, 3),
    ],
    "shop": [
        ("1-v1", "examples/shop/v1.yaml", {}, 0),
        ("2-first-batch", "examples/shop/v2.yaml", {}, 1),
        ("3-soak", "examples/shop/v2.yaml", {"approve": ("check-first-batch",)}, 2),
        ("4-second-check", "examples/shop/v2.yaml", {"approve": ("check-first-batch",)}, 5),
        ("5-done", "examples/shop/v2.yaml", {"approve": ("check-first-batch", "check-second-batch")}, 6),
        ("6-rollback", "examples/shop/v2.yaml",
         {"approve": ("check-first-batch", "check-second-batch"), "rollback": True}, 7),
    ],
}


def render_walk(name: str) -> dict[str, str]:
    history, applied = History(), Applied()
    out = {}
    for stage, app_file, config, minutes in WALKS[name]:
        app = read_application(ROOT / app_file, app_file)
        p = plan(app, history, StageConfig(app=app_file, **config), T0 + timedelta(minutes=minutes), applied)
        history, applied = p.resolution.history, Applied.from_plan(p)
        docs = [{"key": d.key, "dependsOn": sorted(d.depends_on), "manifest": d.manifest} for d in p.objects]
        out[stage] = yaml.safe_dump_all(docs, sort_keys=True, default_flow_style=False)
    return out


@pytest.mark.parametrize("name", sorted(WALKS))
def test_golden(name: str):
    rendered = render_walk(name)
    folder = GOLDEN / name
    if os.environ.get("OAM_UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        for stage, text in rendered.items():
            (folder / f"{stage}.yaml").write_text(text)
    stored = {p.stem: p.read_text() for p in sorted(folder.glob("*.yaml"))}
    assert sorted(stored) == sorted(rendered), "stages differ; regenerate with OAM_UPDATE_GOLDEN=1"
    for stage, text in rendered.items():
        assert text == stored[stage], f"{name}/{stage}.yaml differs; regenerate with OAM_UPDATE_GOLDEN=1 and review"
