"""Every definition: its example validates, renders under Pulumi's mocks, and makes what it should.

One example Application per definition lives in examples/definitions/<kind>-<name>.yaml;
the reference page (docs/definitions.md) shows the same files.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from oam.config import StageConfig
from oam.errors import OamError
from oam.model import read_application
from oam.registry import REGISTRIES, TRAITS
from oam.render import plan
from oam.revisions import History
from tests.harness import ROOT, StageRun, run_stage

EXAMPLES = ROOT / "examples" / "definitions"
KIND_FILE = {"component": "component", "trait": "trait", "policy": "policy", "workflow step": "step"}


def example(kind: str, name: str) -> Path:
    return EXAMPLES / f"{KIND_FILE[kind]}-{name}.yaml"


SUPPORTED = [(r.kind, n) for r in REGISTRIES for n in r.names() if not r.get(n).refused]
REFUSED = [(r.kind, n) for r in REGISTRIES for n in r.names() if r.get(n).refused]


def earlier(path: Path, tmp: Path) -> StageRun:
    """The stack a release example starts from: the same application at 1.4.0, deployed without a workflow."""
    text = path.read_text().replace(":1.5.0", ":1.4.0").split("  workflow:")[0]
    first = tmp / "first.yaml"
    first.write_text(text)
    run = run_stage({"app": str(first)})
    assert run.error is None, run.error
    return run


@pytest.mark.parametrize("kind, name", SUPPORTED, ids=[f"{k}-{n}" for k, n in SUPPORTED])
def test_every_definition_has_an_example_that_deploys(kind: str, name: str, tmp_path: Path):
    path = example(kind, name)
    assert path.exists(), f"{kind} {name} has no example at {path.relative_to(ROOT)}"
    text = path.read_text()
    assert f"type: {name}\n" in text, f"{path.name} does not use {name}"
    before = earlier(path, tmp_path) if ":1.5.0" in text else None  # a release from 1.4.0
    run = run_stage({"app": str(path.relative_to(ROOT))}, before)
    assert run.error is None, run.error
    assert run.resources, "nothing registered"
    # The provider's type of a core kind is kubernetes:core/v1:<Kind>; kubernetes:v1:<Kind> would be refused.
    assert not [r.type for r in run.resources.values() if r.type.startswith("kubernetes:v1:")]


def test_no_example_without_a_definition():
    known = {example(k, n).name for k, n in SUPPORTED}
    assert {p.name for p in EXAMPLES.glob("*.yaml")} <= known


def objects(file: str, **config) -> dict[str, dict]:
    """key -> manifest of the example's first stage."""
    app = read_application(EXAMPLES / file, file)
    return {d.key: d.manifest for d in plan(app, History(), StageConfig(app=file, **config)).objects}


def stage(file: str, previous: StageRun | None = None, **config) -> StageRun:
    run = run_stage({"app": f"examples/definitions/{file}", **config}, previous)
    assert run.error is None, run.error
    return run


def container(manifest: dict, index: int = 0) -> dict:
    spec = manifest["spec"]
    pod = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    return pod["spec"]["containers"][index]


# --- components --------------------------------------------------------------------------------


def test_webservice_exposes_its_marked_ports_and_mounts_by_source():
    o = objects("component-webservice.yaml")
    svc = o["web-frontend-service"]
    assert svc["metadata"]["name"] == "frontend"
    assert svc["spec"]["ports"] == [{"name": "port-8080", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    c = container(o["web-frontend-deployment"])
    assert [p["containerPort"] for p in c["ports"]] == [8080, 9090]
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}}
    assert c["volumeMounts"] == [{"name": "settings", "mountPath": "/etc/frontend"},
                                 {"name": "cache", "mountPath": "/var/cache/frontend"}]
    volumes = o["web-frontend-deployment"]["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "settings", "configMap": {"name": "frontend-settings", "defaultMode": 420}},
                       {"name": "cache", "emptyDir": {}}]


