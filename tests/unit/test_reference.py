"""docs/definitions.md is the reference page the models generate, and says what each definition needs."""
from __future__ import annotations

import os

import pytest

from oam.reference import reference
from oam.registry import REGISTRIES
from tests.harness import ROOT

PAGE = ROOT / "docs" / "definitions.md"


@pytest.fixture(scope="module")
def text() -> str:
    """The reference page as the models make it (rendering every example takes seconds: once)."""
    return reference()


def test_reference_page_is_generated_from_the_models(text):
    if os.environ.get("OAM_UPDATE_REFERENCE") == "1":
        PAGE.write_text(text)
    assert PAGE.read_text() == text, "docs/definitions.md is stale: python -m oam reference > docs/definitions.md"


def test_every_definition_has_a_section_with_parameters_an_example_and_what_it_makes(text):
    sections = {s.split("\n", 1)[0]: s for s in text.split("\n### ")[1:]}
    for registry in REGISTRIES:
        for name in registry.names():
            body = sections[name]
            definition = registry.get(name)
            if definition.refused:
                assert "**Refused.**" in body and "Instead: " in body, name
                continue
            assert "```yaml" in body and "What the example makes" in body, name
            assert "| parameter |" in body or "No parameters." in body, name
            for field in definition.Properties.model_json_schema(by_alias=True).get("properties", {}):
                assert f"| `{field}` |" in body, f"{name}: parameter {field} missing"
