"""The steps that apply objects of their own (apply-object, export2config, export2secret), print-message-in-status,
and the steps refused with a reason: under Pulumi's mocks, stage by stage, and their bad inputs with file and line."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import pytest

from oam import program as oam_program
from oam.advance import Where
from oam.errors import OamError
from oam.model import read_application
from tests.harness import ROOT, Clock, StageRun, run_stage
from tests.unit.test_metric_gates import FakeMetrics

EXAMPLES = ROOT / "examples" / "definitions"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


def stage(path: Path, previous: Optional[StageRun] = None, clock: Optional[Clock] = None, metrics=None,
          **config) -> StageRun:
    run = run_stage({"app": str(path), **config}, previous, clock=clock, metrics=metrics)
    assert run.error is None, run.error
    return run


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, f"the example no longer contains {old!r}"
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, marker, nth: int = 1) -> int:
    """1-based line of the nth occurrence of ``marker`` (or of (marker, nth))."""
    marker, nth = marker if isinstance(marker, tuple) else (marker, nth)
    at = -1
    for _ in range(nth):
        at = text.index(marker, at + 1)
    return text.count("\n", 0, at) + 1


def refusal(tmp_path: Path, text: str) -> str:
    """The error of validating ``text``, which must fail (as pulumi preview does, before anything is registered)."""
    with pytest.raises(OamError) as err:
        read_application(write(tmp_path, text), "app.yaml")
    return str(err.value)


def kinds(run: StageRun) -> dict[str, str]:
    """Pulumi name -> kind of every Kubernetes object registered."""
    return {n: r.inputs["kind"] for n, r in run.resources.items() if r.type.startswith("kubernetes:")}


def same_resources(a: StageRun, b: StageRun) -> None:
    """The same resources, inputs and ordering edges (the SDK sends the edges in no fixed order)."""
    assert {n: (r.urn, r.inputs, sorted(r.dependencies)) for n, r in a.resources.items()} == \
        {n: (r.urn, r.inputs, sorted(r.dependencies)) for n, r in b.resources.items()}


# --- apply-object ------------------------------------------------------------------------------

APPLY_OBJECT = EXAMPLES / "step-apply-object.yaml"
APPLY_OBJECT_TEXT = APPLY_OBJECT.read_text()


def test_apply_object_applies_its_object_once_the_step_is_reached_and_keeps_it():
    first = stage(APPLY_OBJECT)  # settings, api; waits at check; policy not reached
    assert kinds(first) == {"store-configmap-api-settings": "ConfigMap", "store-api-deployment": "Deployment"}
    cm = first.resources["store-configmap-api-settings"]
    assert cm.type == "kubernetes:core/v1:ConfigMap"
    assert cm.parent == first.resources["store"].urn, "owned by the application, not by a step or a component"
    assert cm.inputs["metadata"]["namespace"] == "default"
    assert cm.inputs["metadata"]["labels"] == {"app.oam.dev/name": "store",
                                               "delivery.oam.dev/stack": json.loads(first.state)["owner"]}
    assert cm.inputs["data"] == {"log-level": "info"}
    assert first.outputs["status"] == {"workflowStatus": {  # no rollout: where the workflow is
        "release": 1, "step": "3/4 check", "phase": "suspended", "waiting": "check (needs approval)",
        "next": "pulumi config set approve check && pulumi up"}}, first.outputs["status"]
    assert first.depends("store-api-deployment", "store-configmap-api-settings"), "the pods mount it"

    again = stage(APPLY_OBJECT, first)
    same_resources(first, again)

    second = stage(APPLY_OBJECT, again, approve="check")
    assert kinds(second) == {"store-configmap-api-settings": "ConfigMap", "store-api-deployment": "Deployment",
                             "store-networkpolicy-api-ingress": "NetworkPolicy"}
    policy = second.resources["store-networkpolicy-api-ingress"]
    assert policy.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    assert policy.inputs["spec"]["podSelector"] == {"matchLabels": {"app.oam.dev/component": "api"}}
    for name in ("store-configmap-api-settings", "store-api-deployment"):
        assert (second.resources[name].urn, second.resources[name].inputs) == \
            (first.resources[name].urn, first.resources[name].inputs), f"{name} changed with the stage"
    same_resources(second, stage(APPLY_OBJECT, second, approve="check"))
    assert not second.depends("store-api-deployment", "store-networkpolicy-api-ingress"), "the pods do not name it"


def test_apply_object_of_a_step_past_a_pinned_stage_is_not_applied():
    run = stage(APPLY_OBJECT, stage=1)
    assert kinds(run) == {"store-configmap-api-settings": "ConfigMap"}, "only the first step has run"
    back = stage(APPLY_OBJECT, stage(APPLY_OBJECT, approve="check"), approve="check", stage=2)
    assert "store-networkpolicy-api-ingress" not in back.resources, "going back a stage takes it away again"


def test_apply_object_waits_for_the_namespace_the_stack_creates():
    run = run_stage({"app": str(APPLY_OBJECT)}, namespaces={"default": None})
    assert run.error is None, run.error
    assert run.resources["store-namespace"].inputs["kind"] == "Namespace"
    assert run.depends("store-configmap-api-settings", "store-namespace")


def test_an_object_in_another_namespace_gets_its_own_name_and_that_namespace_when_missing(tmp_path):
    text = edit(APPLY_OBJECT_TEXT, ("              name: api-settings\n",
                                    "              name: api-settings\n              namespace: tools\n"))
    run = run_stage({"app": str(write(tmp_path, text))}, namespaces={"tools": None})
    assert run.error is None, run.error
    cm = run.manifest("store-tools-configmap-api-settings")
    assert cm["metadata"]["namespace"] == "tools"
    assert run.resources["store-namespace-tools"].inputs["metadata"]["name"] == "tools"
    assert run.depends("store-tools-configmap-api-settings", "store-namespace-tools")


def test_a_namespace_that_only_holds_step_objects_gets_no_sidecar_warning(tmp_path, monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(oam_program.pulumi.log, "warn", lambda message, *a, **kw: warned.append(message))
    text = edit(APPLY_OBJECT_TEXT, ("              name: api-settings\n",
                                    "              name: api-settings\n              namespace: tools\n"))
    run = run_stage({"app": str(write(tmp_path, text))}, namespaces={"tools": {}, "default": {}})
    assert run.error is None, run.error
    assert "store-namespace-tools" not in run.resources, "it exists: left alone"
    injection = [w for w in warned if "sidecar injection" in w]
    assert any("namespace 'default'" in w for w in injection), "the pods' namespace is warned of"
    assert not any("namespace 'tools'" in w for w in injection), "no pods there"


def test_a_later_step_object_with_the_same_identity_takes_the_earlier_ones_place(tmp_path):
    later = ("      - name: settings-after\n"
             "        type: apply-object\n"
             "        properties:\n"
             "          value:\n"
             "            apiVersion: v1\n"
             "            kind: ConfigMap\n"
             "            metadata:\n"
             "              name: api-settings\n"
             "            data:\n"
             "              log-level: debug\n")
    text = edit(APPLY_OBJECT_TEXT, ("      - name: check\n", later + "      - name: check\n"))
    path = write(tmp_path, text)
    before = stage(path, stage=1)
    after = stage(path, before, stage=3)
    assert [n for n, k in kinds(after).items() if k == "ConfigMap"] == ["store-configmap-api-settings"]
    assert after.manifest("store-configmap-api-settings")["data"] == {"log-level": "debug"}
    assert after.resources["store-configmap-api-settings"].urn == before.resources["store-configmap-api-settings"].urn


def test_a_deployment_a_step_applies_is_awaited_and_waits_for_what_its_pods_mount(tmp_path):
    worker = ("      - name: worker\n"
              "        type: apply-object\n"
              "        properties:\n"
              "          value:\n"
              "            apiVersion: apps/v1\n"
              "            kind: Deployment\n"
              "            metadata:\n"
              "              name: worker\n"
              "            spec:\n"
              "              replicas: 2\n"
              "              selector:\n"
              "                matchLabels: {app: worker}\n"
              "              template:\n"
              "                metadata:\n"
              "                  labels: {app: worker}\n"
              "                spec:\n"
              "                  containers:\n"
              "                    - name: worker\n"
              "                      image: registry.example.com/shop/worker:3\n"
              "                      envFrom:\n"
              "                        - configMapRef: {name: api-settings}\n")
    run = stage(write(tmp_path, edit(APPLY_OBJECT_TEXT, ("      - name: check\n", worker + "      - name: check\n"))))
    deployment = run.resources["store-deployment-worker"]
    assert deployment.type == "kubernetes:apps/v1:Deployment"
    assert deployment.timeouts, "the provider waits for its pods, as long as readyTimeout says"
    assert "pulumi.com/waitFor" in deployment.inputs["metadata"]["annotations"]
    assert run.depends("store-deployment-worker", "store-configmap-api-settings")
    # Its step comes after the one that deploys api: its pods wait for api's, as the steps run in order.
    assert run.depends("store-deployment-worker", "store-api-deployment")


def test_apply_object_refuses_an_object_a_component_makes_too(tmp_path):
    text = edit(APPLY_OBJECT_TEXT, ("  workflow:\n",
                                    "    - name: base\n"
                                    "      type: k8s-objects\n"
                                    "      properties:\n"
                                    "        objects:\n"
                                    "          - apiVersion: v1\n"
                                    "            kind: ConfigMap\n"
                                    "            metadata:\n"
                                    "              name: api-settings\n"
                                    "  workflow:\n"),
                ("          component: api\n", "          component: api\n"
                                               "      - name: base\n"
                                               "        type: apply-component\n"
                                               "        properties:\n"
                                               "          component: base\n"))
    path = write(tmp_path, text)
    run = run_stage({"app": str(path)})
    assert not run.resources, "refused before anything is registered"
    line, other = line_of(text, "value:"), line_of(text, "- name: base")
    assert (f"{path}:{line}: spec.workflow.steps[0].properties.value: step 'settings' and component 'base' "
            f"({path}:{other}) would both make ConfigMap 'api-settings'; rename one of them") in run.error, run.error


def test_apply_object_refuses_the_namespace_the_stack_creates(tmp_path):
    text = edit(APPLY_OBJECT_TEXT, ("            apiVersion: v1\n            kind: ConfigMap\n"
                                    "            metadata:\n              name: api-settings\n",
                                    "            apiVersion: v1\n            kind: Namespace\n"
                                    "            metadata:\n              name: default\n"))
    run = run_stage({"app": str(write(tmp_path, text))}, namespaces={"default": None})
    assert not run.resources
    assert f":{line_of(text, 'value:')}: spec.workflow.steps[0].properties.value: step 'settings' would make " \
           "Namespace 'default', which the stack makes itself" in run.error, run.error


OBJECT_MISTAKES = {
    # name: (old, new, the marker of the line, the path, a piece of the message)
    "no-name": ("              name: api-settings\n", "              labels: {a: b}\n", "value:",
                "spec.workflow.steps[0].properties.value", "needs metadata.name; name the object"),
    "no-kind": ("            kind: ConfigMap\n", "", "value:", "spec.workflow.steps[0].properties.value",
                "needs apiVersion and kind"),
    "core-kind": ("kind: ConfigMap", "kind: Pod", "kind: Pod", "spec.workflow.steps[0].properties.value.kind",
                  "kind Pod of apiVersion v1 is not supported here"),
    "namespace": ("              name: api-settings\n", "              name: api-settings\n"
                                                         "              namespace: Tools\n", "namespace: Tools",
                  "spec.workflow.steps[0].properties.value.metadata.namespace", "namespace 'Tools' is not a valid"),
    "label-value": ("              name: api-settings\n", "              name: api-settings\n"
                                                           "              labels: {tier: 3}\n", "labels:",
                    "spec.workflow.steps[0].properties.value.metadata.labels.tier",
                    'must be a string (got 3); YAML reads 3 as a number: quote it, like "3"'),
    "other-cluster": ("          component: api\n", "          component: api\n", "cluster: east",
                      "spec.workflow.steps[3].properties.cluster", "cluster 'east' is not supported"),
    "no-value": ("          value:\n            apiVersion: networking.k8s.io/v1",
                 "          valu:\n            apiVersion: networking.k8s.io/v1",
                 "valu:", "spec.workflow.steps[3].properties.valu", "unknown property"),
}


@pytest.mark.parametrize("mistake", OBJECT_MISTAKES)
def test_apply_object_refuses_bad_objects_with_file_and_line(mistake, tmp_path):
    old, new, marker, path, piece = OBJECT_MISTAKES[mistake]
    text = edit(APPLY_OBJECT_TEXT, (old, new))
    if mistake == "other-cluster":  # the step after the gate: checked before it is reached
        text = text.rstrip("\n") + "\n          cluster: east\n"
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, marker)}: {path}: " in err, err
    assert piece in err, err


# --- export2config -----------------------------------------------------------------------------

EXPORT_CONFIG = EXAMPLES / "step-export2config.yaml"
EXPORT_CONFIG_TEXT = EXPORT_CONFIG.read_text()


def test_export2config_writes_its_configmap_once_the_step_is_reached():
    first = stage(EXPORT_CONFIG, stage=1)
    assert kinds(first) == {"store-api-deployment": "Deployment"}
    second = stage(EXPORT_CONFIG, first)
    cm = second.resources["store-configmap-store-endpoints"]
    assert cm.type == "kubernetes:core/v1:ConfigMap"
    assert cm.inputs["metadata"]["name"] == "store-endpoints" and cm.inputs["metadata"]["namespace"] == "default"
    assert cm.inputs["data"] == {"api-url": "http://api.default.svc.cluster.local:8080",
                                 "notes.txt": "deployed by the store workflow\nsecond line\n"}
    assert second.resources["store-api-deployment"].urn == first.resources["store-api-deployment"].urn
    same_resources(second, stage(EXPORT_CONFIG, second))


def test_export2config_goes_to_the_namespace_it_names(tmp_path):
    text = edit(EXPORT_CONFIG_TEXT, ("          configName: store-endpoints\n",
                                     "          configName: store-endpoints\n          namespace: tools\n"))
    run = stage(write(tmp_path, text))
    assert run.manifest("store-tools-configmap-store-endpoints")["metadata"]["namespace"] == "tools"


CONFIG_MISTAKES = {
    "number": ("api-url: http://api.default.svc.cluster.local:8080", "replicas: 3", "replicas: 3",
               "spec.workflow.steps[1].properties.data.replicas", "must be a string (got 3); YAML reads 3 as a number"),
    "nested": ("api-url: http://api.default.svc.cluster.local:8080", "api: {url: x}", "api: {url: x}",
               "spec.workflow.steps[1].properties.data.api", "must be a string"),
    "key": ("notes.txt: |", "notes txt: |", "notes txt: |", "spec.workflow.steps[1].properties.data.notes txt",
            "'notes txt' is not a Secret or ConfigMap key"),
    "name": ("configName: store-endpoints", "configName: Store_Endpoints", "configName:",
             "spec.workflow.steps[1].properties.configName", "name 'Store_Endpoints' is not valid"),
    "no-name": ("          configName: store-endpoints\n", "", ("properties:", 3),
                "spec.workflow.steps[1].properties.configName", "is required"),
    "cluster": ("          configName: store-endpoints\n", "          configName: store-endpoints\n"
                                                           "          cluster: east\n", "cluster: east",
                "spec.workflow.steps[1].properties.cluster", "other clusters are named by a topology policy"),
}


@pytest.mark.parametrize("mistake", CONFIG_MISTAKES)
def test_export2config_refuses_what_kubernetes_would_with_file_and_line(mistake, tmp_path):
    old, new, marker, path, piece = CONFIG_MISTAKES[mistake]
    text = edit(EXPORT_CONFIG_TEXT, (old, new))
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, marker)}: {path}: " in err, err
    assert piece in err, err


def test_export2config_refuses_more_data_than_a_configmap_holds(tmp_path):
    text = edit(EXPORT_CONFIG_TEXT, ("            api-url: http://api.default.svc.cluster.local:8080\n",
                                     f"            k0: &big {'x' * 60000}\n" +
                                     "".join(f"            k{i}: *big\n" for i in range(1, 18))))
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, '          data:')}: spec.workflow.steps[1].properties.data: holds 1054 KiB; " \
           "Kubernetes allows 1024 KiB in a ConfigMap" in err, err


# --- export2secret -----------------------------------------------------------------------------

EXPORT_SECRET = EXAMPLES / "step-export2secret.yaml"
EXPORT_SECRET_TEXT = EXPORT_SECRET.read_text()


def secret_data(run: StageRun, name: str) -> dict[str, str]:
    """The Secret's data, decoded; it must reach the engine as a secret."""
    data = run.manifest(name)["data"]
    assert data.get(SECRET_SIG), f"{name}: data is not marked secret"
    assert "data" in run.resources[name].options["additionalSecretOutputs"]
    return {k: base64.b64decode(v).decode() for k, v in data["value"].items()}


