"""The statefulset component: a StatefulSet named after the component, its Service, its replicas and autoscalers,
how it is awaited, the traits it takes and those it refuses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from oam.resources import ready_when
from tests.harness import ROOT, run_stage
from tests.unit.app_files import deploy, line, objects, problems

EXAMPLE = "examples/definitions/component-statefulset.yaml"
SELECTOR = {"app.oam.dev/name": "shop", "app.oam.dev/component": "db"}
STS = "shop-db-statefulset"
SVC = "shop-db-service"

# A small statefulset; each test adds what it is about (traits, properties, other components).
BASE = """\
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
spec:
  components:
    - name: db
      type: statefulset
      properties:
        image: registry.example.com/data/db:16
        ports:
          - port: 5432
            expose: true
"""


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def with_traits(*traits: str) -> str:
    """BASE with these trait entries (YAML, indented as list items under traits)."""
    return BASE + "      traits:\n" + "".join(traits)


SCALER = "        - type: scaler\n          properties:\n            replicas: {}\n"


# --- what it renders ---------------------------------------------------------------------------


def test_the_example_is_a_statefulset_named_after_the_component_with_a_plain_service():
    o = objects(str(ROOT / EXAMPLE))
    key, svc_key = "session-store-cache-statefulset", "session-store-cache-service"
    assert set(o) == {svc_key, key}
    sts = o[key]
    selector = {"app.oam.dev/name": "session-store", "app.oam.dev/component": "cache"}
    assert (sts["apiVersion"], sts["kind"], sts["metadata"]["name"]) == ("apps/v1", "StatefulSet", "cache")
    assert sts["metadata"]["namespace"] == "default" and sts["metadata"]["labels"] == selector
    assert sts["spec"]["selector"] == {"matchLabels": selector}
    assert sts["spec"]["replicas"] == 2, "scaler sets spec.replicas"
    # KubeVela's statefulset sets no serviceName, no volumeClaimTemplates and no update strategy.
    assert set(sts["spec"]) == {"replicas", "selector", "template"}
    pod = sts["spec"]["template"]
    assert pod["metadata"]["labels"] == {**selector, "app.oam.dev/revision": "cache-v1"}
    c = pod["spec"]["containers"][0]
    assert (c["name"], c["image"]) == ("cache", "docker.io/library/redis:7.4")
    assert c["ports"] == [{"containerPort": 6379, "name": "redis", "protocol": "TCP"}]
    assert c["readinessProbe"]["exec"] == {"command": ["redis-cli", "ping"]}
    assert pod["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]
    svc = o[svc_key]
    assert (svc["kind"], svc["metadata"]["name"], svc["spec"]["type"]) == ("Service", "cache", "ClusterIP")
    assert "clusterIP" not in svc["spec"], "not headless: KubeVela's Service for exposed ports balances over the pods"
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [{"name": "redis", "port": 6379, "targetPort": 6379, "protocol": "TCP"}]


def test_one_pod_without_scaler_and_ports_as_webservice_renders_them(tmp_path):
    text = BASE.replace("""        ports:
          - port: 5432
            expose: true
""", """        ports:
          - port: 5432
          - port: 80
            containerPort: 8080
            expose: true
          - port: 9187
            name: metrics
            expose: true
            nodePort: 30187
        exposeType: NodePort
        hostAliases:
          - ip: 10.0.0.7
            hostnames: [primary.internal]
