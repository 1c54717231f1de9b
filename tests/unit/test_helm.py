"""The helm component: one provider Chart per component, named as Flux names the release, waited for like pods;
what needs the cluster or a controller to decide is refused at its line, and values in the file are read."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from oam.errors import OamError
from oam.kit.applied import Applied
from oam.kit.charts import stamp
from oam.model import read_application
from tests.harness import run_stage

HEAD = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: site
spec:
  components:
"""


def app_file(tmp_path, components: str):
    path = tmp_path / "site.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(components), "    "))
    return path


def charts(run) -> dict:
    return {n: r for n, r in run.resources.items() if r.type == "kubernetes:helm.sh/v4:Chart"}


def problems(path) -> str:
    with pytest.raises(OamError) as err:
        read_application(path)
    return str(err.value)


def test_a_chart_from_a_repository_is_one_provider_chart_that_dependents_wait_for(tmp_path):
    path = app_file(tmp_path, """
        - name: greeter
          type: helm
          properties:
            url: https://charts.example.com/stable
            chart: greeter
            version: 0.1.0
            values:
              message: hi
          traits:
            - type: labels
              properties:
                team: web
        - name: web
          type: webservice
          dependsOn: [greeter]
          properties:
            image: nginx:1.25
        """)
    run = run_stage({"app": str(path)})
    assert run.error is None, run.error
    (name, chart), = charts(run).items()
    assert name == "site-greeter-chart-greeter"
    assert chart.inputs == {"chart": "greeter", "name": "greeter", "namespace": "default", "version": "0.1.0",
                            "repositoryOpts": {"repo": "https://charts.example.com/stable"},
                            "values": {"message": "hi"}, "resourcePrefix": "site-greeter-chart-greeter"}
    assert run.depends("site-web-deployment", name), "a component that dependsOn the chart waits for it"


@pytest.mark.parametrize("props, release, namespace, chart, version", [
    ({"url": "https://c.example.com", "chart": "app"}, "greeter", "default", "app", None),
    ({"url": "https://c.example.com", "chart": "app", "targetNamespace": "tools"}, "tools-greeter", "tools",
     "app", None),
    ({"url": "https://c.example.com", "chart": "app", "releaseName": "front", "version": ">=1.0.0 <2.0.0"}, "front",
     "default", "app", ">=1.0.0 <2.0.0"),
    ({"repoType": "oci", "url": "oci://registry.example.com/charts/", "chart": "app", "version": "2.1.0"},
     "greeter", "default", "oci://registry.example.com/charts/app", "2.1.0"),
])
def test_the_release_is_named_as_flux_names_it(tmp_path, props, release, namespace, chart, version):
    import json
    path = app_file(tmp_path, f"""
        - name: greeter
          type: helm
          properties: {json.dumps(props)}
        """)
    run = run_stage({"app": str(path)})
    assert run.error is None, run.error
    (c,) = charts(run).values()
    assert (c.inputs["name"], c.inputs["namespace"], c.inputs["chart"], c.inputs.get("version")) == (
        release, namespace, chart, version)
    assert ("repositoryOpts" in c.inputs) == (props.get("repoType") != "oci")


def test_values_from_the_file_and_a_folder_chart_with_its_values_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "charts" / "greeter"
    folder.mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: greeter\nversion: 0.1.0\n")
    (folder / "values-production.yaml").write_text("replicas: 2\nmessage: production\nnested: {a: 1, b: 2}\n")
    path = app_file(tmp_path, """
        - name: settings
          type: k8s-objects
          properties:
            objects:
              - apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: greeter-values
                data:
                  values.yaml: |
                    nested: {b: 3}
                  port: "9090"
        - name: greeter
          type: helm
          properties:
            chart: charts/greeter
            valuesFiles: [values-production.yaml]
            valuesFrom:
              - kind: ConfigMap
                name: greeter-values
              - kind: ConfigMap
                name: greeter-values
                valuesKey: port
                targetPath: service.port
            values:
              message: mine
        """)
    run = run_stage({"app": str(path)})
    assert run.error is None, run.error
    (c,) = charts(run).values()
    assert c.inputs["chart"] == "charts/greeter" and "repositoryOpts" not in c.inputs
    # Flux's order: the files, then valuesFrom in order, then values; maps merge key by key.
    assert c.inputs["values"] == {"replicas": 2, "message": "mine", "nested": {"a": 1, "b": 3},
                                  "service": {"port": "9090"}}


