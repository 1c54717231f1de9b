"""Property: any mutation of an example file is accepted or refused cleanly, never a crash or a flood.

Mutations work on the text (a line dropped, duplicated or re-indented, a value swapped for
an odd one, characters inserted) and on the parsed data (a key removed, a value replaced by
another type). Each result is either a plan, or our ApplicationError whose every problem
names the file (with a line when there is one) in a bounded message.
"""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oam.config import StageConfig
from oam.errors import OamError
from oam.loader import parse_yaml
from oam.model import validate_application
from oam.render import plan
from oam.revisions import History
from tests.harness import ROOT

FILES = ["examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml", "examples/shop/v1.yaml",
         "examples/shop/v2.yaml"]
TEXTS = {f: (ROOT / f).read_text(encoding="utf-8") for f in FILES}
ORIGINALS = {f: yaml.safe_load(t) for f, t in TEXTS.items()}  # parsed once: a mutation builds new containers
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when the wheel has it: the same YAML, faster
ODD = ["", "~", "yes", "0.5", "-1", "1e400", "[]", "{}", "&a [*a]", "*undefined", "'x' * 3", "\t", "? [a]", "<<: 1",
       "ǅ", "\u202e", "99999999999999999999", "!!python/object:os.system", "%TAG ! x", "- - -", "'unterminated"]


def check(text: str, file: str = "app.yaml") -> None:
    try:
        data, locator = parse_yaml(text, file)
        app = validate_application(data, locator)
        plan(app, History(), StageConfig(app=file), stack_known=False)
    except OamError as err:
        assert err.problems, "an error without problems"
        for p in err.problems:
            assert p.file == file
            assert len(str(p)) < 2000, f"unbounded message: {str(p)[:200]}..."
        assert len(str(err)) < 60_000


@st.composite
def text_mutation(draw, file: str) -> str:
    lines = TEXTS[file].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "indent", "dedent", "value", "insert"]))
        if kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = "  " + lines[i]
        elif kind == "dedent":
            lines[i] = lines[i][2:]
        elif kind == "value" and ":" in lines[i]:
            lines[i] = lines[i].split(":", 1)[0] + ": " + draw(st.sampled_from(ODD))
        else:
            lines.insert(i, draw(st.text(max_size=20)))
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


# 300 mutations of each kind in all, a quarter for each file: four tests, which a parallel run spreads.
PER_FILE = 300 // len(FILES)


@pytest.mark.parametrize("file", FILES)
@settings(max_examples=PER_FILE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_text_mutations(file, data):
    check(data.draw(text_mutation(file)))


def mutate(data, draw):
    if isinstance(data, dict) and data:
        key = draw(st.sampled_from(sorted(data, key=str)))
        action = draw(st.sampled_from(["drop", "replace", "deeper"]))
        if action == "drop":
            return {k: v for k, v in data.items() if k != key}
        if action == "replace":
            return {**data, key: draw(st.sampled_from([None, 0, -1, 1.5, True, "x", [], {}, [1], {"a": 1}, "∞" * 3]))}
        return {**data, key: mutate(data[key], draw)}
    if isinstance(data, list) and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + [mutate(data[i], draw)] + data[i + 1:]
    return draw(st.sampled_from([None, 7, "seven", [], {}]))


@pytest.mark.parametrize("file", FILES)
@settings(max_examples=PER_FILE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_data_mutations(file, data):
    mutated = ORIGINALS[file]
    for _ in range(data.draw(st.integers(1, 3))):
        mutated = mutate(mutated, data.draw)
    check(yaml.dump(mutated, Dumper=DUMPER, sort_keys=False))