def test_export2secret_writes_its_secret_as_a_secret_once_the_step_is_reached():
    first = stage(EXPORT_SECRET, stage=1)
    assert kinds(first) == {"store-secret-api-credentials": "Secret"}
    assert secret_data(first, "store-secret-api-credentials") == {"username": "store", "password": "example-only"}
    assert "type" not in first.manifest("store-secret-api-credentials"), "Opaque, as Kubernetes defaults it"
    assert "stringData" not in first.manifest("store-secret-api-credentials")
    second = stage(EXPORT_SECRET, first)
    assert set(kinds(second)) == {"store-secret-api-credentials", "store-secret-registry-pull", "store-api-deployment"}
    pull = second.manifest("store-secret-registry-pull")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(secret_data(second, "store-secret-registry-pull")[".dockerconfigjson"])
    assert config == {"auths": {"registry.example.com": {
        "username": "robot", "password": "example-token",
        "auth": base64.b64encode(b"robot:example-token").decode()}}}
    assert second.resources["store-secret-api-credentials"].urn == first.resources["store-secret-api-credentials"].urn
    # The pods read the password and pull their image with the registry's credentials: both exist before them.
    assert second.depends("store-api-deployment", "store-secret-api-credentials")
    assert second.depends("store-api-deployment", "store-secret-registry-pull")
    same_resources(second, stage(EXPORT_SECRET, second))