def test_task_is_a_job_its_dependent_waits_for():
    run = stage("component-task.yaml")
    job = run.manifest("store-migrate-job")
    assert (job["kind"], job["metadata"]["name"]) == ("Job", "store-migrate")
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert "replicas" not in job["spec"] and "selector" not in job["spec"]
    assert run.depends("store-api-deployment", "store-migrate-job"), "the API starts once the migration is done"
    assert run.resources["store-migrate-job"].options.get("deleteBeforeReplace")
    assert run.resources["store-migrate-job"].timeouts, "it waits as long as pods may take to be Ready"


def test_cron_task_is_a_cronjob():
    cron = objects("component-cron-task.yaml")["reports-nightly-cronjob"]
    assert (cron["apiVersion"], cron["kind"], cron["metadata"]["name"]) == ("batch/v1", "CronJob", "nightly")
    assert cron["spec"]["schedule"] == "0 2 * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 2
    assert container(cron)["image"] == "registry.example.com/shop/report:3"


def test_k8s_objects_are_applied_as_written_in_the_namespace():
    run = stage("component-k8s-objects.yaml")
    cm, role = run.manifest("base-settings-configmap-frontend-settings"), run.manifest("base-settings-role-reader")
    assert run.resources["base-settings-configmap-frontend-settings"].type == "kubernetes:core/v1:ConfigMap"
    assert cm["data"] == {"theme": "dark"} and cm["metadata"]["namespace"] == "default"
    assert run.resources["base-settings-role-reader"].type == "kubernetes:rbac.authorization.k8s.io/v1:Role"
    assert role["rules"][0]["verbs"] == ["get", "list"]
    assert not run.of_kind("Deployment")


def test_every_object_is_registered_with_the_pinned_provider_and_a_secret_stays_secret(tmp_path):
    import yaml
    from pulumi.runtime import rpc

    app = yaml.safe_load((EXAMPLES / "component-k8s-objects.yaml").read_text())
    app["spec"]["components"][0]["properties"]["objects"].append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-token"}, "stringData": {"token": "s3cret"}})
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(app))
    run = run_stage({"app": str(tmp_path / "app.yaml")})
    assert run.error is None, run.error
    secret = next(r for r in run.resources.values() if r.inputs.get("kind") == "Secret")
    assert secret.type == "kubernetes:core/v1:Secret"
    assert rpc.is_rpc_secret(secret.inputs["stringData"]), "the data goes to the engine as a secret"
    assert secret.options["additionalSecretOutputs"] == ["data", "stringData"]
    version = (ROOT / "requirements.txt").read_text().split("pulumi-kubernetes==")[1].split()[0]
    kinds = [r for r in run.resources.values() if r.type.startswith("kubernetes:")]
    assert kinds and all(r.options.get("version") == version for r in kinds)


# --- traits -----------------------------------------------------------------------------------


def test_labels_and_annotations_null_removes_a_key():
    d = objects("trait-labels.yaml")["web-frontend-deployment"]
    for meta in (d["metadata"], d["spec"]["template"]["metadata"]):
        assert meta["labels"]["team"] == "storefront" and meta["labels"]["tier"] == "frontend"
        assert "legacy" not in meta["labels"]


def test_sidecar_runs_next_to_the_component_and_mounts_its_volume():
    d = objects("trait-sidecar.yaml")["web-frontend-deployment"]
    shipper = container(d, 1)
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["frontend", "shipper"]
    assert shipper["volumeMounts"] == [{"name": "logs", "mountPath": "/logs"}]


def test_env_sets_replaces_and_removes():
    env = container(objects("trait-env.yaml")["web-frontend-deployment"])["env"]
    assert env == [{"name": "LOG_LEVEL", "value": "warn"}, {"name": "REGION", "value": "eu-west"}]


