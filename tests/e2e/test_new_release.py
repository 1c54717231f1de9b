"""A new revision of an application without a rollout, on the real engine and cluster: the approval of the last
release does not open the new one's gate, and the component after the gate keeps running as it was until then."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.conftest import Kube, Project, make_project

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: gated
spec:
  components:
    - name: db
      type: webservice
      properties:
        image: registry.example.com/gated/db:{tag}
        port: 5432
    - name: api
      type: webservice
      properties:
        image: registry.example.com/gated/api:{tag}
        port: 8080
  workflow:
    steps:
      - name: database
        type: apply-component
        properties:
          component: db
      - name: check
        type: suspend
      - name: service
        type: apply-component
        properties:
          component: api
"""


@pytest.fixture
def made(pulumi_env, tmp_path) -> Iterator[list[Project]]:
    """The projects a test makes, destroyed at its end whatever happened: the namespace is shared with later tests
    (test_upgrade_gated deploys the same application there with the program as it was)."""
    projects: list[Project] = []
    yield projects
    for p in projects:
        p.pulumi("destroy", "--yes", check=False)


def image(kube: Kube, name: str) -> str:
    return kube.get("deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_new_release_waits_at_its_gate_and_keeps_the_component_after_it(pulumi_env, tmp_path, made):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "gated")
    made.append(project)
    app = project.dir / "examples" / "gated.yaml"
    app.write_text(APP.format(tag="1"))
    project.config(app="examples/gated.yaml")
    assert project.up("first").ok
    project.config(approve="check")
    up = project.up("approved")
    assert up.ok, up.output
    assert image(kube, "api") == "registry.example.com/gated/api:1"
    before = kube.generations("gated")

    app.write_text(APP.format(tag="2"))
    refused = project.up("leftover approval")
    assert not refused.ok
    assert "'check' approved release 1 and does not carry over to release 2" in refused.output, refused.output
    assert kube.generations("gated") == before, "a refused stage changes nothing"

    project.config(approve=None)
    up = project.up("release 2")
    assert up.ok, up.output
    assert image(kube, "db") == "registry.example.com/gated/db:2"
    assert image(kube, "api") == "registry.example.com/gated/api:1", "the component after the gate runs as it was"
    assert kube.generations("gated")["Deployment/api"] == before["Deployment/api"]
    assert "api" not in up.ops() and "gated-api-deployment" not in up.ops(), up.ops()
    status = project.status()["workflowStatus"]
    assert status["release"] == 2 and status["waiting"] == "check (needs approval)", status
    assert project.preview_no_changes().returncode == 0

    project.config(approve="check")
    up = project.up("release 2 approved")
    assert up.ok, up.output
    assert image(kube, "api") == "registry.example.com/gated/api:2"
    assert project.status()["workflowStatus"]["phase"] == "succeeded"
    assert project.preview_no_changes().returncode == 0


def test_a_placement_after_a_gate_keeps_its_namespace_and_deployment(pulumi_env, tmp_path, made):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "placed")
    made.append(project)
    example = (project.dir / "examples" / "definitions" / "step-deploy.yaml").read_text()
    app = project.dir / "examples" / "placed.yaml"
    app.write_text(example)
    project.config(app="examples/placed.yaml")
    assert project.up("staging").ok
    project.config(approve="to-production")
    up = project.up("production")
    assert up.ok, up.output
    prod = Kube(pulumi_env, namespace="production")
    before = prod.get("deployment", "frontend")
    assert before["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4.0")

    app.write_text(example.replace("frontend:1.4.0", "frontend:1.5.0"))
    project.config(approve=None)
    up = project.up("release 2, staging")
    assert up.ok, up.output
    staging = Kube(pulumi_env, namespace="staging").get("deployment", "frontend")
    assert staging["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.5.0")
    after = prod.get("deployment", "frontend")
    assert after is not None, "the production Deployment is kept, and its namespace with it"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert kube.kubectl("get", "namespace", "production").returncode == 0
    assert project.preview_no_changes().returncode == 0
    project.config(approve="to-production")
    up = project.up("release 2, production")
    assert up.ok, up.output
    assert prod.get("deployment", "frontend")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.5.0")