""")
    o = objects(write(tmp_path, text))
    sts = o[STS]
    assert sts["spec"]["replicas"] == 1, "one pod, as Kubernetes' default"
    pod = sts["spec"]["template"]["spec"]
    assert [(p["containerPort"], p["name"]) for p in pod["containers"][0]["ports"]] == [
        (5432, "port-5432"), (8080, "port-8080"), (9187, "metrics")]
    assert pod["hostAliases"] == [{"ip": "10.0.0.7", "hostnames": ["primary.internal"]}]
    svc = o[SVC]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"] == [
        {"name": "port-8080", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9187, "targetPort": 9187, "protocol": "TCP", "nodePort": 30187}]


def test_port_alone_makes_no_service(tmp_path):
    text = BASE.replace("        ports:\n          - port: 5432\n            expose: true\n", "        port: 5432\n")
    o = objects(write(tmp_path, text))
    assert set(o) == {STS}
    assert o[STS]["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 5432, "name": "port-5432", "protocol": "TCP"}]


# --- under Pulumi's mocks: readiness and order -------------------------------------------------


def test_the_provider_awaits_every_pod_of_the_current_template_ready_within_ready_timeout():
    run = deploy(EXAMPLE, readyTimeout="90s")
    key = "session-store-cache-statefulset"
    sts, svc = run.resources[key], run.resources["session-store-cache-service"]
    assert sts.type == "kubernetes:apps/v1:StatefulSet" and svc.type == "kubernetes:core/v1:Service"
    assert sts.timeouts == {"create": "1m30s", "update": "1m30s"}, "readyTimeout bounds the wait for its pods"
    annotations = sts.inputs["metadata"]["annotations"]
    # As a Deployment's: counts checked against the current generation, which the provider's own StatefulSet
    # wait does not compare (it can pass on the status of the template before).
    assert annotations["pulumi.com/waitFor"] == ready_when(2)
    assert json.loads(annotations["pulumi.com/waitFor"]) == [
        "jsonpath={.status.replicas}=2", "jsonpath={.status.updatedReplicas}=2", "jsonpath={.status.readyReplicas}=2"]
    assert "pulumi.com/skipAwait" not in annotations
    assert svc.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert sts.parent == run.resources["session-store-cache"].urn
    assert run.resources["session-store-cache"].type == "oam:component:StatefulSet"


def test_at_zero_replicas_nothing_is_awaited_and_nothing_waits_for_it(tmp_path):
    text = with_traits(SCALER.format(0), """\
        - type: gateway
          properties:
            domain: db.example.com
            http:
              /: 5432
""") + """\
    - name: api
      type: webservice
      dependsOn: [db]
      properties:
        image: registry.example.com/shop/api:7
"""
    run = deploy(write(tmp_path, text))
    sts = run.manifest(STS)
    assert sts["spec"]["replicas"] == 0
    # The status leaves out counts at 0: a waitFor on them would never match.
    assert sts["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert "pulumi.com/waitFor" not in sts["metadata"]["annotations"]
    (ingress,) = run.of_kind("Ingress")
    assert not run.depends(ingress, STS) and not run.depends("shop-api-deployment", STS)


def test_a_route_to_the_statefulset_waits_for_its_pods(tmp_path):
    text = with_traits("""\
        - type: gateway
          properties:
            domain: db.example.com
            http:
              /: 5432
        - type: istio-gateway
          properties:
            hosts: [db.example.com]
            port: 5432
""")
    run = deploy(write(tmp_path, text))
    (ingress,) = run.of_kind("Ingress")
    (route,) = run.of_kind("VirtualService")
    for key in (ingress, route):
        assert run.depends(key, STS), f"{key} sends traffic to the statefulset's pods before they are Ready"
        assert run.depends(key, SVC)


def test_depends_on_a_statefulset_and_a_statefulset_that_depends(tmp_path):
    text = BASE + """\
    - name: api
      type: webservice
      dependsOn: [db]
      properties:
        image: registry.example.com/shop/api:7
    - name: queue
      type: statefulset
      dependsOn: [api]
      properties:
        image: registry.example.com/data/queue:3
