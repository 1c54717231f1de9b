"""json-patch, container-ports, podsecuritycontext and pure-ingress: what they render, and what they refuse.

Plain data throughout (read, check, plan); test_catalog deploys each example under Pulumi's mocks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from oam.config import StageConfig
from oam.errors import OamError
from oam.model import read_application
from oam.render import plan
from oam.revisions import History
from oam.traits.json_patch import Operation, PatchError, apply_operations
from tests.harness import ROOT

EXAMPLES = ROOT / "examples" / "definitions"
T = "spec.components[0].traits"


def example(name: str) -> str:
    return (EXAMPLES / f"trait-{name}.yaml").read_text()


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, f"the text no longer contains {old!r}"
        text = text.replace(old, new, 1)
    return text


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def objects(tmp_path: Path, text: str, history: Optional[History] = None):
    """(key -> manifest, the plan) of the file's first stage."""
    path = write(tmp_path, text)
    p = plan(read_application(path, "app.yaml"), history or History(), StageConfig(app="app.yaml"))
    return {d.key: d.manifest for d in p.objects}, p


def problems(tmp_path: Path, text: str) -> list[str]:
    """Every problem of the file (read and rendered, as validate does)."""
    with pytest.raises(OamError) as err:
        objects(tmp_path, text)
    return [str(p) for p in err.value.problems]


def line_of(text: str, marker: str, nth: int = 1) -> int:
    at = -1
    for _ in range(nth):
        at = text.index(marker, at + 1)
    return text.count("\n", 0, at) + 1


def refused(tmp_path: Path, text: str, marker: str, where: str, piece: str, nth: int = 1) -> None:
    """The file is refused with one problem at the marker's line, the path and a message holding ``piece``."""
    found = problems(tmp_path, text)
    want = f"app.yaml:{line_of(text, marker, nth)}: {where}: "
    assert [p for p in found if p.startswith(want) and piece in p], f"no '{want}...{piece}' in {found}"