def test_resource_sets_requests_and_limits():
    c = container(objects("trait-resource.yaml")["web-frontend-deployment"])
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def test_volumes_trait_gives_each_volume_one_source():
    volumes = objects("trait-volumes.yaml")["web-frontend-deployment"]["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "data", "persistentVolumeClaim": {"claimName": "frontend-data"}},
                       {"name": "settings", "configMap": {"name": "frontend-settings"}}]


def test_storage_makes_the_claim_before_the_pods():
    run = stage("trait-storage.yaml")
    claim = run.manifest("db-postgres-pvc-pgdata")
    assert claim["spec"]["resources"] == {"requests": {"storage": "20Gi"}}
    assert run.depends("db-postgres-deployment", "db-postgres-pvc-pgdata")
    assert claim["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", "a claim may bind only for its pod"
    assert "db-postgres-secret-pg-credentials" not in run.resources, "mountOnly: made elsewhere"
    c = container(run.manifest("db-postgres-deployment"))
    assert c["env"] == [{"name": "POSTGRES_PASSWORD",
                         "valueFrom": {"secretKeyRef": {"name": "pg-credentials", "key": "password"}}}]


def test_gateway_makes_an_ingress_that_waits_for_the_pods():
    run = stage("trait-gateway.yaml")
    ing = run.manifest("web-frontend-ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "service": {"name": "frontend", "port": {"number": 8080}}}
    assert run.manifest("web-frontend-service")["spec"]["ports"][0]["port"] == 8080
    assert run.depends("web-frontend-ingress", "web-frontend-deployment")


@pytest.mark.parametrize("file, cls", [("trait-ingress.yaml", None), ("trait-ingress-1-20.yaml", "traefik")])
def test_older_ingress_traits_use_the_served_ingress_api(file, cls):
    ing = objects(file)["web-frontend-ingress"]
    assert ing["apiVersion"] == "networking.k8s.io/v1" and ing["spec"]["rules"][0]["host"] == "shop.example.com"
    assert (ing["metadata"].get("annotations") or {}).get("kubernetes.io/ingress.class") == cls


@pytest.mark.parametrize("file, api", [("trait-cpuscaler.yaml", "autoscaling/v1"), ("trait-hpa.yaml", "autoscaling/v2")])
def test_autoscalers_own_the_replicas(file, api):
    run = stage(file)
    hpa = run.manifest("web-frontend-hpa")
    assert hpa["apiVersion"] == api and hpa["spec"]["scaleTargetRef"]["name"] == "frontend"
    d = run.manifest("web-frontend-deployment")
    assert "replicas" not in d["spec"], "the autoscaler sets them"
    assert "pulumi.com/waitFor" not in d["metadata"]["annotations"]


def test_istio_gateway_without_match_routes_every_path():
    route = objects("trait-istio-gateway.yaml")["web-frontend-gateway-route"]
    assert "match" not in route["spec"]["http"][0]


def pod(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]


POD_TRAITS = ["service-account", "init-container", "command", "container-image", "hostalias", "affinity",
              "securitycontext", "startup-probe", "lifecycle", "topologyspreadconstraints", "service-binding"]


@pytest.mark.parametrize("name", POD_TRAITS)
def test_traits_that_change_the_pods_are_part_of_the_revision(name):
    assert TRAITS.get(name).shapes_pod


def test_service_account_runs_the_pods_as_an_account_made_before_them():
    run = stage("trait-service-account.yaml")
    assert pod(run.manifest("web-frontend-deployment"))["serviceAccountName"] == "frontend"
    account = run.manifest("web-frontend-service-account")
    assert (account["kind"], account["metadata"]["name"], account["metadata"]["namespace"]) == (
        "ServiceAccount", "frontend", "default")
    role, binding = run.manifest("web-frontend-role"), run.manifest("web-frontend-role-binding")
    assert role["rules"] == [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["configmaps"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "frontend"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "frontend"}]
    cluster = run.manifest("web-frontend-cluster-role")
    cluster_binding = run.manifest("web-frontend-cluster-role-binding")
    assert cluster["metadata"]["name"] == "default:frontend" and "namespace" not in cluster["metadata"]
    assert cluster["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["nodes"]}]
    assert cluster_binding["subjects"] == [{"kind": "ServiceAccount", "name": "frontend", "namespace": "default"}]
    assert run.resources["web-frontend-cluster-role"].type == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
    for role in ("service-account", "role", "role-binding", "cluster-role", "cluster-role-binding"):
        assert run.depends("web-frontend-deployment", f"web-frontend-{role}"), role
    assert run.depends("web-frontend-role-binding", "web-frontend-role")


def test_init_container_shares_a_scratch_volume_with_the_component():
    spec = pod(objects("trait-init-container.yaml")["web-frontend-deployment"])
    assert spec["initContainers"] == [{
        "name": "fetch-assets", "image": "registry.example.com/tools/fetcher:2", "imagePullPolicy": "IfNotPresent",
        "args": ["--config", "/etc/fetcher/assets.yaml", "--to", "/work"],
        "env": [{"name": "ASSETS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "assets-token", "key": "token"}}}],
        "volumeMounts": [{"name": "workdir", "mountPath": "/work"}, {"name": "settings", "mountPath": "/etc/fetcher"}]}]
    assert spec["containers"][0]["volumeMounts"][-1] == {"name": "workdir", "mountPath": "/usr/share/frontend/assets"}
    assert spec["volumes"][-1] == {"name": "workdir", "emptyDir": {}}


def test_command_replaces_the_command_and_edits_the_arguments():
    c = container(objects("trait-command.yaml")["web-frontend-deployment"])
    assert c["command"] == ["/bin/frontend-server"]
    assert c["args"] == ["--port", "8080", "--access-log"]


def test_container_image_changes_the_named_containers():
    d = objects("trait-container-image.yaml")["web-frontend-deployment"]
    assert container(d)["image"] == "registry.example.com/shop/frontend:1.4.1"
    assert "imagePullPolicy" not in container(d)
    assert (container(d, 1)["image"], container(d, 1)["imagePullPolicy"]) == (
        "registry.example.com/tools/log-shipper:5.1", "Always")


def test_hostalias_adds_entries_to_etc_hosts():
    spec = pod(objects("trait-hostalias.yaml")["web-frontend-deployment"])
    assert spec["hostAliases"] == [{"ip": "10.20.0.15", "hostnames": ["payments.internal", "payments"]}]


def test_affinity_sets_the_scheduling_rules_and_tolerations():
    spec = pod(objects("trait-affinity.yaml")["web-frontend-deployment"])
    assert spec["affinity"]["podAntiAffinity"] == {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app.oam.dev/component": "frontend"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}
    assert spec["affinity"]["nodeAffinity"] == {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In",
                                                     "values": ["linux"]}]}]}}
    assert "podAffinity" not in spec["affinity"]
    assert spec["tolerations"] == [{"key": "pool", "effect": "NoSchedule", "value": "web", "operator": "Equal"}]


def test_securitycontext_sets_the_container_security_context_with_kubevela_defaults():
    c = container(objects("trait-securitycontext.yaml")["web-frontend-deployment"])
    assert c["securityContext"] == {"capabilities": {"drop": ["ALL"]}, "runAsUser": 10001, "runAsGroup": 10001,
                                    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "privileged": False, "runAsNonRoot": True}


def test_startup_probe_is_added_next_to_the_liveness_probe():
    c = container(objects("trait-startup-probe.yaml")["web-frontend-deployment"])
    assert c["startupProbe"] == {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                 "initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                                 "successThreshold": 1, "failureThreshold": 30}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}


def test_lifecycle_hooks_every_container():
    c = container(objects("trait-lifecycle.yaml")["web-frontend-deployment"])
    assert c["lifecycle"] == {"postStart": {"httpGet": {"path": "/warm-up", "port": 8080, "scheme": "HTTP"}},
                              "preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 10"]}}}


