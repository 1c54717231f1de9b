"""Reading an Application file: bounded, never a traceback, merge keys and a trailing '---' accepted."""
from __future__ import annotations

import pytest

from oam.errors import ApplicationError
from oam.model import read_application
from oam.loader import MAX_DEPTH, parse_yaml
from tests.harness import ROOT, run_stage

FIRST = (ROOT / "examples" / "bookinfo" / "first-deploy.yaml").read_text(encoding="utf-8")


def problem(text: str) -> str:
    with pytest.raises(ApplicationError) as err:
        parse_yaml(text, "app.yaml")
    message = str(err.value)
    assert "Traceback" not in message and len(message) < 600, message
    return message


def test_a_recursive_alias():
    assert problem("a: &a {x: *a}\n") == ("app.yaml:1: yaml: an alias refers to the mapping or list that contains it; "
                                          "an alias (*name) must name an anchor (&name) outside itself")


def test_deep_nesting():
    assert f"nests mappings or lists more than {MAX_DEPTH} levels deep" in problem("a: " + "[" * 1000 + "]" * 1000 + "\n")
    assert f"more than {MAX_DEPTH} levels" in problem("".join(f"{' ' * (2 * i)}k{i}:\n" for i in range(100)) + " " * 200 + "x: 1\n")


def test_an_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    said = problem("\n".join(lines) + "\n")
    # Named at the key whose value the expansion fills past the bound (a4, line 5), not at an anchor it copies.
    assert said.startswith("app.yaml:5: a4: holds more than 100000 values once its aliases are expanded"), said


@pytest.mark.parametrize("text, line, hint", [
    ("a: 1\nb:\n\tc: 2\n", 3, "a tab indents this line: YAML indents with spaces only; replace the tab with "
                                "spaces"),
    ("spec:\n  components:\n    - name: a\n     type: b\n", 4,
     "'type' is indented 5 spaces, but the key on line 3 starts at column 6: keys of one mapping line up; indent "
     "it 6 spaces, or end line 3 with ':' if 'type' belongs under it"),
    ("metadata:\n  name: x\n   namespace: y\n", 3,
     "'namespace' is indented 3 spaces, but the key on line 2 starts at column 2: keys of one mapping line up; "
     "indent it 2 spaces, or end line 2 with ':' if 'namespace' belongs under it"),
    ("metadata:\n  name: x\n namespace: y\n", 3,
     "'namespace' is indented 1 space, where no key above it starts: indent it as the keys of its mapping, 0 or 2 "
     "spaces"),
    ("kind: 'Application\nmetadata:\n  name: x\n", 1,
     "the quote that opens on this line is not closed: close it, or remove it"),
])
def test_a_file_that_does_not_parse_gets_a_hint_at_the_line_to_fix(text, line, hint):
    said = problem(text)
    assert said.startswith(f"app.yaml:{line}: yaml: does not parse: ") and said.endswith(f"; {hint}"), said


def test_a_complex_key():
    assert problem("? [a, b]\n: c\n") == ("app.yaml:1: yaml: a key is a mapping or a list ('? ...'): keys are names; "
                                          "write the key as a plain name")


def test_a_nul_byte_and_binary_junk():
    assert problem("a: 1\nb: \x00\n").startswith("app.yaml:2: yaml: holds a NUL byte")
    assert "does not parse" in problem("a: 1\nb: \x07\x1b\n")


def test_size_limit():
    assert "larger than 1024 KiB" in problem("a: '" + "x" * (2 << 20) + "'\n")


def test_duplicate_keys_and_undefined_aliases_get_their_own_hints():
    assert problem("a: 1\nb: 2\na: 3\n") == "app.yaml:3: yaml: duplicate key 'a'; line 1 has it already; keep one"
    message = problem("a: *nowhere\n")
    assert "undefined alias" in message and "define the anchor" in message and "indentation" not in message


def test_long_values_are_cut_in_messages(tmp_path):
    app = tmp_path / "long.yaml"
    app.write_text(FIRST.replace("kind: Application", "kind: " + "K" * 500_000, 1))
    run = run_stage({"app": str(app)})
    assert run.resources == {} and len(run.error) < 1000, len(run.error)
    assert "kind: must be 'Application' (got 'KKKK" in run.error and "...'" in run.error


def test_merge_keys_and_a_trailing_document_marker(tmp_path):
    text = FIRST.replace("        port: 9080\n", "        <<: *port\n", 1).replace(
        "spec:\n", "x-defaults: &port\n  port: 9080\nspec:\n", 1)
    data, _ = parse_yaml(text + "---\n", "app.yaml")
    assert data["spec"]["components"][0]["properties"]["port"] == 9080
    # Keys written next to '<<' win over the merged ones.
    data, _ = parse_yaml("d: &d {a: 1, b: 2}\ne:\n  <<: *d\n  b: 3\n", "x.yaml")
    assert data["e"] == {"a": 1, "b": 3}
    clean = FIRST + "---\n"
    app = tmp_path / "trailing.yaml"
    app.write_text(clean)
    assert run_stage({"app": str(app)}).error is None