def test_what_needs_the_cluster_or_a_controller_is_refused_at_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = app_file(tmp_path, """
        - name: a
          type: helm
          properties:
            url: https://c.example.com
            chart: app
            secretRef: creds
            valuesFrom:
              - kind: Secret
                name: somewhere
        - name: b
          type: helm
          properties:
            repoType: git
            url: https://git.example.com/charts.git
            chart: ./app
        - name: c
          type: helm
          properties:
            chart: no/such/folder
        - name: d
          type: helm
          properties:
            url: oci://registry.example.com/charts
            chart: app
          traits:
            - type: scaler
              properties:
                replicas: 2
        - name: e
          type: helm
          properties:
            repoType: oci
            url: oci://registry.example.com/charts
            chart: app
            valuesFiles: [values-prod.yaml]
        """)
    text = problems(path)
    lines = path.read_text().splitlines()

    def at(fragment: str, nth: int = 0) -> int:
        return [i for i, line in enumerate(lines, 1) if fragment in line][nth]

    assert (f"site.yaml:{at('secretRef')}: spec.components[0].properties.secretRef: is not supported: the "
            "repository's credentials would be read from a Secret in the cluster") in text
    assert f"site.yaml:{at('valuesFiles')}: spec.components[4].properties.valuesFiles[0]: a values file inside a " \
           "chart of an OCI registry is not read here" in text
    assert (f"site.yaml:{at('- kind: Secret')}: spec.components[0].properties.valuesFrom[0]: Secret 'somewhere' is "
            "not an object of this application: its values would be read from the cluster") in text
    assert f"site.yaml:{at('repoType: git')}: spec.components[1].properties.repoType: repoType 'git' is not " \
           "supported" in text
    assert (f"site.yaml:{at('no/such/folder')}: spec.components[2].properties.chart: 'no/such/folder' is not a chart "
            "folder of the project (no Chart.yaml there)") in text
    assert f"site.yaml:{at('url: oci://')}: spec.components[3].properties.url: 'oci://registry.example.com/charts' " \
           "is not a http:// or https:// URL; set repoType: oci for an OCI registry" in text
    assert "spec.components[3].traits[0]" in text and "scaler" in text


def test_the_chart_objects_carry_the_component_labels_and_annotations():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "g", "labels": {"app.kubernetes.io/name": "greeter", "team": "chart"}},
                  "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "g"}}, "spec": {}}}}
    out = stamp("Deployment", deployment, {"team": "web", "app.oam.dev/component": "greeter"}, {"note": "x"})
    assert out["metadata"]["labels"] == {"app.kubernetes.io/name": "greeter", "team": "web",
                                         "app.oam.dev/component": "greeter"}
    assert out["metadata"]["annotations"] == {"note": "x"}
    assert out["spec"]["template"]["metadata"]["labels"] == {"app": "g", "team": "web",
                                                             "app.oam.dev/component": "greeter"}
    assert deployment["metadata"]["labels"]["team"] == "chart", "the provider's inputs are not changed in place"
    service = stamp("Service", {"kind": "Service", "metadata": {"name": "g"}, "spec": {"template": "x"}}, {"a": "b"},
                    {})
    assert service["spec"] == {"template": "x"} and service["metadata"] == {"name": "g", "labels": {"a": "b"}}


def test_a_chart_objects_are_the_provider_s_not_objects_the_stack_holds():
    chart = "urn:pulumi:dev::p::oam:index:Application$oam:component:HelmChart$kubernetes:helm.sh/v4:Chart::site-g-chart-g"
    child = ("urn:pulumi:dev::p::oam:index:Application$oam:component:HelmChart$kubernetes:helm.sh/v4:Chart$"
             "kubernetes:apps/v1:Deployment::site-g-chart-g:default/g")
    ours = "urn:pulumi:dev::p::oam:index:Application$oam:component:WebService$kubernetes:apps/v1:Deployment::site-web"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "g", "namespace": "default"}}
    applied = Applied.from_resource_outputs({
        chart: {"type": "kubernetes:helm.sh/v4:Chart", "outputs": {"resources": []}},
        child: {"type": "kubernetes:apps/v1:Deployment", "outputs": deployment},
        ours: {"type": "kubernetes:apps/v1:Deployment", "outputs": {**deployment, "metadata": {"name": "web"}}}})
    assert applied.keys == {"site-web"}
    assert applied.charted == {"site-g-chart-g:default/g"}