def pod(manifest: dict) -> dict:
    spec = manifest["spec"]
    return (spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"])["spec"]


# --- json-patch ----------------------------------------------------------------------------------


def ops(*items: dict) -> list[Operation]:
    return [Operation.model_validate(i) for i in items]


DOC = {"metadata": {"name": "web", "labels": {"app.oam.dev/name": "shop", "tier": "web"}},
       "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "args": ["a", "b"]}]}}}}


@pytest.mark.parametrize("op, changed", [
    ({"op": "add", "path": "/spec/template/spec/containers/0/args/1", "value": "x"},
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["args"] == ["a", "x", "b"]),
    ({"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "z"},
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["args"] == ["a", "b", "z"]),
    ({"op": "replace", "path": "/metadata/labels/tier", "value": "api"},
     lambda d: list(d["metadata"]["labels"].items())[1] == ("tier", "api")),
    ({"op": "remove", "path": "/spec/template/spec/containers/0/args/0"},
     lambda d: d["spec"]["template"]["spec"]["containers"][0]["args"] == ["b"]),
    ({"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/annotations"},
     lambda d: "tier" not in d["metadata"]["labels"] and d["metadata"]["annotations"] == "web"),
    ({"op": "copy", "from": "/spec/template/spec/containers/0/args", "path": "/spec/template/spec/args"},
     lambda d: d["spec"]["template"]["spec"]["args"] == ["a", "b"]),
    ({"op": "add", "path": "/metadata/labels/a~1b~0c", "value": "1"},
     lambda d: d["metadata"]["labels"]["a/b~c"] == "1"),
    ({"op": "test", "path": "/spec/template/spec/containers/0/args", "value": ["a", "b"]},
     lambda d: d == DOC),
], ids=["add-index", "add-end", "replace-in-place", "remove-index", "move", "copy", "escaped-key", "test"])
def test_json_patch_operations_follow_rfc_6902(op, changed):
    out = apply_operations(DOC, ops(op))
    assert changed(out), out
    assert DOC["spec"]["template"]["spec"]["containers"][0]["args"] == ["a", "b"], "the input is not changed"


@pytest.mark.parametrize("op, field, piece", [
    ({"op": "remove", "path": "/spec/template/spec/nodeSelector"}, "path", "does not exist"),
    ({"op": "replace", "path": "/metadata/labels/team", "value": "x"}, "path", "does not exist"),
    ({"op": "add", "path": "/spec/template/spec/containers/0/args/3", "value": "x"}, "path", "past the end"),
    ({"op": "remove", "path": "/spec/template/spec/containers/0/args/-"}, "path", "not an index"),
    ({"op": "add", "path": "/spec/template/spec/containers/01", "value": {}}, "path", "not an index"),
    ({"op": "add", "path": "/metadata/name/x", "value": 1}, "path", "application sets"),
    ({"op": "test", "path": "/spec/replicas", "value": 2}, "path", "differs from stage to stage"),
    ({"op": "test", "path": "/metadata/labels/tier", "value": "api"}, "value", "test failed"),
    ({"op": "test", "path": "/spec/template/spec/containers/0/args/0", "value": True}, "value", "test failed"),
    ({"op": "replace", "path": "/metadata", "value": {}}, "path", "application sets"),
    ({"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}}, "path", "application sets"),
    ({"op": "add", "path": "/metadata/annotations", "value": {"pulumi.com/skipAwait": "true"}}, "value",
     "/metadata/annotations/pulumi.com~1skipAwait"),
    ({"op": "move", "from": "/metadata/labels/app.oam.dev~1name", "path": "/metadata/x"}, "from",
     "moves a field the application sets"),
    ({"op": "move", "from": "/spec/replicas", "path": "/spec/x"}, "from", "moves a field the application sets"),
    ({"op": "copy", "from": "/spec/selector", "path": "/spec/x"}, "from", "does not exist"),
    ({"op": "copy", "from": "/metadata/labels", "path": "/spec/template/labels"}, "path", "app.oam.dev~1name"),
], ids=["remove-missing", "replace-missing", "index-past-end", "remove-end", "leading-zero", "in-name",
        "test-replicas", "test-fails", "test-true-is-not-a-string", "above-name", "labels-map", "engine-key",
        "move-own-label", "move-replicas", "copy-missing", "copy-own-labels"])
def test_json_patch_refuses_what_cannot_apply_or_the_application_owns(op, field, piece):
    with pytest.raises(PatchError) as err:
        apply_operations(DOC, ops({"op": "add", "path": "/spec/x", "value": 0}, op))
    assert (err.value.index, err.value.field) == (1, field)
    assert piece in err.value.message


def test_json_patch_numbers_test_by_value_but_true_is_not_1():
    doc = {"spec": {"n": 1, "b": True}}
    apply_operations(doc, ops({"op": "test", "path": "/spec/n", "value": 1.0}))
    with pytest.raises(PatchError):
        apply_operations(doc, ops({"op": "test", "path": "/spec/b", "value": 1}))


def test_json_patch_example_patches_the_deployment(tmp_path):
    o, _ = objects(tmp_path, example("json-patch"))
    d = o["web-frontend-deployment"]
    assert d["spec"]["progressDeadlineSeconds"] == 300
    assert [c["name"] for c in pod(d)["containers"]] == ["frontend", "log-shipper"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert "legacy-probe" not in labels and labels["tier"] == "web"
    assert labels["app.oam.dev/revision"] == "frontend-v1", "the application's labels stay"
    assert d["spec"]["selector"]["matchLabels"]["app.oam.dev/component"] == "frontend"
    assert d["metadata"]["labels"]["legacy-probe"] == "on", "only the path given is removed"


def test_json_patch_sees_what_every_trait_did_to_the_pods(tmp_path):
    # A sidecar listed after it is in the pods when json-patch runs (pods first, then the workload):
    # the sidecar is container 1, and the container json-patch appends comes after it.
    text = edit(example("json-patch"), ("        - type: json-patch\n",
                                        "        - type: json-patch\n"), ("                value: 300\n",
                "                value: 300\n"
                "              - op: add\n"
                "                path: /spec/template/spec/containers/1/args\n"
                "                value: [--quiet]\n"
                "        - type: sidecar\n"
                "          properties:\n"
                "            name: exporter\n"
                "            image: registry.example.com/tools/exporter:1\n"))
    o, _ = objects(tmp_path, text)
    assert [(c["name"], c.get("args")) for c in pod(o["web-frontend-deployment"])["containers"]] == [
        ("frontend", None), ("exporter", ["--quiet"]), ("log-shipper", ["--source", "/var/log/frontend"])]


def test_json_patch_is_part_of_the_revision(tmp_path):
    _, first = objects(tmp_path, example("json-patch"))
    text = edit(example("json-patch"), ("value: 300", "value: 600"))
    _, second = objects(tmp_path, text, first.resolution.history)
    assert second.resolution.revisions["frontend"].name == "frontend-v2"


def test_json_patch_patches_a_cronjob_where_it_keeps_its_pod(tmp_path):
    text = (EXAMPLES / "component-cron-task.yaml").read_text()
    assert "traits:" not in text
    text += ("      traits:\n        - type: json-patch\n          properties:\n            operations:\n"
             "              - op: add\n                path: /spec/jobTemplate/spec/template/spec/priorityClassName\n"
             "                value: batch-low\n")
    o, _ = objects(tmp_path, text)
    (cron,) = [m for m in o.values() if m["kind"] == "CronJob"]
    assert pod(cron)["priorityClassName"] == "batch-low"


@pytest.mark.parametrize("old, new, marker, field, piece", [
    ("path: /spec/progressDeadlineSeconds", "path: /spec/replicas", "path: /spec/replicas", "operations[3].path",
     "/spec/replicas changes a field the application sets"),
    ("path: /spec/template/metadata/labels/legacy-probe", "path: /spec/template/metadata/labels/gone",
     "path: /spec/template/metadata/labels/gone", "operations[1].path", "does not exist in the workload object"),
    ("value: web", "value: api", "value: api", "operations[0].value", "test failed"),
    ("containers/-", "containers/3", "containers/3", "operations[2].path", "past the end of a list of 1"),
    ("path: /spec/progressDeadlineSeconds", "path: spec/progressDeadlineSeconds", "- op: add\n                path: spec",
     "operations[3]", "is not a JSON Pointer"),
    ("- op: remove", "- op: drop", "- op: drop", "operations[1].op", "must be"),
    ("value: 300", "from: /spec/x", "- op: add\n                path: /spec/progress", "operations[3]",
     "op add needs value"),
], ids=["replicas", "remove-missing", "test-fails", "bad-index", "not-a-pointer", "unknown-op", "add-without-value"])
def test_json_patch_bad_input_names_the_line_and_field(tmp_path, old, new, marker, field, piece):
    text = edit(example("json-patch"), (old, new))
    refused(tmp_path, text, marker, f"{T}[0].properties.{field}", piece)


def test_json_patch_is_checked_before_anything_renders(tmp_path):
    # check (read_application), not render, refuses it: validate and preview report it with the others.
    path = write(tmp_path, edit(example("json-patch"), ("value: web", "value: api"), ("port: 8080", "port: 0")))
    with pytest.raises(OamError) as err:
        read_application(path, "app.yaml")
    assert len(err.value.problems) == 1, "the component is wrong: its patch is checked once it is right"
    path = write(tmp_path, edit(example("json-patch"), ("value: web", "value: api")))
    with pytest.raises(OamError, match="test failed"):
        read_application(path, "app.yaml")


# --- container-ports -----------------------------------------------------------------------------


def test_container_ports_binds_the_service_port_and_adds_another(tmp_path):
    o, _ = objects(tmp_path, example("container-ports"))
    ports = pod(o["edge-proxy-deployment"])["containers"][0]["ports"]
    assert ports == [
        {"containerPort": 8080, "name": "port-8080", "protocol": "TCP", "hostPort": 80},
        {"containerPort": 5353, "protocol": "UDP", "hostPort": 5353, "hostIP": "10.0.0.10"}]
    svc = o["edge-proxy-service"]
    assert [(e["port"], e["targetPort"]) for e in svc["spec"]["ports"]] == [(80, 8080)], "the Service is unchanged"


def test_container_ports_of_several_containers_and_a_container_without_ports(tmp_path):
    text = edit(example("container-ports"), ("      traits:\n", "      traits:\n"
                                             "        - type: sidecar\n"
                                             "          properties:\n"
                                             "            name: metrics\n"
                                             "            image: registry.example.com/net/exporter:1\n"),
                ("            ports:\n              - containerPort: 8080\n                hostPort: 80\n",
                 "            containers:\n"
                 "              - containerName: metrics\n"
                 "                ports:\n"
                 "                  - containerPort: 9100\n"
                 "              - containerName: proxy\n"
                 "                ports:\n"
                 "                  - containerPort: 8080\n"
                 "                    hostPort: 80\n"),
                ("              - containerPort: 5353\n                protocol: UDP\n                hostPort: 5353\n"
                 "                hostIP: 10.0.0.10\n", ""))
    o, _ = objects(tmp_path, text)
    proxy, metrics = pod(o["edge-proxy-deployment"])["containers"]
    assert metrics["ports"] == [{"containerPort": 9100, "protocol": "TCP"}]
    assert proxy["ports"] == [{"containerPort": 8080, "name": "port-8080", "protocol": "TCP", "hostPort": 80}]


def test_container_ports_once_per_container(tmp_path):
    text = example("container-ports") + ("        - type: container-ports\n          properties:\n"
                                         "            ports:\n              - containerPort: 9000\n")
    refused(tmp_path, text, "- type: container-ports", f"{T}[1].type", "changes container proxy again", nth=2)


@pytest.mark.parametrize("old, new, marker, field, piece", [
    ("- containerPort: 8080\n                hostPort: 80", "- containerPort: 80\n                hostPort: 80",
     "- containerPort: 80\n", "ports[0].containerPort", "80 is the Service port of 'proxy' whose container port is 8080"),
    ("protocol: UDP\n                hostPort: 5353", "protocol: TCP\n                hostPort: 80",
     ("hostPort: 80", 2), "ports[1].hostPort", "host port 80/TCP is bound twice in the pod (also at line 20)"),
    ("- containerPort: 5353\n                protocol: UDP", "- containerPort: 8080\n                protocol: TCP",
     "- containerPort: 8080\n                protocol", "ports[1]", "port 8080/TCP is listed twice"),
    ("hostIP: 10.0.0.10", "hostIP: 10.0.0.300", "hostIP:", "ports[1].hostIP", "is not an IP address"),
    ("                hostPort: 5353\n", "", "- containerPort: 5353", "ports[1]", "give hostPort too"),
    ("hostPort: 80", "hostPort: 70000", "hostPort: 70000", "ports[0].hostPort", "65535"),
    ("protocol: UDP", "protocol: QUIC", "protocol: QUIC", "ports[1].protocol", "must be"),
    ("            ports:\n", "            containerName: sidecar\n            ports:\n", "containerName: sidecar",
     "containerName", "have no container 'sidecar'"),
], ids=["service-port-not-container-port", "host-port-twice", "port-twice", "host-ip", "host-ip-alone",
        "host-port-range", "protocol", "unknown-container"])
def test_container_ports_bad_input_names_the_line_and_field(tmp_path, old, new, marker, field, piece):
    marker, nth = marker if isinstance(marker, tuple) else (marker, 1)
    refused(tmp_path, edit(example("container-ports"), (old, new)), marker, f"{T}[0].properties.{field}", piece, nth)


def test_container_ports_in_the_list_needs_a_container_name(tmp_path):
    text = edit(example("container-ports"), ("            ports:\n              - containerPort: 8080\n",
                                             "            containers:\n              - containerName: ''\n"
                                             "                ports:\n              - containerPort: 8080\n"))
    assert problems(tmp_path, text)


# --- podsecuritycontext --------------------------------------------------------------------------


def test_podsecuritycontext_sets_the_pods_security_context(tmp_path):
    o, _ = objects(tmp_path, example("podsecuritycontext"))
    assert pod(o["web-frontend-deployment"])["securityContext"] == {
        "fsGroup": 65532, "runAsGroup": 65532, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True}


def test_podsecuritycontext_defaults_to_non_root_like_kubevela(tmp_path):
    text = edit(example("podsecuritycontext"), ("            runAsUser: 65532\n            runAsGroup: 65532\n"
                                                "            fsGroup: 65532\n            seccompProfile:\n"
                                                "              type: RuntimeDefault\n",
                                                "            appArmorProfile:\n              type: Localhost\n"
                                                "              localhostProfile: k8s-frontend\n"))
    o, _ = objects(tmp_path, text)
    assert pod(o["web-frontend-deployment"])["securityContext"] == {
        "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-frontend"}, "runAsNonRoot": True}


def test_podsecuritycontext_root_needs_run_as_non_root_false(tmp_path):
    text = edit(example("podsecuritycontext"), ("runAsUser: 65532", "runAsUser: 0\n            runAsNonRoot: false"))
    o, _ = objects(tmp_path, text)
    assert pod(o["web-frontend-deployment"])["securityContext"]["runAsUser"] == 0


@pytest.mark.parametrize("old, new, marker, field, piece", [
    ("runAsUser: 65532", "runAsUser: 0", "properties:", "", "runAsUser 0 is root"),
    ("fsGroup: 65532", "fsGroup: -1", "fsGroup", ".fsGroup", ">= 0"),
    ("runAsGroup: 65532", "runAsGroup: 2147483648", "runAsGroup", ".runAsGroup", "<= 2147483647"),
    ("type: RuntimeDefault", "type: Localhost", "seccompProfile:", ".seccompProfile", "needs localhostProfile"),
    ("type: RuntimeDefault", "type: Localhost\n              localhostProfile: /etc/seccomp/x.json",
     "seccompProfile:", ".seccompProfile", "must be a path relative"),
    ("type: RuntimeDefault", "type: RuntimeDefault\n              localhostProfile: x.json",
     "seccompProfile:", ".seccompProfile", "is for type Localhost"),
    ("type: RuntimeDefault", "type: Default", "type: Default", ".seccompProfile.type", "must be"),
    ("fsGroup: 65532", "fsGroupChangePolicy: Always", "fsGroupChangePolicy", ".fsGroupChangePolicy",
     "unknown property"),
], ids=["root", "negative-fs-group", "group-above-int32", "localhost-without-profile", "absolute-profile",
        "profile-without-localhost", "profile-type", "not-a-kubevela-parameter"])
def test_podsecuritycontext_refuses_what_kubernetes_would(tmp_path, old, new, marker, field, piece):
    refused(tmp_path, edit(example("podsecuritycontext"), (old, new)), marker, f"{T}[0].properties{field}", piece,
            nth=2 if marker == "properties:" else 1)


def test_podsecuritycontext_root_against_a_container_that_forbids_it(tmp_path):
    text = edit(example("podsecuritycontext"), ("runAsUser: 65532", "runAsUser: 0\n            runAsNonRoot: false"))
    text += "        - type: securitycontext\n          properties:\n            readOnlyRootFilesystem: true\n"
    refused(tmp_path, text, "runAsUser: 0", f"{T}[0].properties.runAsUser", "container 'frontend' forbids root")
    ok = text.replace("readOnlyRootFilesystem: true", "runAsUser: 1000")
    objects(tmp_path, ok)


# --- pure-ingress --------------------------------------------------------------------------------


def test_pure_ingress_routes_to_the_components_service_after_its_pods_are_ready(tmp_path):
    o, p = objects(tmp_path, example("pure-ingress"))
    ing = o["web-frontend-ingress"]
    assert (ing["apiVersion"], ing["kind"], ing["metadata"]["name"]) == ("networking.k8s.io/v1", "Ingress", "frontend")
    assert ing["spec"]["rules"] == [{"host": "shop.example.com", "http": {"paths": [
        {"path": "/", "pathType": "ImplementationSpecific",
         "backend": {"service": {"name": "frontend", "port": {"number": 80}}}}]}}]
    assert [k for k in o if o[k]["kind"] == "Service"] == ["web-frontend-service"], "it makes no Service"
    deps = p.by_key()["web-frontend-ingress"].depends_on
    assert "web-frontend-service" in deps and "web-frontend-deployment" in deps


def test_pure_ingress_to_the_service_an_expose_trait_makes(tmp_path):
    text = edit(example("pure-ingress"), ("            expose: true\n", ""),
                ("      traits:\n", "      traits:\n        - type: expose\n          properties:\n"
                                    "            port: [8080]\n"), ("/: 80", "/: 8080"))
    o, _ = objects(tmp_path, text)
    assert o["web-frontend-ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {
        "name": "frontend", "port": {"number": 8080}}


@pytest.mark.parametrize("old, new, marker, field, piece", [
    ("/: 80", "/: 81", "/: 81", "http./", "port 81 is not a port of component 'frontend''s Service (its ports: 80)"),
    ("expose: true", "expose: false", "- type: pure-ingress", "type", "has no Service, and pure-ingress makes none"),
    ("/: 80", "shop: 80", "shop: 80", "http.shop", "must start with '/'"),
    ("domain: shop.example.com", "domain: '*'", "domain:", "domain", "'*' alone is not an Ingress host"),
    ("domain: shop.example.com", "domain: https://shop.example.com", "domain:", "domain", "is not a host name"),
    ("            http:\n              /: 80\n", "            http: {}\n", "http:", "http", "must not be empty"),
], ids=["not-a-service-port", "no-service", "path", "star", "scheme", "no-path"])
def test_pure_ingress_bad_input_names_the_line_and_field(tmp_path, old, new, marker, field, piece):
    refused(tmp_path, edit(example("pure-ingress"), (old, new)), marker,
            f"{T}[0]" + (f".properties.{field}" if field != "type" else ".type"), piece)


def test_pure_ingress_and_another_ingress_of_the_same_name_are_refused(tmp_path):
    text = example("pure-ingress") + ("        - type: gateway\n          properties:\n            http:\n"
                                      "              /api: 80\n")
    refused(tmp_path, text, "- type: pure-ingress", f"{T}[0].type", "the gateway trait makes Ingress 'frontend' too")
    named = text.replace("              /api: 80\n", "              /api: 80\n            name: api\n")
    o, _ = objects(tmp_path, named)
    assert {m["metadata"]["name"] for m in o.values() if m["kind"] == "Ingress"} == {"frontend", "frontend-api"}


def test_pure_ingress_is_not_weighed_by_canary_traffic(tmp_path):
    text = example("pure-ingress") + ("        - type: rollout\n          properties:\n            targetSize: 2\n"
                                      "            rolloutBatches: [{replicas: 1}, {replicas: 1}]\n"
                                      "        - type: canary-traffic\n          properties:\n            port: [8080]\n")
    refused(tmp_path, text, "- type: pure-ingress", f"{T}[0].type", "not by the weights of its canary traffic")


def test_json_patch_that_no_longer_applies_at_render_time_names_the_component():
    # Reached only when the object differs from the file's own revision (an override, an older revision).
    from oam.kit.context import ComponentContext
    from oam.registry import TRAITS

    definition = TRAITS.get("json-patch")
    p = definition.parse({"operations": [{"op": "remove", "path": "/spec/template/spec/nodeSelector"}]})
    manifest = {"kind": "Deployment", "metadata": {"name": "frontend-v1"}, "spec": {"template": {"spec": {}}}}
    with pytest.raises(OamError, match=r"component frontend: json-patch operations\[0\]\.path: "
                                       r"/spec/template/spec/nodeSelector does not exist .* Deployment frontend-v1"):
        definition.patch_workload(p, manifest, ComponentContext("web", "default", "frontend", []))
    assert manifest["spec"] == {"template": {"spec": {}}}, "nothing applied"


def test_container_ports_host_port_bound_by_an_earlier_trait_for_another_container(tmp_path):
    text = edit(example("container-ports"), ("      traits:\n", "      traits:\n"
                                             "        - type: sidecar\n"
                                             "          properties:\n"
                                             "            name: metrics\n"
                                             "            image: registry.example.com/net/exporter:1\n"))
    text += ("        - type: container-ports\n          properties:\n            containerName: metrics\n"
             "            ports:\n              - containerPort: 9100\n                hostPort: 80\n")
    refused(tmp_path, text, "hostPort: 80", f"{T}[2].properties.ports[0].hostPort",
            f"host port 80/TCP is bound twice in the pod (also at line {line_of(text, '- containerPort: 8080')})", nth=2)