def test_export2secret_docker_registry_defaults_to_docker_hub(tmp_path):
    text = edit(EXPORT_SECRET_TEXT, ("            server: registry.example.com\n", ""))
    run = stage(write(tmp_path, text))
    config = json.loads(secret_data(run, "store-secret-registry-pull")[".dockerconfigjson"])
    assert list(config["auths"]) == ["https://index.docker.io/v1/"]


def test_export2secret_keeps_the_type_given(tmp_path):
    text = edit(EXPORT_SECRET_TEXT, ("          secretName: api-credentials\n",
                                     "          secretName: api-credentials\n"
                                     "          type: kubernetes.io/basic-auth\n"))
    assert stage(write(tmp_path, text)).manifest("store-secret-api-credentials")["type"] == "kubernetes.io/basic-auth"


SECRET_MISTAKES = {
    "registry-without-kind": ("          kind: docker-registry\n", "", "dockerRegistry:",
                              "spec.workflow.steps[1].properties.dockerRegistry",
                              "is used only with kind: docker-registry; add kind: docker-registry"),
    "registry-kind-without-registry": ("          dockerRegistry:\n            username: robot\n"
                                       "            password: example-token\n"
                                       "            server: registry.example.com\n", "", "kind: docker-registry",
                                       "spec.workflow.steps[1].properties.kind",
                                       "needs the key .dockerconfigjson (missing: .dockerconfigjson); "
                                       "add dockerRegistry"),
    "registry-without-password": ("            password: example-token\n", "", "dockerRegistry:",
                                  "spec.workflow.steps[1].properties.dockerRegistry.password", "is required"),
    "tls-without-key": ("          secretName: api-credentials\n", "          secretName: api-credentials\n"
                                                                   "          type: kubernetes.io/tls\n",
                        "type: kubernetes.io/tls", "spec.workflow.steps[0].properties.type",
                        "needs the keys tls.crt and tls.key (missing: tls.crt, tls.key)"),
    "service-account-token": ("          secretName: api-credentials\n", "          secretName: api-credentials\n"
                              "          type: kubernetes.io/service-account-token\n", "type: kubernetes.io/service",
                              "spec.workflow.steps[0].properties.type", "kubernetes.io/service-account.name"),
    "bad-json": ("            password: example-only\n", "            password: example-only\n"
                                                        "            .dockercfg: '{not json'\n", ".dockercfg:",
                 "spec.workflow.steps[0].properties.data..dockercfg", "is not JSON"),
    "bool": ("password: example-only", "password: true", "password: true",
             "spec.workflow.steps[0].properties.data.password", "YAML reads true as a boolean"),
    "kind": ("kind: docker-registry", "kind: registry", "kind: registry", "spec.workflow.steps[1].properties.kind",
             "must be 'generic' or 'docker-registry'"),
}