"""
    run = deploy(write(tmp_path, text))
    assert run.depends("shop-api-deployment", STS), "api starts once the database's pods are Ready"
    assert run.depends("shop-queue-statefulset", "shop-api-deployment")


# What makes the provider replace a StatefulSet rather than update it (pulumi-kubernetes' diff.go):
# every pod deleted before new ones exist.
FORCE_NEW = (("metadata", "name"), ("metadata", "namespace"), ("spec", "selector"), ("spec", "serviceName"),
             ("spec", "volumeClaimTemplates"), ("spec", "podManagementPolicy"), ("spec", "revisionHistoryLimit"))


def field(manifest: dict, path: tuple) -> object:
    for part in path:
        manifest = manifest.get(part) if isinstance(manifest, dict) else None
    return manifest


def test_a_new_image_is_an_update_of_the_same_statefulset_not_a_replacement(tmp_path):
    first = deploy(write(tmp_path, with_traits(SCALER.format(3))))
    second = deploy(write(tmp_path, with_traits(SCALER.format(3)).replace("db:16", "db:17")), first)
    assert list(second.of_kind("StatefulSet")) == [STS]
    assert second.resources[STS].urn == first.resources[STS].urn
    before, after = first.manifest(STS), second.manifest(STS)
    for path in FORCE_NEW:
        assert field(before, path) == field(after, path), f"{'.'.join(path)} changed: the provider would replace it"
    assert {k for k in after["spec"] if after["spec"][k] != before["spec"][k]} == {"template"}
    pod = after["spec"]["template"]
    assert pod["metadata"]["labels"]["app.oam.dev/revision"] == "db-v2"
    assert pod["spec"]["containers"][0]["image"] == "registry.example.com/data/db:17"
    assert after["metadata"]["annotations"]["pulumi.com/waitFor"] == ready_when(3), "every pod on the new template"


def test_scaler_sets_the_replicas_and_a_new_count_is_awaited(tmp_path):
    first = deploy(write(tmp_path, with_traits(SCALER.format(1))))
    second = deploy(write(tmp_path, with_traits(SCALER.format(3))), first)
    sts = second.manifest(STS)
    assert sts["spec"]["replicas"] == 3
    assert sts["metadata"]["annotations"]["pulumi.com/waitFor"] == ready_when(3)
    pod = sts["spec"]["template"]
    assert pod["metadata"]["labels"]["app.oam.dev/revision"] == "db-v1", "replicas are not a new revision"


# --- autoscalers -------------------------------------------------------------------------------

HPA = "        - type: hpa\n          properties:\n            min: 2\n            max: 5\n"
CPUSCALER = ("        - type: cpuscaler\n          properties:\n            min: 2\n            max: 5\n"
             "            cpuUtil: 70\n")


@pytest.mark.parametrize("entry, api", [(HPA, "autoscaling/v2"), (CPUSCALER, "autoscaling/v1")],
                         ids=["hpa", "cpuscaler"])
def test_an_autoscaler_with_target_kind_statefulset_scales_it(tmp_path, entry, api):
    run = deploy(write(tmp_path, with_traits(entry + "            targetKind: StatefulSet\n")))
    (key,) = run.of_kind("HorizontalPodAutoscaler")
    hpa = run.manifest(key)
    assert hpa["apiVersion"] == api
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    sts = run.manifest(STS)
    assert "replicas" not in sts["spec"], "the autoscaler owns the replica count"
    # Without a count of its own, the provider's own StatefulSet wait applies (the live spec.replicas).
    annotations = sts["metadata"]["annotations"]
    assert "pulumi.com/waitFor" not in annotations and "pulumi.com/skipAwait" not in annotations


@pytest.mark.parametrize("entry", [HPA, CPUSCALER], ids=["hpa", "cpuscaler"])
def test_an_autoscaler_left_on_deployment_is_refused_with_the_kind_to_set(tmp_path, entry):
    text = with_traits(entry)
    path = write(tmp_path, text)
    message = problems(path)
    trait = entry.split("type: ")[1].split("\n")[0]
    at = line(text, f"- type: {trait}") + 1  # targetKind is not written: the line of the trait's properties
    assert (f"{path}:{at}: "
            f"spec.components[0].traits[0].properties.targetKind: {trait} would scale Deployment 'db', and "
            f"statefulset runs its pods in a StatefulSet; set targetKind: StatefulSet") in message
    assert not run_stage({"app": path}).resources, "refused before a single resource is registered"


def test_a_webservice_autoscaler_may_not_name_a_statefulset(tmp_path):
    text = with_traits(HPA + "            targetKind: StatefulSet\n").replace("type: statefulset", "type: webservice")
    path = write(tmp_path, text)
    assert (f"{path}:{line(text, 'targetKind: StatefulSet')}: spec.components[0].traits[0].properties.targetKind: "
            "hpa would scale StatefulSet 'db', and webservice runs its pods in a Deployment; "
            "set targetKind: Deployment") in problems(path)


# --- traits that apply as to a webservice ------------------------------------------------------


def test_pod_traits_shape_the_statefulset(tmp_path):
    text = with_traits(SCALER.format(2), """\
        - type: sidecar
          properties:
            name: exporter
            image: registry.example.com/tools/db-exporter:1
        - type: env
          properties:
            env:
              PGDATA: /var/lib/data/pgdata
        - type: labels
          properties:
            team: data
        - type: annotations
          properties:
            owner.example.com/contact: data@example.com
        - type: resource
          properties:
            cpu: 1
            memory: 2Gi
        - type: storage
          properties:
            pvc:
              - name: data
                mountPath: /var/lib/data
                resources:
                  requests:
                    storage: 2Gi
        - type: expose
          properties:
            port: [9187]
        - type: json-merge-patch
          properties:
            spec:
              podManagementPolicy: Parallel
