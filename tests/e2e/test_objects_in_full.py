"""Objects written out in full that run pods, on the real engine and API server.

A k8s-objects component holds its own Deployment, its configuration, its Service and an
Ingress: the configuration is applied before the Deployment, the Service and the Ingress only
once its pods are Ready, and a component that depends on it waits for them too. A new image is
an update in place; a new selector, which Kubernetes cannot change, is refused before anything
is applied.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Kube, Project, make_project
from tests.e2e.test_tutorial import assert_converged
from tests.unit.test_objects_in_full import APP

NS = "in-full"
TEXT = APP.replace("  name: legacy\n", f"  name: legacy\n  namespace: {NS}\n")
SERVICE, DEPLOYMENT, CONFIG, INGRESS = (f"legacy-api-{role}" for role in ("service-api", "deployment-api",
                                                                         "configmap-api-config", "ingress-api"))


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Project:
    p = make_project(tmp_path_factory.mktemp("in-full") / "project", pulumi_env, "in-full")
    p.config(readyTimeout="90s")
    yield p
    p.pulumi("destroy", "--yes", check=False)


@pytest.fixture(scope="module")
def ns(kube: Kube) -> Kube:
    return Kube(kube.env, NS, kube.istioctl)


def write(project: Project, text: str) -> None:
    (project.dir / "examples" / "legacy.yaml").write_text(text)
    project.config(app="examples/legacy.yaml")


def test_1_configuration_first_routes_once_the_pods_are_ready(project: Project, ns: Kube):
    write(project, TEXT)
    up = project.up("first")
    assert_converged(project, up)
    api = ns.get("deployment", "api")
    assert api["status"].get("readyReplicas") == 2
    assert ns.get("service", "api") is not None and ns.get("ingress", "api") is not None
    assert up.finished_before_started(CONFIG, DEPLOYMENT)
    assert up.finished_before_started(DEPLOYMENT, SERVICE) and up.finished_before_started(DEPLOYMENT, INGRESS)
    assert up.finished_before_started(DEPLOYMENT, "legacy-web-deployment"), "dependsOn waits for the objects' pods"


def test_2_a_new_image_is_an_update_in_place(project: Project, ns: Kube):
    write(project, TEXT.replace("registry.example.com/api:1", "registry.example.com/api:2"))
    up = project.up("new image")
    assert_converged(project, up)
    assert up.ops() == {DEPLOYMENT: "update"}
    api = ns.get("deployment", "api")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/api:2"
    assert api["status"].get("updatedReplicas") == 2 and api["status"].get("readyReplicas") == 2


def test_3_a_new_selector_is_refused_and_nothing_changes(project: Project, ns: Kube):
    text = TEXT.replace("registry.example.com/api:1", "registry.example.com/api:2").replace(
        "                matchLabels:\n                  app: api\n", "                matchLabels:\n                  app: api-2\n").replace(
        "                  labels:\n                    app: api\n", "                  labels:\n                    app: api-2\n")
    write(project, text)
    before = ns.get("deployment", "api")["metadata"]["resourceVersion"]
    up = project.up("new selector")
    assert not up.ok
    line = text.splitlines().index("              selector:", 20) + 1
    assert f"legacy.yaml:{line}: spec.components[0].properties.objects[1].spec.selector" in up.output, up.output
    assert not up.ops(), up.ops()
    assert ns.get("deployment", "api")["metadata"]["resourceVersion"] == before


IMMUTABLE = f"""apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: settings
  namespace: {NS}
spec:
  components:
    - name: settings
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: frozen
            immutable: true
            data:
              theme: dark
  policies:
    - name: recreate
      type: resource-update
      properties:
        rules:
          - selector:
              resourceTypes: [ConfigMap]
            strategy:
              recreateFields: [data]
"""


def test_4_resource_update_recreates_an_immutable_configmap_kubernetes_would_not_change(pulumi_env, tmp_path,
                                                                                          ns: Kube):
    p = make_project(tmp_path / "project", pulumi_env, "immutable")
    try:
        (p.dir / "examples" / "settings.yaml").write_text(IMMUTABLE)
        p.config(app="examples/settings.yaml")
        assert_converged(p, p.up("first"))
        (p.dir / "examples" / "settings.yaml").write_text(IMMUTABLE.replace("theme: dark", "theme: light"))
        up = p.up("new data")
        assert up.ok, up.output
        # Recreated, not updated: the API server refuses a change to an immutable ConfigMap's data.
        assert {op for name, op in up.ops().items() if name == "settings-settings-configmap-frozen"} <= {
            "replace", "create-replacement", "delete-replaced"} and up.ops(), up.ops()
        assert "create-replacement" in up.ops().values(), up.ops()
        assert p.preview_no_changes().returncode == 0
        live = ns.get("configmap", "frozen")
        assert live["data"] == {"theme": "light"} and live["immutable"] is True
    finally:
        p.pulumi("destroy", "--yes", check=False)


def test_5_an_object_made_by_hand_is_refused_unless_a_take_over_policy_takes_it(pulumi_env, tmp_path, ns: Kube):
    ns.kubectl("create", "namespace", NS, check=False)
    ns.kubectl("create", "configmap", "by-hand", "-n", NS, "--from-literal=theme=old")
    text = IMMUTABLE.replace("name: frozen", "name: by-hand").replace("            immutable: true\n", "")
    p = make_project(tmp_path / "project", pulumi_env, "taken")
    try:
        (p.dir / "examples" / "settings.yaml").write_text(text.split("  policies:")[0])
        p.config(app="examples/settings.yaml")
        up = p.up("refused")
        assert not up.ok and "ConfigMap 'by-hand' exists already in namespace 'in-full'" in up.output, up.output
        assert set(up.ops()) <= {"oam-delivery-taken"}, up.ops()  # the stack itself, nothing of the application
        assert ns.get("configmap", "by-hand")["data"] == {"theme": "old"}, "nothing changed"
        (p.dir / "examples" / "settings.yaml").write_text(
            text.split("  policies:")[0] + "  policies:\n    - name: adopt\n      type: take-over\n      properties:\n"
            "        rules:\n          - selector:\n              resourceNames: [by-hand]\n")
        assert_converged(p, p.up("adopt"))
        live = ns.get("configmap", "by-hand")
        assert live["data"] == {"theme": "dark"} and live["metadata"]["labels"]["app.oam.dev/component"] == "settings"
    finally:
        p.pulumi("destroy", "--yes", check=False)
    assert ns.get("configmap", "by-hand") is None, "the stack owns it now: destroy deletes it"
