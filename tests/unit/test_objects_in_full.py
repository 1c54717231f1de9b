"""Objects written out in full (k8s-objects, raw) that run pods: applied in the order of the safety rules.

What the pods need comes before them, what routes to them after them (once Ready), a component
that depends on them waits for them, and their selector, which Kubernetes cannot change, is kept.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from oam.config import StageConfig
from oam.errors import OamError
from oam.kit.applied import Applied
from oam.model import read_application
from oam.render import plan
from oam.revisions import History

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: legacy
spec:
  components:
    - name: api
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: Service
            metadata:
              name: api
            spec:
              selector:
                app: api
              ports:
                - port: 80
                  targetPort: 8080
          - apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: api
            spec:
              replicas: 2
              selector:
                matchLabels:
                  app: api
              template:
                metadata:
                  labels:
                    app: api
                spec:
                  containers:
                    - name: api
                      image: registry.example.com/api:1
                      envFrom:
                        - configMapRef:
                            name: api-config
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: api-config
            data:
              MODE: prod
          - apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata:
              name: api
            spec:
              rules:
                - host: api.example.com
                  http:
                    paths:
                      - path: /
                        pathType: Prefix
                        backend:
                          service:
                            name: api
                            port:
                              number: 80
          - apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata:
              name: api-reader
            rules:
              - apiGroups: [""]
                resources: [configmaps]
                verbs: [get]
    - name: web
      type: webservice
      dependsOn: [api]
      properties:
        image: registry.example.com/web:1
"""


def _plan(tmp_path: Path, text: str, applied: Applied = None):
    path = tmp_path / "legacy.yaml"
    path.write_text(text)
    return plan(read_application(path, "legacy.yaml"), History(), StageConfig(app="legacy.yaml"), applied=applied)


def test_what_pods_need_comes_first_what_routes_to_them_after_they_are_ready(tmp_path):
    edges = {d.key: d.depends_on for d in _plan(tmp_path, APP).objects}
    service, deployment, config, ingress, role = (f"legacy-api-{role}" for role in (
        "service-api", "deployment-api", "configmap-api-config", "ingress-api", "role-api-reader"))
    assert edges[deployment] == [config]
    assert edges[service] == [deployment] and edges[ingress] == [deployment]
    assert edges[config] == [] and edges[role] == []
    # A component that depends on the objects' component waits for the pods they run.
    assert edges["legacy-web-deployment"] == [deployment]


def test_without_objects_that_run_pods_nothing_is_ordered(tmp_path):
    start = APP.index("          - apiVersion: apps/v1")
    text = APP[:start] + APP[APP.index("          - apiVersion: v1\n            kind: ConfigMap"):]
    objects = [d for d in _plan(tmp_path, text).objects if d.component == "api"]
    assert [d.kind for d in objects] == ["Service", "ConfigMap", "Ingress", "Role"]
    assert all(d.depends_on == [] for d in objects)


def test_a_selector_once_applied_is_kept(tmp_path):
    first = _plan(tmp_path, APP)
    applied = Applied.from_plan(first)
    assert applied.selectors["legacy-api-deployment-api"] == {"matchLabels": {"app": "api"}}
    # The same selector, with a new image: applied as an update.
    _plan(tmp_path, APP.replace("registry.example.com/api:1", "registry.example.com/api:2"), applied)
    changed = APP.replace("                matchLabels:\n                  app: api\n",
                          "                matchLabels:\n                  app: api-v2\n").replace(
        "                  labels:\n                    app: api\n", "                  labels:\n                    app: api-v2\n")
    with pytest.raises(OamError) as err:
        _plan(tmp_path, changed, applied)
    [problem] = err.value.problems
    assert problem.path == "spec.components[0].properties.objects[1].spec.selector"
    assert problem.line == changed.splitlines().index("              selector:", 20) + 1
    assert "Kubernetes cannot change it" in problem.message and "new name" in problem.hint
    # A new stack (nothing applied) takes any selector.
    assert _plan(tmp_path, changed).objects


def test_keys_that_tell_pulumi_how_to_await_an_object_are_refused_on_objects_in_full(tmp_path):
    text = APP.replace("            metadata:\n              name: api\n            spec:\n              replicas: 2\n",
                       "            metadata:\n              name: api\n              annotations:\n"
                       "                pulumi.com/skipAwait: 'true'\n                team: shop\n"
                       "            spec:\n              replicas: 2\n")
    with pytest.raises(OamError) as err:
        _plan(tmp_path, text)
    [problem] = err.value.problems
    assert problem.path == "spec.components[0].properties.objects[1].metadata.annotations.pulumi.com/skipAwait"
    assert problem.line == text.splitlines().index("                pulumi.com/skipAwait: 'true'") + 1
    assert "changes how Pulumi awaits or applies the object" in problem.message


SETTINGS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
spec:
  components:
    - name: settings
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: by-hand
            data:
              theme: dark
    - name: web
      type: webservice
      properties:
        image: registry.example.com/web:1
"""
TAKE_OVER = """  policies:
    - name: adopt
      type: take-over
      properties:
        rules:
          - selector:
              resourceTypes: [ConfigMap]
"""


def test_an_object_the_cluster_holds_and_that_is_not_ours_is_refused_unless_taken_over(tmp_path):
    from tests.harness import run_stage

    path = tmp_path / "shop.yaml"
    path.write_text(SETTINGS)
    by_hand = {("v1", "ConfigMap", "default"): {"by-hand": {"owner": "ops"}},
               ("apps/v1", "Deployment", "default"): {"web": {"app": "web"}}}
    run = run_stage({"app": str(path)}, existing=by_hand)
    assert not run.resources or not [r for r in run.resources.values() if r.type.startswith("kubernetes:")]
    lines = SETTINGS.splitlines()
    assert (f"shop.yaml:{lines.index('          - apiVersion: v1') + 1}: spec.components[0].properties.objects[0]: "
            "ConfigMap 'by-hand' exists already in namespace 'default' and is not this application's") in run.error
    assert (f"shop.yaml:{lines.index('    - name: web') + 1}: spec.components[1].name: Deployment 'web' exists "
            "already") in run.error
    assert "add a take-over policy that selects it (resourceTypes: [ConfigMap], resourceNames: [by-hand])" in run.error
    # What this application left behind (its own label) is its own; a take-over policy takes the rest.
    ours = {("v1", "ConfigMap", "default"): {"by-hand": {"app.oam.dev/name": "shop"}}}
    assert run_stage({"app": str(path)}, existing=ours).error is None
    path.write_text(SETTINGS + TAKE_OVER)
    run = run_stage({"app": str(path)}, existing=by_hand)
    assert run.error is not None and "Deployment 'web' exists already" in run.error and "by-hand" not in run.error
    path.write_text(SETTINGS + TAKE_OVER.replace("[ConfigMap]", "[ConfigMap, Deployment]"))
    first = run_stage({"app": str(path)}, existing=by_hand)
    assert first.error is None, first.error
    # Once the stack holds them they are its own: the next stage does not ask again, policy or not.
    path.write_text(SETTINGS.replace("web:1", "web:2"))
    assert run_stage({"app": str(path)}, first, existing=by_hand).error is None