def test_app_is_read_inside_the_project_unless_named_explicitly(tmp_path):
    run = run_stage({"app": "../../etc/passwd"})
    assert run.resources == {}
    assert "oam-delivery:app: '../../etc/passwd' leads out of the project" in run.error
    elsewhere = tmp_path / "passwd"
    elsewhere.write_text("root:x:0:0:root:/root:/bin/bash\n" * 50)
    run = run_stage({"app": str(elsewhere)})  # explicit: read, but only ever as an Application
    assert run.resources == {} and len(run.error) < 400
    assert "must be a mapping with apiVersion, kind, metadata and spec (an OAM Application)" in run.error
    assert "check that the config key app names an Application file" in run.error


def test_a_file_that_is_not_utf8(tmp_path):
    app = tmp_path / "latin1.yaml"
    app.write_bytes(FIRST.replace("name: book-info", "name: caf\xe9").encode("latin-1"))
    run = run_stage({"app": str(app)})
    line = FIRST.split("name: book-info")[0].count("\n") + 1
    assert f"latin1.yaml:{line}: yaml: is not UTF-8 text (byte 0xe9)" in run.error


def test_hints_that_fit_the_value(tmp_path):
    shop = (ROOT / "examples" / "shop" / "v1.yaml").read_text()
    app = tmp_path / "cmd.yaml"
    app.write_text(shop.replace('cmd: ["/bin/mailer"]', 'cmd: "/bin/mailer --queue orders"'))
    run = run_stage({"app": str(app)})
    assert 'properties.cmd: must be a list (got \'/bin/mailer --queue orders\'); ' \
           'write it as a list: ["/bin/mailer", "--queue", "orders"]' in run.error
    rollout = (ROOT / "examples" / "bookinfo" / "rollout-v2.yaml").read_text()
    app.write_text(rollout.replace("weight: 10", 'weight: "10"', 1))
    run = run_stage({"app": str(app)})
    assert "must be an integer from 0 to 100 (got '10')" in run.error


def test_a_record_this_version_cannot_read_fails_with_a_message_and_changes_nothing():
    from tests.harness import StageRun, run_stage

    newer = StageRun(outputs={"oamState": '{"version": 99}'})
    run = run_stage({"app": "examples/bookinfo/first-deploy.yaml"}, newer)
    assert run.error is not None and "cannot be read" in run.error and "Nothing was changed" in run.error
    assert "Traceback" not in run.error
    assert not run.resources


NULLS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: nulls
spec:
  components:
    - name: web
      type: webservice
      dependsOn: null
      properties:
        image: registry.example.com/web:1
      traits: null
    - name: settings
      type: k8s-objects
      traits:
        - type: labels
          properties: null
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
  policies: null
"""


def test_a_list_or_mapping_written_null_is_none_given_as_kubevela_reads_it(tmp_path):
    (tmp_path / "nulls.yaml").write_text(NULLS)
    app = read_application(tmp_path / "nulls.yaml", "nulls.yaml")
    web, settings = app.components
    assert (web.traits, web.depends_on, app.policies) == ((), (), ())
    assert settings.traits[0].type == "labels"
    run = run_stage({"app": str(tmp_path / "nulls.yaml")})
    assert run.error is None, run.error
    assert {r.name for r in run.resources.values()} >= {"nulls-web-deployment", "nulls-settings-configmap-settings"}


def test_an_application_without_components_or_steps_is_refused_and_a_workflow_ref_too(tmp_path):
    empty = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: addon\nspec:\n  components: {}\n"
    for components in ("null", "[]"):
        (tmp_path / "empty.yaml").write_text(empty.format(components))
        run = run_stage({"app": str(tmp_path / "empty.yaml")})
        assert run.resources == {}, "nothing is registered: on a stack with a release, that would delete it all"
        assert run.error.startswith(f"{tmp_path / 'empty.yaml'}:6: spec.components: the application has no "
                                    "components: it deploys nothing"), run.error
        assert run.error.endswith("to remove the application, run pulumi destroy"), run.error
    (tmp_path / "nospec.yaml").write_text(empty.replace("  components: {}\n", "  policies: []\n"))
    with pytest.raises(ApplicationError, match="the application has no components"):
        read_application(tmp_path / "nospec.yaml", "nospec.yaml")
    (tmp_path / "ref.yaml").write_text(empty.format("[]") + "  workflow:\n    ref: release-in-hangzhou\n")
    with pytest.raises(ApplicationError) as err:
        read_application(tmp_path / "ref.yaml", "ref.yaml")
    [problem] = err.value.problems
    assert (problem.line, problem.path) == (8, "spec.workflow.ref")
    assert "an object kept in the cluster" in problem.message and "write that workflow's steps" in problem.hint