@pytest.mark.parametrize("mistake", SECRET_MISTAKES)
def test_export2secret_refuses_what_kubernetes_would_with_file_and_line(mistake, tmp_path):
    old, new, marker, path, piece = SECRET_MISTAKES[mistake]
    text = edit(EXPORT_SECRET_TEXT, (old, new))
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, marker)}: {path}: " in err, err
    assert piece in err, err


def test_export2secret_basic_auth_needs_a_user_or_a_password(tmp_path):
    text = edit(EXPORT_SECRET_TEXT, ("          data:\n            username: store\n"
                                     "            password: example-only\n",
                                     "          type: kubernetes.io/basic-auth\n"
                                     "          data:\n            token: x\n"))
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, 'type: kubernetes.io/basic-auth')}: spec.workflow.steps[0].properties.type: " \
           "a kubernetes.io/basic-auth Secret needs the key username or password" in err, err


# --- print-message-in-status ---------------------------------------------------------------------

PRINT = EXAMPLES / "step-print-message-in-status.yaml"
MESSAGE = "The API is deployed; the smoke tests may start."


def test_the_message_shows_in_the_status_once_its_step_is_reached():
    first = stage(PRINT, stage=1)
    assert "stepMessages" not in first.outputs["status"]
    second = stage(PRINT, first)
    assert second.outputs["status"]["stepMessages"] == {"done": MESSAGE}
    assert second.outputs["status"]["workflowStatus"]["phase"] == "succeeded"
    same_resources(second, stage(PRINT, second))
    assert Where.read(second.outputs).phase == "succeeded"


