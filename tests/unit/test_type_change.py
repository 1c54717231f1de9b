"""A component whose type changes, or an object that moves to another component: each Pulumi resource whose URN
changes with it carries its old URN as an alias, so the stack moves it in place instead of applying it under the
new URN and deleting it under the old one. Under Pulumi's mocks."""
from __future__ import annotations

from pathlib import Path

from tests.harness import StageRun, run_stage

HEAD = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: typed
spec:
  components:
"""
WEBSERVICE = HEAD + """    - name: api
      type: webservice
      properties:
        image: registry.example.com/typed/api:1
        ports:
          - port: 8080
            expose: true
"""
WORKER = HEAD + """    - name: api
      type: worker
      properties:
        image: registry.example.com/typed/api:1
"""
CONFIG = """    - name: {owner}
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
            data:
              mode: {mode}
"""


def stage(tmp_path: Path, text: str, previous: StageRun = None) -> StageRun:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    run = run_stage({"app": str(path)}, previous)
    assert run.error is None, run.error
    return run


def aliases(run: StageRun, name: str) -> list[str]:
    return run.resources[name].options.get("aliases", [])


def test_a_component_that_changes_type_keeps_its_objects_under_their_old_urns(tmp_path):
    first = stage(tmp_path, WEBSERVICE)
    deployment = first.resources["typed-api-deployment"]
    assert aliases(first, "typed-api-deployment") == [] and aliases(first, "typed-api") == []

    worker = stage(tmp_path, WORKER, first)
    moved = worker.resources["typed-api-deployment"]
    assert moved.urn != deployment.urn and "oam:component:Worker" in moved.urn
    assert aliases(worker, "typed-api-deployment") == [deployment.urn]
    assert aliases(worker, "typed-api") == [first.resources["typed-api"].urn]

    again = stage(tmp_path, WORKER, worker)
    assert aliases(again, "typed-api-deployment") == [] and aliases(again, "typed-api") == [], \
        "once moved, nothing more to carry"


def test_an_object_that_moves_to_another_component_keeps_its_old_urn(tmp_path):
    first = stage(tmp_path, HEAD + CONFIG.format(owner="base", mode="a"))
    [(old_key, old)] = first.of_kind("ConfigMap").items()
    moved = stage(tmp_path, HEAD + CONFIG.format(owner="shared", mode="b"), first)
    [(new_key, new)] = moved.of_kind("ConfigMap").items()
    assert new_key != old_key, "the object's Pulumi name follows its component"
    assert aliases(moved, new_key) == [old.urn]


def test_another_object_of_the_same_name_is_not_taken_for_the_old_one(tmp_path):
    first = stage(tmp_path, HEAD + CONFIG.format(owner="base", mode="a"))
    # The ConfigMap stays with 'base'; a second component writes one of another name.
    both = HEAD + CONFIG.format(owner="base", mode="a") + CONFIG.format(owner="other", mode="b").replace(
        "name: settings", "name: more")
    run = stage(tmp_path, both, first)
    assert all(aliases(run, key) == [] for key in run.of_kind("ConfigMap")), \
        {key: aliases(run, key) for key in run.of_kind("ConfigMap")}


SCALER = HEAD + """    - name: scaling
      type: k8s-objects
      properties:
        objects:
          - apiVersion: {version}
            kind: HorizontalPodAutoscaler
            metadata:
              name: api
            spec:
              scaleTargetRef:
                apiVersion: apps/v1
                kind: Deployment
                name: api
              minReplicas: 1
              maxReplicas: 3
"""


def test_an_object_written_in_another_version_of_its_api_keeps_its_old_urn(tmp_path):
    first = stage(tmp_path, SCALER.format(version="autoscaling/v1"))
    [(key, old)] = first.of_kind("HorizontalPodAutoscaler").items()
    assert old.type == "kubernetes:autoscaling/v1:HorizontalPodAutoscaler"
    second = stage(tmp_path, SCALER.format(version="autoscaling/v2"), first)
    new = second.resources[key]
    assert new.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" and new.urn != old.urn
    assert aliases(second, key) == [old.urn]
    # Another group's kind of the same name is another object.
    other = stage(tmp_path, SCALER.format(version="example.com/v1"), first)
    assert aliases(other, key) == []


DEPLOYMENT = HEAD + """    - name: api
      type: k8s-objects
      properties:
        objects:
          - apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: api
            spec:
              selector:
                matchLabels: {labels}
              template:
                metadata:
                  labels: {labels}
                spec:
                  containers:
                    - name: api
                      image: registry.example.com/typed/api:1
"""
SAME = '{"app.oam.dev/name": typed, "app.oam.dev/component": api}'
OTHER = '{"app": api}'


def refused(tmp_path: Path, text: str, previous: StageRun) -> str:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    run = run_stage({"app": str(path)}, previous)
    assert run.error is not None and not run.resources, "refused before anything is registered"
    return run.error


def test_a_component_that_changes_type_keeps_the_selector_of_its_deployment(tmp_path):
    first = stage(tmp_path, WEBSERVICE)
    same = stage(tmp_path, DEPLOYMENT.format(labels=SAME), first)
    assert aliases(same, next(iter(same.of_kind("Deployment")))) == [first.resources["typed-api-deployment"].urn]

    error = refused(tmp_path, DEPLOYMENT.format(labels=OTHER), first)
    assert "app.yaml:16: spec.components[0].properties.objects[0].spec.selector: the selector of Deployment 'api' " \
           "differs from the one applied" in error, error

    written = stage(tmp_path, DEPLOYMENT.format(labels=OTHER))
    error = refused(tmp_path, WEBSERVICE, written)
    assert "app.yaml:8: spec.components[0].type: the selector of Deployment 'api' differs" in error, error


def test_a_renamed_application_is_refused_at_its_name_not_replaced(tmp_path):
    first = stage(tmp_path, WEBSERVICE)
    error = refused(tmp_path, WEBSERVICE.replace("name: typed", "name: renamed"), first)
    assert "app.yaml:4: metadata.name: this stack deployed the application as 'typed': its Deployments select " \
           "their pods by app.oam.dev/name=typed" in error, error
    assert "keep the name 'typed', or deploy 'renamed' to another namespace from a new stack" in error
    assert error.count("metadata.name") == 1, "said once"


def test_one_object_written_twice_in_two_versions_of_its_api_is_refused(tmp_path):
    second = SCALER[SCALER.index("          - apiVersion"):].format(version="autoscaling/v2")
    error = refused(tmp_path, SCALER.format(version="autoscaling/v1") + second, None)
    assert "spec.components[0].properties.objects[1]: component 'scaling' makes HorizontalPodAutoscaler 'api' " \
           "twice (as autoscaling/v1 and autoscaling/v2); list the object once" in error, error