def test_values_files_of_a_repository_chart_are_read_from_its_archive(tmp_path):
    from tests.helmrepo import ChartRepo

    chart = Path(__file__).resolve().parents[2] / "examples" / "charts" / "greeter"
    with ChartRepo() as repo:
        repo.add(chart, "0.1.0")
        repo.add(chart, "0.2.0", values={"message": "newer"})
        repo.add(chart, "1.0.0-rc.1")

        def run(version: str, files: str = "[values.yaml, values-production.yaml]"):
            path = app_file(tmp_path, f"""
                - name: greeter
                  type: helm
                  properties:
                    url: {repo.url}
                    chart: greeter
                    version: "{version}"
                    valuesFiles: {files}
                """)
            return run_stage({"app": str(path)})

        # The files in order (the last wins), from the archive of the version the range selects.
        (c,) = charts(run(">=0.1.0 <0.2.0")).values()
        assert c.inputs["values"]["message"] == "production" and c.inputs["values"]["replicas"] == 2
        assert c.inputs["values"]["port"] == 8080, "maps merge key by key"
        (c,) = charts(run("*", "[values.yaml]")).values()
        assert c.inputs["values"]["message"] == "newer", "'*': the latest release, not a pre-release"
        assert "/greeter-0.2.0.tgz" in repo.requests and "/greeter-1.0.0-rc.1.tgz" not in repo.requests
        assert "the repository offers no version in '9.9.9'" in run("9.9.9").error
        assert "chart greeter 0.1.0 has no values-staging.yaml" in run("0.1.0", "[values-staging.yaml]").error
        assert "is a range of a form read here only by the provider" in run("~0.1").error


@pytest.mark.parametrize("wanted, offered, picked", [
    ("1.2.3", ["1.2.3", "1.3.0"], "1.2.3"),
    ("*", ["1.2.3", "1.10.0", "2.0.0-beta.1"], "1.10.0"),
    (">=1.0.0, <1.5.0", ["0.9.0", "1.4.9", "1.5.0"], "1.4.9"),
    ("> 1.0.0 != 1.2.0", ["1.0.0", "1.2.0", "1.1.0"], "1.1.0"),
])
def test_a_range_selects_as_helm_does(wanted, offered, picked):
    from oam.kit.charts import pick_version

    assert pick_version(wanted, offered) == (picked, "")


def test_a_chart_object_someone_else_holds_is_refused(tmp_path):
    from oam.config import StageConfig
    from oam.kit.stage import Desired
    from oam.preflight import chart_objects
    from tests.harness import FakeCluster, StageRun

    existing = {("v1", "ConfigMap", "default"): {"greeter-config": {"owner": "ops"},
                                                 "mine": {"app.oam.dev/name": "site",
                                                          "delivery.oam.dev/stack": "dev.1234abcd"},
                                                 "theirs": {"app.oam.dev/name": "site",
                                                            "delivery.oam.dev/stack": "prod.99999999"}}}
    cluster = FakeCluster(StageConfig(app="x"), StageRun(), None, existing)
    app = read_application(app_file(tmp_path, """
        - name: greeter
          type: helm
          properties:
            url: https://c.example.com
            chart: greeter
        """))
    chart = Desired("site-greeter-chart-greeter", "greeter", "chart-greeter",
                    {"apiVersion": "helm.sh/v4", "kind": "Chart", "metadata": {"name": "greeter",
                                                                              "namespace": "default"}})
    applied = Applied()
    applied.charted.add("site-greeter-chart-greeter:default/held")
    refused = chart_objects(app, applied, cluster, "dev.1234abcd")

    def config_map(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}

    assert refused(chart, "site-greeter-chart-greeter:default/greeter-config", config_map("greeter-config")) == (
        "component 'greeter': chart greeter holds ConfigMap greeter-config, which exists already in namespace "
        "'default' and is not this application's: the chart was not applied, and nothing that waits for it. Next: "
        "delete that object or rename the release (releaseName), then pulumi up again")
    assert "belongs to another stack, 'prod' (label delivery.oam.dev/stack=prod.99999999)" in refused(
        chart, "site-greeter-chart-greeter:default/theirs", config_map("theirs"))
    assert refused(chart, "site-greeter-chart-greeter:default/mine", config_map("mine")) is None
    assert refused(chart, "site-greeter-chart-greeter:default/new", config_map("new")) is None
    # One the stack holds is its own, whatever the cluster says.
    assert refused(chart, "site-greeter-chart-greeter:default/held", config_map("greeter-config")) is None