def test_topologyspreadconstraints_spread_the_pods():
    spec = pod(objects("trait-topologyspreadconstraints.yaml")["web-frontend-deployment"])
    assert spec["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.oam.dev/component": "frontend"}},
        "matchLabelKeys": ["app.oam.dev/revision"]}]


def test_service_binding_reads_variables_from_secret_keys():
    env = container(objects("trait-service-binding.yaml")["web-orders-deployment"])["env"]
    assert env == [{"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "username"}}},
                   {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "password"}}},
                   {"name": "DB_HOST", "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "DB_HOST"}}}]


SIDECAR = ("        - type: sidecar\n          properties:\n            name: shipper\n"
           "            image: registry.example.com/tools/log-shipper:5\n")
T = "spec.components[0].traits"

# (example, [(old, new)], the line's marker or (marker, nth), the path, a piece of the message): one
# mistake Kubernetes (or the kubelet) would refuse, refused with its line before anything is applied.
REFUSALS = {
    "command-no-such-container": ("command", [("            command:", "            containerName: proxy\n"
                                                                          "            command:")],
                                  "containerName: proxy", f"{T}[0].properties.containerName",
                                  "the pods of 'frontend' have no container 'proxy' (theirs: frontend)"),
    "command-args-and-addArgs": ("command", [("delArgs: [\"--debug\"]", "args: [\"--debug\"]")], ("properties:", 2),
                                 f"{T}[0].properties", "give args (the new arguments) or addArgs and delArgs"),
    "container-image-sidecar-added-later": ("container-image", [(SIDECAR, ""), ("Always\n", "Always\n" + SIDECAR)],
                                            "containerName: shipper",
                                            f"{T}[0].properties.containers[1].containerName",
                                            "container 'shipper' is added by a trait listed after this one"),
    "service-account-name": ("service-account", [("name: frontend\n            create", "name: Frontend\n"
                                                                                         "            create")],
                             "name: Frontend", f"{T}[0].properties.name",
                             "ServiceAccount name 'Frontend' is not valid"),
    "service-account-rule-without-api-groups": ("service-account", [("                apiGroups: [\"\"]\n"
                                                                     "                resources: [configmaps]\n",
                                                                     "                resources: [configmaps]\n")],
                                                "- verbs: [get, list, watch]", f"{T}[0].properties.privileges[0]",
                                                "needs apiGroups and resources"),
    "service-account-url-in-namespace": ("service-account", [("                apiGroups: [\"\"]\n"
                                                              "                resources: [configmaps]\n",
                                                              "                nonResourceURLs: [/healthz]\n")],
                                         "- verbs: [get, list, watch]", f"{T}[0].properties.privileges[0]",
                                         "give this privilege scope: cluster"),
    "init-container-name-taken": ("init-container", [("name: fetch-assets", "name: frontend")], ("name: frontend", 2),
                                  f"{T}[0].properties.name", "the pods of 'frontend' already have a container"),
    "init-container-unknown-volume": ("init-container", [("              - name: settings\n",
                                                          "              - name: config\n")],
                                      "- name: config", f"{T}[0].properties.extraVolumeMounts[0].name",
                                      "have no volume 'config'"),
    "hostalias-ip": ("hostalias", [("10.20.0.15", "10.20.0.300")], "ip: 10.20.0.300",
                     f"{T}[0].properties.hostAliases[0].ip", "'10.20.0.300' is not an IP address"),
    "affinity-toleration-without-key": ("affinity", [("- key: pool\n                value", "- value")],
                                        "- value: web", f"{T}[1].properties.tolerations[0]",
                                        "a toleration without a key must have operator Exists"),
    "affinity-namespace": ("affinity", [("                    topologyKey: kubernetes.io/hostname",
                                         "                    namespace: shop\n"
                                         "                    topologyKey: kubernetes.io/hostname")],
                           "podAffinityTerm:", f"{T}[1].properties.podAntiAffinity.preferred[0].podAffinityTerm",
                           'write namespaces: ["shop"]'),
    "affinity-gt-not-integer": ("affinity", [("operator: In\n                        values: [linux]",
                                              "operator: Gt\n                        values: [linux]")],
                                "- key: kubernetes.io/os", f"{T}[1].properties.nodeAffinity.required."
                                                          "nodeSelectorTerms[0].matchExpressions[0]",
                                "operator Gt compares integers"),
    "securitycontext-privileged": ("securitycontext", [("runAsUser: 10001", "privileged: true")], ("properties:", 2),
                                   f"{T}[0].properties", "a privileged container can always escalate"),
    "securitycontext-root": ("securitycontext", [("runAsUser: 10001", "runAsUser: 0")], ("properties:", 2),
                             f"{T}[0].properties", "runAsUser 0 is root"),
    "startup-probe-success-threshold": ("startup-probe", [("failureThreshold: 30", "successThreshold: 2")],
                                        ("properties:", 2), f"{T}[0].properties", "must be 1 (got 2)"),
    "lifecycle-tcp-socket": ("lifecycle", [("httpGet:\n                path: /warm-up\n", "tcpSocket:\n")],
                             "postStart:", f"{T}[0].properties.postStart", "does not run a tcpSocket hook"),
    "topologyspreadconstraints-key-twice": ("topologyspreadconstraints",
                                            [("matchLabelKeys: [app.oam.dev/revision]",
                                              "matchLabelKeys: [app.oam.dev/component]")],
                                            "- maxSkew: 1", f"{T}[1].properties.constraints[0]",
                                            "'app.oam.dev/component' is in both matchLabelKeys and labelSelector"),
    "service-binding-name-is-no-key": ("service-binding", [("DB_HOST:", "DB:HOST:")], "DB:HOST:",
                                       f"{T}[0].properties.envMappings.DB:HOST", "is not a Secret key"),
}


@pytest.mark.parametrize("mistake", REFUSALS)
def test_new_traits_refuse_what_kubernetes_would(mistake: str, tmp_path: Path):
    trait, pairs, marker, where, piece = REFUSALS[mistake]
    text = example("trait", trait).read_text()
    for old, new in pairs:
        assert old in text, f"the example no longer contains {old!r}"
        text = text.replace(old, new, 1)
    path = tmp_path / "app.yaml"
    path.write_text(text)
    with pytest.raises(OamError) as err:
        read_application(path, "app.yaml")
    marker, nth = marker if isinstance(marker, tuple) else (marker, 1)
    at = -1
    for _ in range(nth):
        at = text.index(marker, at + 1)
    line = text[:at].count("\n") + 1
    assert f"app.yaml:{line}: {where}: " in str(err.value), str(err.value)
    assert piece in str(err.value), str(err.value)


# --- policies and steps -------------------------------------------------------------------------


def test_deploy_goes_where_its_policies_say_stage_by_stage():
    first = stage("step-deploy.yaml")
    assert {m["metadata"]["namespace"] for m in (r.inputs for r in first.of_kind("Deployment").values())} == {"staging"}
    assert first.outputs["status"] == {} or "frontend" not in first.outputs["status"]
    both = stage("step-deploy.yaml", first, approve="to-production")
    prod = both.manifest("web-production-frontend-deployment")
    assert prod["metadata"]["namespace"] == "production" and prod["spec"]["replicas"] == 3
    assert both.manifest("web-staging-frontend-deployment")["spec"]["replicas"] == 1
    assert both.resources["web-staging-frontend-deployment"].urn == first.resources["web-staging-frontend-deployment"].urn


def test_topology_alone_moves_the_application():
    o = objects("policy-topology.yaml")
    assert o["web-staging-frontend-deployment"]["metadata"]["namespace"] == "staging"


def test_override_merges_properties_and_traits():
    d = objects("policy-override.yaml")["web-frontend-deployment"]
    assert d["spec"]["replicas"] == 2 and d["metadata"]["labels"]["env"] == "production"
    assert container(d)["env"] == [{"name": "MODE", "value": "production"}]


def test_garbage_collect_and_apply_once_set_how_pulumi_keeps_objects():
    gc = stage("policy-garbage-collect.yaml")
    assert gc.resources["web-frontend-service"].options.get("retainOnDelete")
    assert not gc.resources["web-frontend-deployment"].options.get("retainOnDelete")
    once = stage("policy-apply-once.yaml")
    assert once.resources["web-frontend-service"].options.get("ignoreChanges") == ["metadata.annotations"]


def test_resource_update_recreates_the_immutable_settings_when_their_data_changes():
    run = stage("policy-resource-update.yaml")
    settings = run.resources["web-settings-configmap-frontend-settings"].options
    assert settings.get("replaceOnChanges") == ["data"] and settings.get("deleteBeforeReplace")
    assert not run.resources["web-frontend-deployment"].options.get("replaceOnChanges")


def test_apply_component_deploys_the_components_of_the_steps_run():
    first = stage("step-apply-component.yaml")
    assert set(first.of_kind("Deployment")) == {"store-db-deployment"}
    both = stage("step-apply-component.yaml", first, approve="check")
    assert both.depends("store-api-deployment", "store-db-deployment")


def test_step_group_runs_its_steps_as_one():
    assert set(stage("step-step-group.yaml").of_kind("Deployment")) == {"store-api-deployment",
                                                                         "store-mailer-deployment"}


@pytest.mark.parametrize("kind, name", REFUSED, ids=[f"{k}-{n}" for k, n in REFUSED])
def test_refused_definitions_say_why(kind, name, tmp_path):
    body = {"component": f"""    - name: x
      type: {name}
      properties: {{}}
""", "trait": f"""    - name: x
      type: webservice
      properties:
        image: nginx
      traits:
        - type: {name}
""", "workflow step": """    - name: x
      type: webservice
      properties:
        image: nginx
""", "policy": """    - name: x
      type: webservice
      properties:
        image: nginx
"""}[kind]
    steps = f"""  workflow:
    steps:
      - name: s
        type: {name}
""" if kind == "workflow step" else ""
    steps += f"""  policies:
    - name: p
      type: {name}
""" if kind == "policy" else ""
    path = tmp_path / "app.yaml"
    path.write_text(f"apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n"
                    f"  components:\n{body}{steps}")
    with pytest.raises(OamError) as err:
        read_application(path, "app.yaml")
    text = str(err.value)
    assert f"type '{name}' is not supported: " in text and len(text) > 120, text


def test_raw_applies_its_one_object():
    run = stage("component-raw.yaml")
    cm = run.manifest("base-limits-configmap-shop-limits")
    assert run.resources["base-limits-configmap-shop-limits"].type == "kubernetes:core/v1:ConfigMap"
    assert (cm["metadata"]["name"], cm["data"]) == ("shop-limits", {"maxOrders": "100"})


def test_update_strategy_sets_the_deployments_strategy():
    d = objects("trait-k8s-update-strategy.yaml")["web-frontend-deployment"]
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_json_merge_patch_changes_the_deployment_but_not_what_the_application_owns(tmp_path):
    d = objects("trait-json-merge-patch.yaml")["web-frontend-deployment"]
    assert d["spec"]["progressDeadlineSeconds"] == 300
    assert d["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "web"}
    assert d["spec"]["template"]["spec"]["containers"][0]["name"] == "frontend", "merged, not replaced"
    bad = tmp_path / "app.yaml"
    bad.write_text((EXAMPLES / "trait-json-merge-patch.yaml").read_text().replace(
        "progressDeadlineSeconds: 300", "replicas: 9"))
    with pytest.raises(OamError, match=r"spec\.replicas is the application's to set"):
        read_application(bad, "app.yaml")
