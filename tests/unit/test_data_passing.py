"""Steps that pass values: a step's outputs (valueFrom), a later step's inputs (parameterKey).

A value read from what a step applied is read from the cluster after the update that applied it has
completed: the workflow waits at the step that takes it (the next pulumi up goes on). A value once read
is kept for the release, so later stages render the same objects.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from oam.workflow import values
from tests.harness import run_stage
from tests.unit.app_files import line, problems

HEAD = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ex
spec:
  components:
    - name: server
      type: webservice
      properties:
        image: registry.example.com/server:{tag}
        port: 8000
  workflow:
    steps:
"""

PASSING = """      - name: apply-server
        type: apply-component
        outputs:
          - name: status
            valueFrom: output.status.conditions[0].message
          - name: who
            valueFrom: context.name + "/" + context.stepName
        properties:
          component: server
      - name: export-config
        type: export2config
        inputs:
          - from: status
            parameterKey: data.serverstatus
          - from: who
            parameterKey: data.who
        properties:
          configName: server-status
          data:
            kept: as written
"""

CONFIGMAP = "ex-configmap-server-status"


def write(tmp_path: Path, steps: str = PASSING, tag: str = "1", name: str = "app.yaml") -> str:
    path = tmp_path / name
    path.write_text(HEAD.format(tag=tag) + steps)
    return str(path)


def deployment(message: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "server"},
            "status": {"observedGeneration": 3, "conditions": [{"type": "Available", "message": message}]}}


def workflow(run) -> dict:
    return run.outputs["status"]["workflowStatus"]


# --- the expressions ----------------------------------------------------------------------------------------

def test_value_from_takes_paths_strings_and_plus():
    scope = {"output": {"status": {"conditions": [{"message": "ok", "n": 2}]}, "data": {"a-b": "x"}},
             "context": {"name": "ex"}}
    assert values.evaluate(values.parse("output.status.conditions[0].message"), scope) == "ok"
    assert values.evaluate(values.parse('output.data["a-b"] + "/" + context.name'), scope) == "x/ex"
    assert values.evaluate(values.parse("output.status.conditions[0].n + 3"), scope) == 5
    with pytest.raises(values.Missing, match=r"output.status.conditions\[1\] is not there"):
        values.evaluate(values.parse("output.status.conditions[1].message"), scope)
    with pytest.raises(ValueError, match="joins strings or numbers"):
        values.evaluate(values.parse('output.status.conditions[0].n + "x"'), scope)