""")
    run = deploy(write(tmp_path, text))
    sts = run.manifest(STS)
    pod = sts["spec"]["template"]
    db, exporter = pod["spec"]["containers"]
    assert (exporter["name"], exporter["image"]) == ("exporter", "registry.example.com/tools/db-exporter:1")
    assert {"name": "PGDATA", "value": "/var/lib/data/pgdata"} in db["env"]
    assert pod["metadata"]["labels"]["team"] == "data" and sts["metadata"]["labels"]["team"] == "data"
    assert pod["metadata"]["annotations"]["owner.example.com/contact"] == "data@example.com"
    assert db["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert any(m["mountPath"] == "/var/lib/data" for m in db["volumeMounts"])
    (claim,) = run.of_kind("PersistentVolumeClaim")
    assert run.depends(STS, claim), "the claim its pods mount exists before them"
    assert sts["spec"]["podManagementPolicy"] == "Parallel" and sts["spec"]["replicas"] == 2
    assert sts["spec"]["selector"] == {"matchLabels": SELECTOR}, "a patch or a label trait leaves the selector"
    assert [p["port"] for p in run.manifest(SVC)["spec"]["ports"]] == [5432, 9187]


# --- what is refused ---------------------------------------------------------------------------

REFUSED = {  # trait -> (its entry, what is said of it, hint)
    "k8s-update-strategy": ("        - type: k8s-update-strategy\n          properties:\n            targetKind: "
                            "Deployment\n            strategy:\n              type: Recreate\n",
                            "trait 'k8s-update-strategy' changes a Deployment's own fields, and statefulset runs "
                            "a StatefulSet", "remove it, or use a webservice or worker component"),
    "canary-traffic": ("        - type: canary-traffic\n          properties:\n            port: [5432]\n",
                       "has canary-traffic but no rollout trait", "add a rollout trait"),
    "rollout": ("        - type: rollout\n          properties:\n            targetSize: 2\n"
                "            rolloutBatches:\n              - replicas: 2\n",
                "a statefulset component is not rolled out revision by revision", "use rollout with webservice"),
    "rolling-release": ("        - type: rolling-release\n          properties:\n            weight: 50\n",
                        "a statefulset component is not rolled out revision by revision",
                        "use rolling-release with webservice"),
}


@pytest.mark.parametrize("trait", sorted(REFUSED))
def test_traits_that_split_revisions_or_set_a_deployment_strategy_are_refused_with_file_line_and_field(tmp_path,
                                                                                                      trait):
    entry, why, hint = REFUSED[trait]
    text = with_traits("        - type: labels\n          properties:\n            team: data\n", entry)
    path = write(tmp_path, text)
    message = problems(path)
    at = line(text, f"- type: {trait}")
    assert f"{path}:{at}: spec.components[0].traits[1].type: " in message, message
    assert why in message and hint in message, message
    assert "traits[0]" not in message, "labels applies"
    run = run_stage({"app": path})
    assert run.error is not None and not run.resources, "refused before a single resource is registered"


def test_canary_deploy_does_not_act_on_a_statefulset(tmp_path):
    text = BASE + """\
  workflow:
    steps:
      - name: canary
        type: canary-deploy
        properties:
          weight: 50
          components: [db]