def test_advance_reads_the_components_not_the_messages(tmp_path):
    text = (EXAMPLES / "step-suspend.yaml").read_text().replace(
        "      - name: soak\n", "      - name: phase\n        type: print-message-in-status\n        properties:\n"
                               "          message: half of the pods run 1.5.0\n      - name: soak\n")
    before = run_stage({"app": str(write(tmp_path, text.replace(":1.5.0", ":1.4.0").split("  workflow:")[0],
                                         "first.yaml"))})
    run = stage(write(tmp_path, text), before)
    assert run.outputs["status"]["stepMessages"] == {"phase": "half of the pods run 1.5.0"}
    # The engine keeps no order of the keys: the messages may come first.
    outputs = {**run.outputs, "status": {"stepMessages": run.outputs["status"]["stepMessages"],
                                         "frontend": run.outputs["status"]["frontend"]}}
    where = Where.read(outputs)
    assert (where.phase, where.step, where.gate) == ("suspended", "3/4 soak", "soak")


def test_a_message_shows_beside_a_rollout_and_waits_with_its_stage(tmp_path):
    text = (EXAMPLES / "step-suspend.yaml").read_text().replace(
        "      - name: soak\n", "      - name: note\n        type: print-message-in-status\n        properties:\n"
                               "          message: half of the pods run 1.5.0\n      - name: soak\n")
    before = run_stage({"app": str(write(tmp_path, text.replace(":1.5.0", ":1.4.0").split("  workflow:")[0],
                                         "first.yaml"))})
    run = stage(write(tmp_path, text), before)
    status = run.outputs["status"]
    assert status["frontend"]["phase"] == "suspended" and status["frontend"]["step"] == "3/4 soak"
    assert status["stepMessages"] == {"note": "half of the pods run 1.5.0"}
    assert Where.read(run.outputs).gate == "soak"


