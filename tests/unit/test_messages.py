"""Messages that never mislead: a hint that quotes what the user wrote, a did-you-mean that names a few, the offline
commands speaking of their own flags and saying where a render stopped, a --help that ends its sentences."""
from __future__ import annotations

import pytest

from oam.__main__ import main
from oam.errors import ApplicationError, closest
from oam.loader import parse_yaml
from oam.model import read_application
from oam.registry import TRAITS
from tests.harness import ROOT

FIRST, ROLLOUT = "examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml"

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: msg
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: nginx
        port: 80
        env:
          - name: FLAG
            value: {flag}
          - name: HEX
            value: 0x1F
      traits:
        - type: labels
          properties:
            version: 1.10
"""


def problems(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    with pytest.raises(ApplicationError) as err:
        read_application(path, "app.yaml")
    return {p.path: f"{p.message}; {p.hint}" for p in err.value.problems}


@pytest.mark.parametrize("flag", ["yes", "on", "Off"])
def test_the_quoting_hint_quotes_what_was_written(tmp_path, flag):
    found = problems(tmp_path, APP.format(flag=flag))
    value = "false" if flag == "Off" else "true"
    assert found == {
        "spec.components[0].properties.env[0].value":
            f'must be a string (got {value}); YAML reads {flag} as a boolean ({value}): quote it, like "{flag}"',
        "spec.components[0].properties.env[1].value":
            'must be a string (got 31); YAML reads 0x1F as a number (31): quote it, like "0x1F"',
        "spec.components[0].traits[0].properties.version":
            'must be a string (got 1.1); YAML reads 1.10 as a number (1.1): quote it, like "1.10"',
    }
    # Following the hint gives the value that was meant.
    fixed = APP.format(flag=f'"{flag}"').replace("0x1F", '"0x1F"').replace("1.10", '"1.10"')
    data, _ = parse_yaml(fixed, "app.yaml")
    web = data["spec"]["components"][0]
    assert [e["value"] for e in web["properties"]["env"]] == [flag, "0x1F"]
    assert web["traits"][0]["properties"]["version"] == "1.10"


def test_a_value_written_as_yaml_reads_it_is_quoted_as_such(tmp_path):
    found = problems(tmp_path, APP.format(flag="true").replace("0x1F", "31").replace("1.10", "2"))
    assert found["spec.components[0].properties.env[0].value"].endswith('YAML reads true as a boolean: quote it, '
                                                                       'like "true"')
    assert found["spec.components[0].properties.env[1].value"].endswith('YAML reads 31 as a number: quote it, '
                                                                       'like "31"')


OBJECTS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: msg
spec:
  components:
    - name: raw
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: cm
              labels:
                enabled: on
                tier: "web"
"""


def test_an_object_label_gets_the_hint_at_its_own_key(tmp_path):
    assert problems(tmp_path, OBJECTS) == {"spec.components[0].properties.objects[0].metadata.labels.enabled":
                                           'must be a string (got true); YAML reads on as a boolean (true): quote '
                                           'it, like "on"'}


def test_did_you_mean_names_all_of_a_short_list_and_the_nearest_few_of_a_long_one():
    assert closest("rolback", ["rollback", "rollout", "suspend"]) == \
        "did you mean 'rollback'? known: rollback, rollout, suspend"
    names = TRAITS.names()
    assert len(names) > 30
    hint = closest("lables", names)
    assert hint.startswith("did you mean 'labels'? known: ") and hint.endswith(f" and {len(names) - 5} more")
    assert "labels" in hint.split("known: ")[1].split(" and ")[0].split(", ")
    assert len(hint) < 150, hint
    far = closest("zzz", names)
    assert far.startswith("known: ") and len(far.split(" and ")[0].split(", ")) == 5


def test_render_speaks_of_its_flags_not_the_stack_config(capsys):
    assert main(["render", ROLLOUT, "--after", FIRST, "--stage", "9"]) == 1
    err = capsys.readouterr().err
    assert err == "render: --stage: must be from 1 to 3 (got 9); --stage 3, or leave out --stage\n"
    assert main(["render", FIRST, "--stage", "2"]) == 1
    assert capsys.readouterr().err == (f"render: --stage: is 2, but {FIRST} has no workflow; leave out --stage\n")
    assert main(["render", ROLLOUT, "--after", FIRST, "--approve", "nope"]) == 1
    err = capsys.readouterr().err
    assert err == f"render: --approve: 'nope' is not a suspend step of {ROLLOUT}; known: manual-approval\n"
    assert "Pulumi" not in err and "oam-delivery:" not in err


@pytest.mark.parametrize("args, said", [
    ([], "1 of 3 steps run; stopped at step 2 'manual-approval': it needs approval; --approve manual-approval to "
         "render past it"),
    (["--stage", "1"], "1 of 3 steps run; stopped by --stage 1"),
    (["--approve", "manual-approval"], "all 3 steps run; the workflow is done"),
])
def test_render_says_where_the_stage_stopped_on_standard_error(capsys, args, said):
    assert main(["render", ROLLOUT, "--after", FIRST, *args]) == 0
    out, err = capsys.readouterr()
    assert err == f"render: {ROLLOUT}, release 2: {said}\n"
    assert out.startswith("apiVersion: ") and "render:" not in out


def test_render_keeps_non_ascii_text(tmp_path, capsys):
    text = (ROOT / FIRST).read_text(encoding="utf-8").replace(
        "      traits:\n", "      traits:\n        - type: annotations\n          properties:\n"
                          "            owner: Zoë Müller\n", 1)
    assert "Zoë" in text
    app = tmp_path / "app.yaml"
    app.write_text(text, encoding="utf-8")
    assert main(["render", str(app)]) == 0
    out, err = capsys.readouterr()
    assert "owner: Zoë Müller" in out and "\\x" not in out and "\\u" not in out
    assert err == f"render: {app}, release 1: no workflow, every component is deployed\n"


def test_help_ends_its_sentences(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert description.rstrip().endswith(".") and "(advance)" in description, description
    assert out.rstrip().endswith("tells more of each command.")