"""
    path = write(tmp_path, text)
    assert (f"{path}:{line(text, 'components: [db]')}: spec.workflow.steps[0].properties.components[0]: "
            "'db' is a statefulset component, which is not rolled out revision by revision") in problems(path)


HELD = [
    ("OnDelete", "        - type: json-merge-patch\n          properties:\n            spec:\n"
                 "              updateStrategy:\n                type: OnDelete\n",
     "with an OnDelete update strategy the pods keep their old template"),
    ("a partition", "        - type: json-merge-patch\n          properties:\n            spec:\n"
                    "              updateStrategy:\n                rollingUpdate:\n                  partition: 2\n",
     "with partition 2 the pods numbered below 2 keep their old template"),
    ("a partition by json-patch", "        - type: json-patch\n          properties:\n            operations:\n"
                                  "              - op: add\n                path: /spec/updateStrategy\n"
                                  "                value: {type: RollingUpdate, rollingUpdate: {partition: 1}}\n",
     "with partition 1 the pods numbered below 1 keep their old template"),
]


@pytest.mark.parametrize("entry, why", [h[1:] for h in HELD], ids=[h[0] for h in HELD])
def test_an_update_strategy_pulumi_up_would_wait_on_until_ready_timeout_is_refused(tmp_path, entry, why):
    text = with_traits("        - type: labels\n          properties:\n            team: data\n", entry)
    path = write(tmp_path, text)
    message = problems(path)
    # The line of updateStrategy, or of the trait's properties when an operation of json-patch writes it.
    at = line(text, "updateStrategy:") if "updateStrategy:" in text else line(text, entry.splitlines()[0]) + 1
    assert f"{path}:{at}: spec.components[0].traits[1].properties.spec.updateStrategy: {why}" in message, message
    assert "pulumi up would wait for them until readyTimeout; leave updateStrategy out" in message
    assert message.count(f"{path}:") == 1


def test_a_rolling_update_of_every_pod_is_allowed(tmp_path):
    text = with_traits("        - type: json-merge-patch\n          properties:\n            spec:\n"
                       "              updateStrategy:\n                type: RollingUpdate\n"
                       "                rollingUpdate:\n                  partition: 0\n")
    sts = objects(write(tmp_path, text))[STS]
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}


BAD = [
    ("port and ports", ("        ports:\n", "        port: 80\n        ports:\n"), "port: 80",
     "spec.components[0].properties.port: give port or ports, not both"),
    ("a port twice", ("            expose: true\n", "            expose: true\n          - port: 5432\n"),
     "- port: 5432\n\n", "spec.components[0].properties.ports[1].port: port 5432 is listed twice"),
    ("ExternalName", ("            expose: true\n", "            expose: true\n        exposeType: ExternalName\n"),
     "exposeType", "spec.components[0].properties.exposeType"),
    ("a Service type and nothing exposed", ("            expose: true\n", "        exposeType: NodePort\n"),
     "exposeType", "spec.components[0].properties.exposeType: exposeType is the type of the Service"),
    ("limit (webservice only)", ("            expose: true\n", "            expose: true\n        limit:\n"
                                                                "          cpu: 2\n"),
     "limit", "spec.components[0].properties.limit"),
    ("a port out of range", ("          - port: 5432\n", "          - port: 65536\n"), "port: 65536",
     "spec.components[0].properties.ports[0].port"),
]


@pytest.mark.parametrize("old_new, marker, want", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_properties_name_file_line_and_field(tmp_path, old_new, marker, want):
    old, new = old_new
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if marker == "- port: 5432\n\n":  # the second one
        at_line = text[:text.rindex("- port: 5432")].count("\n") + 1
    else:
        at_line = line(text, marker)
    path = write(tmp_path, text)
    assert f"{path}:{at_line}: {want}" in problems(path)


def test_every_problem_of_the_file_at_once(tmp_path):
    text = with_traits(HPA, REFUSED["rollout"][0]).replace("        ports:\n", "        port: 80\n        ports:\n")
    path = write(tmp_path, text)
    message = problems(path)
    for where in ("properties.port:", "traits[0].properties.targetKind:", "traits[1].type:"):
        assert where in message, message


def test_kubevelas_own_statefulset_example_deploys(tmp_path):
    """KubeVela's reference example of statefulset (postgres with scaler and storage), as its documentation gives it."""
    app = {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "postgres"},
           "spec": {"components": [{"name": "postgres", "type": "statefulset", "properties": {
               "cpu": "1", "exposeType": "ClusterIP", "image": "docker.io/library/postgres:16.4", "memory": "2Gi",
               "ports": [{"expose": True, "port": 5432, "protocol": "TCP"}],
               "env": [{"name": "POSTGRES_DB", "value": "mydb"}, {"name": "POSTGRES_USER", "value": "postgres"},
                       {"name": "POSTGRES_PASSWORD", "value": "kvsecretpwd123"}]},
               "traits": [
                   {"type": "scaler", "properties": {"replicas": 1}},
                   {"type": "storage", "properties": {"pvc": [
                       {"name": "postgresdb-pvc", "storageClassName": "local-path",
                        "resources": {"requests": {"storage": "2Gi"}}, "mountPath": "/var/lib/postgresql/data"}]}}]}]}}
    path = tmp_path / "postgres.yaml"
    path.write_text(yaml.safe_dump(app))
    run = deploy(str(path))
    sts = run.manifest("postgres-postgres-statefulset")
    assert (sts["kind"], sts["metadata"]["name"], sts["spec"]["replicas"]) == ("StatefulSet", "postgres", 1)
    db = sts["spec"]["template"]["spec"]["containers"][0]
    assert db["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    assert any(m["mountPath"] == "/var/lib/postgresql/data" for m in db["volumeMounts"])
    (claim,) = run.of_kind("PersistentVolumeClaim")
    assert run.manifest(claim)["spec"]["storageClassName"] == "local-path"
    assert run.manifest("postgres-postgres-service")["spec"]["ports"][0]["port"] == 5432
