"""Steps passing values on the real cluster: a component's Deployment status read once the update that applied
it has completed, written into a ConfigMap by a later step; the driver runs the second pulumi up by itself."""
from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import ROOT, Kube, make_project

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: passing
spec:
  components:
    - name: server
      type: webservice
      properties:
        image: registry.example.com/passing/server:{tag}
        port: 8000
  workflow:
    steps:
      - name: apply-server
        type: apply-component
        outputs:
          - name: status
            valueFrom: output.status.conditions[0].type + " " + output.status.conditions[0].status
          - name: image
            valueFrom: output.spec.template.spec.containers[0].image
        properties:
          component: server
      - name: export-config
        type: export2config
        inputs:
          - from: status
            parameterKey: data.serverstatus
          - from: image
            parameterKey: data.image
        properties:
          configName: server-status
          data:
            written: by the workflow
"""


def advance(project) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "venv" / "bin" / "python"), "-m", "oam", "advance", "--stack", project.stack],
                          cwd=project.dir, env=project.env, capture_output=True, text=True, timeout=600)


def test_a_value_read_from_the_cluster_passes_to_a_later_step(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "passing")
    app = project.dir / "examples" / "passing.yaml"
    app.write_text(APP.format(tag="1"))
    project.config(app="examples/passing.yaml")

    up = project.up("first")
    assert up.ok, up.output
    assert kube.get("configmap", "server-status") is None, "its step waits for the value"
    status = project.status()["workflowStatus"]
    assert status["phase"] == "suspended" and status["waiting"] == "export-config (a step output)", status

    up = project.up("second")
    assert up.ok, up.output
    data = kube.get("configmap", "server-status")["data"]
    live = kube.get("deployment", "server")
    first = live["status"]["conditions"][0]
    assert data == {"written": "by the workflow", "serverstatus": f"{first['type']} {first['status']}",
                    "image": "registry.example.com/passing/server:1"}, data
    assert project.status()["workflowStatus"]["phase"] == "succeeded"
    assert project.preview_no_changes().returncode == 0, "the value is kept: a second run changes nothing"

    # A new image: the step waits again for the new revision's Deployment; the driver runs the second pulumi up.
    app.write_text(APP.format(tag="2"))
    run = advance(project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "step 2/2 export-config, suspended" in run.stdout and "2 pulumi ups" in run.stdout, run.stdout
    data = kube.get("configmap", "server-status")["data"]
    assert data["image"] == "registry.example.com/passing/server:2", data
    assert json.loads(project.pulumi("stack", "output", "status", "--json").stdout)["workflowStatus"]["phase"] == \
        "succeeded"
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert kube.get("configmap", "server-status") is None