@pytest.mark.parametrize("text, why", [
    ('import "strconv"\nstrconv.FormatInt(output.n, 10)', "CUE functions or imports"),
    ("base64.Decode(null, output.value.data.X)", "CUE functions or imports"),
    ("output.status.", "a name must follow '.'"),
    ("output[1.5]", "not a whole number"),
    ("output.a +", "ends after '+'"),
    ("output.a output.b", "unexpected 'output'"),
])
def test_value_from_refuses_what_it_cannot_evaluate(text, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        values.parse(text)


def test_parameter_key_puts_a_value_where_it_says():
    assert values.parse_key('data["a.b"]') == ("data", "a.b")
    assert values.put({"env": [{"name": "A"}]}, values.parse_key("env[0].value"), "x") == \
        {"env": [{"name": "A", "value": "x"}]}
    assert values.put({}, ("data", "new"), "x") == {"data": {"new": "x"}}
    with pytest.raises(ValueError, match="no item 1"):
        values.put({"env": []}, ("env", 1), "x")


# --- the file check ----------------------------------------------------------------------------------------

def test_an_input_must_take_an_output_of_an_earlier_step(tmp_path):
    path = write(tmp_path, PASSING.replace("from: status", "from: stauts"))
    text = problems(path)
    assert f"{path}:{line(Path(path).read_text(), 'from: stauts')}: spec.workflow.steps[1].inputs[0].from: no " \
           "earlier step gives an output named 'stauts'; did you mean 'status'?" in text, text
    # An output of a later step is no earlier step's.
    later = write(tmp_path, PASSING.split("      - name: export-config")[1].join(["      - name: export-config", ""])
                  + PASSING.split("      - name: export-config")[0], name="later.yaml")
    assert "no earlier step gives an output named 'status'" in problems(later)


def test_inputs_and_outputs_only_where_a_step_has_them(tmp_path):
    steps = PASSING.replace("""        properties:
          component: server
""", """        inputs:
          - from: who
            parameterKey: image
        properties:
          component: server
""").replace("valueFrom: output.status.conditions[0].message", "valueFrom: outputs.service.spec")
    text = problems(write(tmp_path, steps))
    assert "spec.workflow.steps[0].inputs[0]: step type 'apply-component' takes no inputs" in text, text
    assert "spec.workflow.steps[0].outputs[0].valueFrom: a apply-component step gives no 'outputs'" not in text
    assert "spec.workflow.steps[0].outputs[0].valueFrom: step type 'apply-component' gives no 'outputs'; it " \
           "gives: context, output" in text, text


def test_an_output_of_a_component_without_one_workload_is_refused(tmp_path):
    path = write(tmp_path, PASSING)
    text = Path(path).read_text().replace("""      type: webservice
      properties:
        image: registry.example.com/server:1
        port: 8000
""", """      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
""")
    Path(path).write_text(text)
    assert "output reads the component's workload, and 'server' is a k8s-objects component, which runs the " \
           "objects written in it" in problems(path)


def test_two_outputs_of_one_name_are_refused(tmp_path):
    text = problems(write(tmp_path, PASSING.replace("- name: who", "- name: status")))
    assert "spec.workflow.steps[0].outputs[1].name: output 'status' is given by step 'apply-server' already" in text


# --- the stages --------------------------------------------------------------------------------------------

def test_a_value_read_from_what_a_step_applied_waits_for_the_update_that_applied_it(tmp_path):
    path = write(tmp_path)
    first = run_stage({"app": path}, live={("Deployment", "server"): deployment("too early")})
    assert first.error is None, first.error
    assert CONFIGMAP not in first.resources, "the step that takes the value waits"
    assert "ex-server-deployment" in first.resources or any("deployment" in k for k in first.resources)
    status = workflow(first)
    assert status["phase"] == "suspended" and status["waiting"] == "export-config (a step output)", status
    assert "takes 'status' from step 'apply-server'" in status["next"], status

    second = run_stage({"app": path}, first, live={("Deployment", "server"): deployment("available")})
    assert second.error is None, second.error
    assert second.resources[CONFIGMAP].inputs["data"] == {"kept": "as written", "serverstatus": "available",
                                                           "who": "ex/apply-server"}
    assert workflow(second)["phase"] == "succeeded"
    record = json.loads(second.state)
    assert record["values"] == {"status": ["server-v1@default", "available"],
                                "who": ["server-v1@default", "ex/apply-server"]}, "each with what it came from"
    assert record["applied"] == {"apply-server": "server-v1@default"}

    # Read once a release: what the cluster says later changes nothing.
    third = run_stage({"app": path}, second, live={("Deployment", "server"): deployment("something else")})
    assert third.resources[CONFIGMAP].inputs == second.resources[CONFIGMAP].inputs


def test_a_new_revision_is_read_again_and_the_objects_of_later_steps_stay_meanwhile(tmp_path):
    live = {("Deployment", "server"): deployment("available")}
    first = run_stage({"app": write(tmp_path)}, live=live)
    done = run_stage({"app": write(tmp_path)}, first, live=live)
    assert done.resources[CONFIGMAP].inputs["data"]["serverstatus"] == "available"
    v2 = write(tmp_path, tag="2", name="v2.yaml")
    waiting = run_stage({"app": v2}, done, live={("Deployment", "server"): deployment("progressing")})
    assert waiting.error is None, waiting.error
    assert workflow(waiting)["waiting"] == "export-config (a step output)"
    assert waiting.resources[CONFIGMAP].inputs == done.resources[CONFIGMAP].inputs, \
        "the ConfigMap stays as it was written until its step runs again"
    again = run_stage({"app": v2}, waiting, live={("Deployment", "server"): deployment("available again")})
    assert again.resources[CONFIGMAP].inputs["data"]["serverstatus"] == "available again"


def test_objects_of_a_step_the_file_has_no_more_go_once_its_workflow_is_done(tmp_path):
    live = {("Deployment", "server"): deployment("available")}
    first = run_stage({"app": write(tmp_path)}, live=live)
    done = run_stage({"app": write(tmp_path)}, first, live=live)
    hold = """      - name: apply-server
        type: apply-component
        properties:
          component: server
      - name: hold
        type: suspend
"""
    v2 = write(tmp_path, hold, tag="2", name="v2.yaml")
    held = run_stage({"app": v2}, done)
    assert CONFIGMAP in held.resources, "kept while the workflow runs"
    approved = run_stage({"app": v2, "approve": "hold"}, held)
    assert approved.error is None, approved.error
    assert CONFIGMAP not in approved.resources, "gone once the workflow that no longer writes it is done"


def test_read_object_reads_the_cluster_in_the_same_stage(tmp_path):
    path = write(tmp_path, """      - name: read
        type: read-object
        outputs:
          - name: cpu
            valueFrom: output.value.data["cpu"]
          - name: mem
            valueFrom: output.$returns.value.data.memory
        properties:
          apiVersion: v1
          kind: ConfigMap
          name: sizes
      - name: show
        type: print-message-in-status
        inputs:
          - from: cpu
            parameterKey: message
        properties:
          message: unknown
""")
    missing = run_stage({"app": path})
    assert missing.error is None and workflow(missing)["waiting"] == "show (a step output)", missing.outputs
    sizes = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sizes"},
             "data": {"cpu": "500m", "memory": "1Gi"}}
    found = run_stage({"app": path}, missing, live={("ConfigMap", "sizes"): sizes})
    assert found.error is None, found.error
    assert found.outputs["status"]["stepMessages"] == {"show": "500m"}


