"""`python -m oam validate | render | schema`: checks without a cluster, with the program's own messages."""
from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from oam.__main__ import main
from tests.harness import ROOT, run_stage
from tests.unit.test_bad_inputs import _cases

# Every application of examples/ that needs nothing more (a chart folder holds a chart; the users' definitions
# example is checked with its definitions in test_user_definitions).
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*.yaml")
                  if not {"charts", "user-definitions"} & set(p.relative_to(ROOT).parts))


def test_a_file_only_a_stack_can_judge_is_left_to_it(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    # Alone, rollout-v2 weighs a reviews-v2 that a new stack would not have: that is the stack's to say.
    assert main(["validate", "examples/bookinfo/rollout-v2.yaml", "examples/bookinfo/rollback.yaml"]) == 0


def test_every_example_validates(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", *EXAMPLES]) == 0
    out = capsys.readouterr().out
    assert all(f"{e}: ok" in out for e in EXAMPLES)


# What only a stack can decide: a file that weighs or rolls back to revisions a new stack does not have.
STACK_DECIDES = {"weighted-revision-on-an-empty-stack", "canary-rollback-step-on-an-empty-stack"}
FILE_ONLY = [c for c in _cases() if c.values[0].text is not None and not c.values[0].config
             and c.values[0].history is None and not c.marks and c.id not in STACK_DECIDES]


@pytest.mark.parametrize("bad", FILE_ONLY, ids=[c.id for c in FILE_ONLY])
def test_validate_refuses_what_the_program_refuses_with_the_same_messages(bad, tmp_path, capsys):
    case = bad
    path = tmp_path / case.file
    path.write_text(case.text, encoding="utf-8")
    run = run_stage({"app": str(path)})
    assert run.error and run.resources == {}
    assert main(["validate", str(path)]) == 1
    said = capsys.readouterr().err
    for line in run.error.splitlines():
        if line.startswith(str(path)):
            assert line in said, f"the program says {line!r}; validate says:\n{said}"


def test_render_a_stage_after_earlier_files(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["render", "examples/bookinfo/rollout-v2.yaml", "--after", "examples/bookinfo/first-deploy.yaml"]) == 0
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))
    golden = [d["manifest"] for d in yaml.safe_load_all((ROOT / "tests/golden/bookinfo/2-rollout-10-percent.yaml").read_text())]
    assert rendered == golden
    assert main(["render", "examples/bookinfo/rollout-v2.yaml", "--after", "examples/bookinfo/first-deploy.yaml",
                 "--approve", "manual-approval"]) == 0
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))
    golden = [d["manifest"] for d in yaml.safe_load_all((ROOT / "tests/golden/bookinfo/3-approved.yaml").read_text())]
    assert rendered == golden


def test_render_reports_problems_like_the_program(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["render", "examples/bookinfo/rollout-v2.yaml", "--stage", "3",
                 "--after", "examples/bookinfo/first-deploy.yaml"]) == 1
    assert "skips the suspend step 'manual-approval'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The schema `python -m oam schema` prints, checked as a JSON Schema; once per module (it is large)."""
    from oam.schema import application_schema

    schema = json.loads(json.dumps(application_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_command_prints_the_schema(capsys, validator):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == validator.schema


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_schema_takes_every_example(example, validator):
    errors = list(validator.iter_errors(yaml.safe_load((ROOT / example).read_text())))
    assert not errors, f"{example}: {errors[0].message}"


def test_the_schema_refuses_unknown_properties(validator):
    bad = yaml.safe_load((ROOT / "examples/bookinfo/first-deploy.yaml").read_text())
    bad["spec"]["components"][0]["traits"][1]["properties"]["targetSzie"] = 2
    assert any("targetSzie" in e.message for e in validator.iter_errors(bad))
    bad = yaml.safe_load((ROOT / "examples/bookinfo/first-deploy.yaml").read_text())
    bad["spec"]["components"][0]["type"] = "webservise"
    assert list(validator.iter_errors(bad))