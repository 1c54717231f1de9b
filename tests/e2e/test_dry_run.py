"""The API server tries every object of a stage before anything is applied (a dry run, strict about fields).

An object it would refuse stops the stage with the line that made it, and nothing changes. A field it
does not know is refused too: a real apply drops it without a word. An update that drops a field is
tried as the provider applies it (as the field manager that applied the object), so it is not refused
for the field it drops.
"""
from __future__ import annotations

from tests.e2e.conftest import Kube, make_project
from tests.unit.test_replacement import STATEFUL

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: tried
spec:
  components:
    - name: api
      type: webservice
      properties:
        image: registry.example.com/tried/api:1
        ports:
          - port: {port}
            name: web
{traits}"""

MISSPELT = """      traits:
        - type: json-merge-patch
          properties:
            spec:
              template:
                spec:
                  nodeSelectr:
                    pool: web
"""


def write(project, port: int, traits: str = "") -> None:
    (project.dir / "examples" / "tried.yaml").write_text(APP.format(port=port, traits=traits))


def container_ports(kube: Kube) -> list[dict]:
    return kube.get("deployment", "api")["spec"]["template"]["spec"]["containers"][0]["ports"]


def test_the_api_server_tries_each_object_before_the_stage_applies_anything(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "tried")
    write(project, 8080)
    project.config(app="examples/tried.yaml")
    up = project.up("first")
    assert up.ok, up.output
    assert [(p["name"], p["containerPort"]) for p in container_ports(kube)] == [("web", 8080)]

    # The port named web moves to 9090. Tried as another field manager, the old entry would stay next to
    # the new one in the tried object, and two ports named web are refused: this must go through.
    write(project, 9090)
    up = project.up("port moved")
    assert up.ok, up.output
    assert [(p["name"], p["containerPort"]) for p in container_ports(kube)] == [("web", 9090)]
    generation = kube.get("deployment", "api")["metadata"]["generation"]

    # A misspelt field in a patch: the provider would apply the Deployment without it.
    write(project, 9090, MISSPELT)
    up = project.up("misspelt")
    assert not up.ok
    assert "examples/tried.yaml:7: spec.components[0]: Kubernetes refuses the Deployment 'api'" in up.output, \
        up.output
    assert "nodeSelectr" in up.output, up.output
    assert not up.ops(), up.ops()
    deployment = kube.get("deployment", "api")
    assert deployment["metadata"]["generation"] == generation, "nothing was applied"
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]

    write(project, 9090)
    assert project.preview_no_changes().returncode == 0, "the refused stage left nothing behind"
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert kube.get("deployment", "api") is None


def test_a_first_deploy_into_a_namespace_not_made_yet_is_tried_before_anything_is_applied(pulumi_env, tmp_path):
    """Its objects are tried at once in the default namespace (the program knows the cluster has neither them nor
    their namespace), and a refused one stops the stage before the namespace is made."""
    kube = Kube(pulumi_env, namespace="fresh")
    project = make_project(tmp_path / "project", pulumi_env, "fresh")
    (project.dir / "examples" / "tried.yaml").write_text(
        APP.format(port=8080, traits=MISSPELT).replace("  name: tried\n", "  name: tried\n  namespace: fresh\n", 1))
    project.config(app="examples/tried.yaml")
    up = project.up("misspelt")
    assert not up.ok
    assert "Kubernetes refuses the Deployment 'api'" in up.output and "nodeSelectr" in up.output, up.output
    assert set(up.ops()) == {"oam-delivery-fresh"}, up.ops()  # the new stack itself, nothing of the application
    assert kube.get("namespace", "fresh") is None


def stateful(history: str) -> str:
    """The unit tests' StatefulSet written out in full, in a namespace of its own."""
    return STATEFUL.format(history=history, tag=1).replace("  name: kept\n", "  name: kept\n  namespace: kept\n", 1)


def test_a_field_the_provider_replaces_for_is_refused_for_an_object_that_runs_pods(pulumi_env, tmp_path):
    """The provider would replace the StatefulSet (deleted, then created again: no pod in between) for a field
    Kubernetes changes in place, which the API server's dry run takes; the stage is refused before anything is
    applied instead."""
    kube = Kube(pulumi_env, namespace="kept")
    project = make_project(tmp_path / "project", pulumi_env, "kept")
    app = project.dir / "examples" / "kept.yaml"
    app.write_text(stateful("minReadySeconds: 0"))
    project.config(app="examples/kept.yaml")
    up = project.up("first")
    assert up.ok, up.output
    uid = kube.get("statefulset", "store")["metadata"]["uid"]

    # Kubernetes would change revisionHistoryLimit in place (the dry run takes it); the provider replaces the
    # StatefulSet for it.
    app.write_text(stateful("revisionHistoryLimit: 3"))
    up = project.up("history limit set")
    assert not up.ok
    assert "examples/kept.yaml:17: spec.components[0].properties.objects[0].spec.revisionHistoryLimit: " \
           "spec.revisionHistoryLimit of StatefulSet 'store' would change from unset to 3" in up.output, up.output
    assert "nothing would serve in between" in up.output, up.output
    assert not up.ops(), up.ops()
    assert kube.get("statefulset", "store")["metadata"]["uid"] == uid
    app.write_text(stateful("minReadySeconds: 0"))
    assert project.preview_no_changes().returncode == 0


CLAIM = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: claimed
  namespace: claimed
spec:
  components:
    - name: data
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: data
            spec:
              accessModes: [{mode}]
              resources:
                requests:
                  storage: 1Gi
{policies}"""
RECREATE = """  policies:
    - name: recreate-claims
      type: resource-update
      properties:
        rules:
          - selector:
              resourceTypes: [PersistentVolumeClaim]
            strategy:
              recreateFields: [spec.accessModes]
"""


def test_a_claim_is_not_replaced_unless_a_policy_asks_for_it(pulumi_env, tmp_path):
    """A claim replaced is deleted first, and with it its volume's data under a Delete reclaim policy."""
    kube = Kube(pulumi_env, namespace="claimed")
    project = make_project(tmp_path / "project", pulumi_env, "claimed")
    app = project.dir / "examples" / "claimed.yaml"
    app.write_text(CLAIM.format(mode="ReadWriteOnce", policies=""))
    project.config(app="examples/claimed.yaml")
    up = project.up("first")
    assert up.ok, up.output
    uid = kube.get("pvc", "data")["metadata"]["uid"]

    app.write_text(CLAIM.format(mode="ReadWriteMany", policies=""))
    up = project.up("access mode changed")
    assert not up.ok
    assert "examples/claimed.yaml:17: spec.components[0].properties.objects[0].spec.accessModes: spec.accessModes " \
           "of PersistentVolumeClaim 'data' would change" in up.output, up.output
    assert "its volume's data" in up.output, up.output
    assert not up.ops(), up.ops()
    assert kube.get("pvc", "data")["metadata"]["uid"] == uid

    app.write_text(CLAIM.format(mode="ReadWriteMany", policies=RECREATE))
    up = project.up("asked for")
    assert up.ok, up.output
    live = kube.get("pvc", "data")
    assert live["metadata"]["uid"] != uid and live["spec"]["accessModes"] == ["ReadWriteMany"]
    assert project.preview_no_changes().returncode == 0
