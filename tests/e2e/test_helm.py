"""The helm component for real: charts of our own, from a loopback chart repository and from a folder of the
project, fetched and rendered by the Kubernetes provider, deployed, upgraded and destroyed by the real engine.

What waits for the chart (a component that dependsOn it) starts once the chart's Deployment is Ready; an upgrade
to a new version with new values changes only the objects whose rendering changed; a second run changes nothing;
pulumi destroy leaves nothing of the charts.
"""
from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Kube, make_project
from tests.helmrepo import ChartRepo

CHART = Path(__file__).resolve().parents[2] / "examples" / "charts" / "greeter"

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: site
spec:
  components:
    - name: greeter
      type: helm
      properties:
        url: {url}
        chart: greeter
        version: {version}
        values:
          message: {message}
      traits:
        - type: labels
          properties:
            team: web
    - name: local
      type: helm
      properties:
        chart: examples/charts/greeter
        valuesFiles: [values-production.yaml]
        values:
          port: 9090
    - name: web
      type: webservice
      dependsOn: [greeter]
      properties:
        image: registry.example.com/web:1.0
        port: 80
"""

DEPLOYMENT = "site-greeter-chart-greeter:default/greeter"
CONFIG = "site-greeter-chart-greeter:default/greeter-config"
SERVICE = "site-greeter-chart-greeter:default/greeter"


def test_charts_deploy_upgrade_and_go(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "helm")
    app = project.dir / "site.yaml"
    with ChartRepo() as repo:
        repo.add(CHART, "0.1.0")
        repo.add(CHART, "0.2.0")
        app.write_text(APP.format(url=repo.url, version="0.1.0", message="one"))
        project.config(app="site.yaml")
        # An object of the chart that someone else made: the chart is not applied, and the object stays theirs.
        kube.kubectl("create", "configmap", "greeter-config", "--from-literal=owner=ops")
        up = project.up("someone else's")
        assert not up.ok
        assert ("chart greeter holds ConfigMap greeter-config, which exists already in namespace 'default' and is "
                "not this application's") in up.output, up.output
        assert kube.get("configmap", "greeter-config")["data"] == {"owner": "ops"}
        assert kube.get("deployment", "web") is None, "what waits for the chart is not applied"
        kube.kubectl("delete", "configmap", "greeter-config")
        up = project.up("first")
        assert up.ok, up.output
        assert "/greeter-0.1.0.tgz" in repo.requests, "the provider fetched the chart from the repository"

        deployment = kube.get("deployment", "greeter")
        assert deployment["status"]["readyReplicas"] == 1
        # The component's labels (its own, its trait's) reach the chart's objects and their pods.
        for meta in (deployment["metadata"], deployment["spec"]["template"]["metadata"]):
            assert meta["labels"]["team"] == "web", meta
            assert meta["labels"]["app.oam.dev/component"] == "greeter", meta
        assert kube.get("configmap", "greeter-config")["data"]["message"] == "one"
        # The folder's chart with its production values file, then the component's values over it.
        local = kube.get("deployment", "local")
        assert local["spec"]["replicas"] == 2
        assert local["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 9090
        assert kube.get("configmap", "local-config")["data"]["message"] == "production"
        # dependsOn: web's pods are created once the chart's Deployment is Ready.
        assert up.finished_before_started(DEPLOYMENT, "site-web-deployment"), up.ops()
        assert project.preview_no_changes().returncode == 0, "a second run changes nothing"

        app.write_text(APP.format(url=repo.url, version="0.2.0", message="two"))
        up = project.up("upgrade")
        assert up.ok, up.output
        assert "/greeter-0.2.0.tgz" in repo.requests
        ops = up.ops()
        assert ops.get(DEPLOYMENT) == "update" and ops.get(CONFIG) == "update", ops
        changed = {name for name in ops if ":default/" in name}
        assert changed == {DEPLOYMENT, CONFIG}, f"only what the new values change is updated: {ops}"
        assert kube.get("configmap", "greeter-config")["data"]["message"] == "two"
        assert kube.get("deployment", "greeter")["metadata"]["labels"]["team"] == "web"

        project.pulumi("destroy", "--yes", "--skip-preview")
    for kind, name in (("deployment", "greeter"), ("service", "greeter"), ("configmap", "greeter-config"),
                       ("deployment", "local"), ("deployment", "web")):
        assert kube.get(kind, name) is None, f"{kind} {name} is left after pulumi destroy"