def test_a_stage_that_fails_shows_no_message():
    run = run_stage({"app": str(PRINT)}, fail=("store-api-deployment",))
    assert run.error is not None
    assert "stepMessages" not in run.outputs["status"]


def test_print_message_needs_a_message(tmp_path):
    text = edit(PRINT.read_text(), ("          message: The API is deployed; the smoke tests may start.\n",
                                    "          text: hello\n"))
    err = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, 'properties:', 3)}: spec.workflow.steps[1].properties.message: is required" \
           in err, err


# --- refused with a reason -----------------------------------------------------------------------

REFUSED = {
    "webhook": ("a URL outside the cluster", "from your CI after pulumi up"),
    "request": ("waits for the response", "in your CI before pulumi up"),
    "depends-on-app": ("another Application", "stack reference"),
    "vela-cli": ("needs KubeVela installed", "task component"),
    "build-push-image": ("kaniko", "build and push the image in your CI"),
    "apply-terraform-config": ("terraform.core.oam.dev", "a stack of their own"),
    "apply-terraform-provider": ("terraform addon", "Pulumi stack"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_steps_say_why_and_what_to_do_instead(name, tmp_path):
    text = edit(PRINT.read_text(), ("        type: print-message-in-status\n", f"        type: {name}\n"))
    err = refusal(tmp_path, text)
    why, instead = REFUSED[name]
    line = line_of(text, f"type: {name}")
    assert f"app.yaml:{line}: spec.workflow.steps[1].type: workflow step type '{name}' is not supported: " in err, err
    assert why in err, err
    assert instead in err and "unknown" not in err, err


# --- a release a metric gate rolled back -----------------------------------------------------------

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def gated(tmp_path):
    """The check-metrics example with steps before its canary that place it, write a ConfigMap and show a message;
    Prometheus and the clock as the test sets them."""
    fake, clock = FakeMetrics(), Clock(T0)
    text = (EXAMPLES / "step-check-metrics.yaml").read_text()
    first = write(tmp_path, text.replace(":1.5.0", ":1.4.0").split("  workflow:")[0], "first.yaml")
    before = ("      - name: place\n        type: apply-component\n        properties:\n          component: frontend\n"
              "      - name: settings\n        type: export2config\n        properties:\n"
              "          configName: frontend-settings\n          data: {mode: canary}\n"
              "      - name: note\n        type: print-message-in-status\n        properties:\n"
              "          message: the canary is analysed\n")
    app = write(tmp_path, edit(text, ("  workflow:\n    steps:\n", "  workflow:\n    steps:\n" + before)))
    return fake, clock, stage(first, clock=clock), app


def test_a_release_a_metric_gate_rolled_back_keeps_what_its_steps_applied_and_where(gated):
    metrics, clock, first, app = gated
    canary = stage(app, first, clock=clock, metrics=metrics)
    assert {"web-frontend-v2", "web-configmap-frontend-settings"} <= set(canary.resources)
    metrics.values = lambda t: 100.0 if t < T0.timestamp() + 30 else 50.0
    clock.at = T0 + timedelta(seconds=95)
    back = stage(app, canary, clock=clock, metrics=metrics)  # the gate fails in this run: the release rolls back
    assert back.outputs["status"]["frontend"]["phase"] == "rolled back"
    clock.at = T0 + timedelta(seconds=900)
    again = stage(app, back, clock=clock, metrics=metrics)  # rolled back before this run: no step is run for the release
    assert again.outputs["status"]["frontend"]["phase"] == "rolled back"
    assert set(again.resources) == set(back.resources), "nothing the earlier steps applied or placed goes"
    assert "web-frontend-v2" not in again.resources and "web-frontend-v1" in again.resources
    assert again.manifest("web-configmap-frontend-settings")["data"] == {"mode": "canary"}
    assert again.outputs["status"]["stepMessages"] == {"note": "the canary is analysed"}
    # The same objects; only the ordering edges of the rollback itself are gone.
    assert {n: (r.urn, r.inputs) for n, r in again.resources.items()} == \
        {n: (r.urn, r.inputs) for n, r in back.resources.items()}


# --- apply-remaining ---------------------------------------------------------------------------------

APPLY_REMAINING = EXAMPLES / "step-apply-remaining.yaml"
APPLY_REMAINING_TEXT = APPLY_REMAINING.read_text()


def test_apply_remaining_deploys_every_component_but_its_exceptions():
    first = stage(APPLY_REMAINING)
    assert kinds(first) == {"store-db-deployment": "Deployment"}
    rest = stage(APPLY_REMAINING, first, approve="check")
    assert kinds(rest) == {"store-db-deployment": "Deployment", "store-api-deployment": "Deployment",
                           "store-worker-deployment": "Deployment"}
    assert rest.manifest("store-db-deployment") == first.manifest("store-db-deployment")


def test_apply_remaining_refuses_an_exception_that_is_no_component(tmp_path):
    text = edit(APPLY_REMAINING_TEXT, ("exceptions: [db]", "exceptions: [db, apii]"))
    message = refusal(tmp_path, text)
    assert f"app.yaml:{line_of(text, 'exceptions:')}: spec.workflow.steps[2].properties.exceptions[1]: 'apii' is " \
           "not a component of app.yaml; did you mean 'api'?" in message
