"""A component whose type changes keeps its running objects, on the real engine and cluster.

The component resource of another type gives every object of the component a new URN. Without
the old URN as an alias, Pulumi applied the Deployment again under the new one and then deleted
it under the old one: the stage ended with no Deployment, and a stack that said it had one."""
from __future__ import annotations

from tests.e2e.conftest import Kube, make_project
from tests.unit import test_type_change as unit



def in_namespace(text: str, namespace: str) -> str:
    """An application of the unit tests, in a namespace of its own."""
    return text.replace("  name: typed\n", f"  name: typed\n  namespace: {namespace}\n", 1)


WEBSERVICE, WORKER = (in_namespace(t, "typed") for t in (unit.WEBSERVICE, unit.WORKER))
# The same Deployment (its selector cannot change) written out in full, as a user moves a component to k8s-objects.
OBJECTS = in_namespace(unit.DEPLOYMENT.format(labels=unit.SAME), "typed").replace("typed/api:1", "typed/api:2")


def test_a_component_that_changes_type_keeps_its_deployment(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace="typed")
    project = make_project(tmp_path / "project", pulumi_env, "typed")
    app = project.dir / "examples" / "typed.yaml"
    app.write_text(WEBSERVICE)
    project.config(app="examples/typed.yaml")
    up = project.up("webservice")
    assert up.ok, up.output
    uid = kube.get("deployment", "api")["metadata"]["uid"]
    assert kube.get("service", "api") is not None

    app.write_text(WORKER)
    up = project.up("worker")
    assert up.ok, up.output
    live = kube.get("deployment", "api")
    assert live is not None and live["metadata"]["uid"] == uid, "the Deployment stays the same object"
    assert up.ops().get("typed-api-deployment") == "update", up.ops()
    assert kube.get("service", "api") is None, "a worker has no Service: it goes"
    assert project.preview_no_changes().returncode == 0

    app.write_text(OBJECTS)
    up = project.up("k8s-objects")
    assert up.ok, up.output
    live = kube.get("deployment", "api")
    assert live is not None and live["metadata"]["uid"] == uid, "the Deployment written out is the same object"
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/typed/api:2"
    assert "delete" not in up.ops().values(), up.ops()
    assert project.preview_no_changes().returncode == 0

    app.write_text(WEBSERVICE)
    up = project.up("webservice again")
    assert up.ok, up.output
    live = kube.get("deployment", "api")
    assert live is not None and live["metadata"]["uid"] == uid
    assert kube.get("service", "api") is not None
    assert project.preview_no_changes().returncode == 0


def scaler(version: str, most: int) -> str:
    return in_namespace(unit.SCALER.format(version=version), "scaled").replace("maxReplicas: 3",
                                                                            f"maxReplicas: {most}")


def test_an_object_written_in_another_version_of_its_api_stays(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace="scaled")
    project = make_project(tmp_path / "project", pulumi_env, "scaled")
    app = project.dir / "examples" / "scaled.yaml"
    app.write_text(scaler("autoscaling/v1", 3))
    project.config(app="examples/scaled.yaml")
    up = project.up("v1")
    assert up.ok, up.output
    uid = kube.get("hpa", "api")["metadata"]["uid"]

    app.write_text(scaler("autoscaling/v2", 4))
    up = project.up("v2")
    assert up.ok, up.output
    live = kube.get("hpa", "api")
    assert live is not None and live["metadata"]["uid"] == uid and live["spec"]["maxReplicas"] == 4
    assert "delete" not in up.ops().values() and "replace" not in up.ops().values(), up.ops()
    assert project.preview_no_changes().returncode == 0