def test_an_input_that_does_not_fit_its_place_is_refused_at_the_step(tmp_path):
    steps = PASSING.replace("valueFrom: context.name + \"/\" + context.stepName",
                            "valueFrom: output.status.observedGeneration")
    path = write(tmp_path, steps)
    run = run_stage({"app": path}, live={("Deployment", "server"): deployment("x")})
    run = run_stage({"app": path}, run, live={("Deployment", "server"): deployment("x")})
    assert run.error is not None
    assert f"{path}:{line(Path(path).read_text(), 'inputs:')}: spec.workflow.steps[1].inputs: with its inputs put " \
           "in, the step's properties are not valid: data.who: Input should be a valid string" in run.error, run.error


def test_a_component_takes_no_inputs_and_gives_no_outputs(tmp_path):
    path = write(tmp_path, PASSING)
    text = Path(path).read_text().replace("        port: 8000\n", """        port: 8000
      inputs:
        - from: who
          parameterKey: image
      outputs:
        - name: ip
          valueFrom: output.spec.clusterIP
""", 1)
    Path(path).write_text(text)
    found = problems(path)
    assert f"{path}:{line(text, 'inputs:')}: spec.components[0].inputs: a component takes no inputs here" in found
    assert "spec.components[0].outputs: a component gives no outputs here; give them on an apply-component step" \
        in found, found


# --- if ---------------------------------------------------------------------------------------------------

CONDITIONAL = PASSING + """      - name: only-when-available
        type: print-message-in-status
        if: inputs.status == "available" && status["export-config"].succeeded
        inputs:
          - from: status
        properties:
          message: the server is available
      - name: otherwise
        type: print-message-in-status
        if: '!status["only-when-available"].succeeded || context.name != "ex"'
        properties:
          message: the server is not available
      - name: after-a-skipped-one
        type: print-message-in-status
        if: status.otherwise.skipped
        properties:
          message: shown
"""


@pytest.mark.parametrize("message, shown", [
    ("available", {"only-when-available": "the server is available", "after-a-skipped-one": "shown"}),
    ("progressing", {"otherwise": "the server is not available"}),
])
def test_a_step_runs_only_when_its_if_holds(tmp_path, message, shown):
    path = write(tmp_path, CONDITIONAL)
    live = {("Deployment", "server"): deployment(message)}
    first = run_stage({"app": path}, live=live)
    assert "stepMessages" not in first.outputs["status"], "everything after the wait waits too"
    second = run_stage({"app": path}, first, live=live)
    assert second.error is None, second.error
    assert second.outputs["status"]["stepMessages"] == shown
    assert workflow(second)["phase"] == "succeeded"


def test_an_if_reads_the_steps_inputs_earlier_steps_and_the_context(tmp_path):
    steps = PASSING + """      - name: odd
        type: suspend
        if: inputs.who == "x" || status.later.succeeded || status["apply-server"].done || self.x
"""
    text = problems(write(tmp_path, steps))
    assert "spec.workflow.steps[2].if: inputs.who: the step has no input from 'who'" in text, text
    assert "status.later.succeeded is not the status of an earlier step" in text, text
    assert 'status["apply-server"].done is not the status of an earlier step' in text, text
    assert "'self' is not known here" in text, text
    broken = problems(write(tmp_path, PASSING + "      - name: odd\n        type: suspend\n        if: (a == \n",
                            name="broken.yaml"))
    assert "spec.workflow.steps[2].if: ends too soon; write \"always\", or comparisons" in broken, broken


def test_depends_on_names_earlier_steps(tmp_path):
    steps = PASSING.replace("""      - name: export-config
        type: export2config
""", """      - name: export-config
        type: export2config
        dependsOn: [apply-server]
""")
    assert run_stage({"app": write(tmp_path, steps)}).error is None
    later = PASSING.replace("""        properties:
          component: server
""", """        dependsOn: [export-config, apply-servr]
        properties:
          component: server
""")
    text = problems(write(tmp_path, later, name="later.yaml"))
    assert "spec.workflow.steps[0].dependsOn[0]: 'export-config' is a later step: steps run in order; name " \
           "earlier steps only" in text, text
    assert "spec.workflow.steps[0].dependsOn[1]: 'apply-servr' is not a step of the workflow" in text, text


@pytest.mark.parametrize("text, why", [
    ("(status.a.succeeded", "a '(' is not closed"),
    ("c == (8", "a '(' is not closed"),
    ("status.a.succeeded &&", "ends too soon"),
    ("(" * 300 + "a", "too long for a condition"),
])
def test_an_if_that_does_not_parse_says_why(text, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        values.parse_condition(text)


def test_an_if_orders_numbers_and_strings_only():
    scope = {"inputs": {"n": 3, "s": "b", "m": {"x": 1}}, "status": {}, "context": {}}
    assert values.holds(values.parse_condition("inputs.n >= 3 && inputs.s < \"c\""), scope)
    with pytest.raises(ValueError, match="compares two numbers or two strings"):
        values.holds(values.parse_condition("inputs.m < inputs.m"), scope)
    with pytest.raises(ValueError, match="is not true or false"):
        values.holds(values.parse_condition("inputs.n"), scope)
