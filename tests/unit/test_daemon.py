"""The daemon component: a DaemonSet with a pod on every node, its Service, the traits it takes and those it refuses."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT, run_stage
from tests.unit.app_files import deploy, line, objects, problems

EXAMPLE = "examples/definitions/component-daemon.yaml"
SELECTOR = {"app.oam.dev/name": "logging", "app.oam.dev/component": "log-agent"}
DS = "logging-log-agent-daemonset"

# A small daemon; each test adds what it is about (traits, properties, other components).
BASE = """\
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: logging
spec:
  components:
    - name: log-agent
      type: daemon
      properties:
        image: registry.example.com/ops/agent:2
        ports:
          - port: 2020
            expose: true
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return str(path)


def with_traits(*traits: str) -> str:
    """BASE with these trait entries (YAML, indented as list items under traits)."""
    return BASE + "      traits:\n" + "".join(traits)


# --- what it renders ---------------------------------------------------------------------------


def test_the_example_is_a_daemonset_named_after_the_component_with_a_service():
    o = objects(str(ROOT / EXAMPLE))
    assert set(o) == {"logging-log-agent-service", DS}
    ds = o[DS]
    assert (ds["apiVersion"], ds["kind"], ds["metadata"]["name"]) == ("apps/v1", "DaemonSet", "log-agent")
    assert ds["metadata"]["namespace"] == "default" and ds["metadata"]["labels"] == SELECTOR
    assert ds["spec"]["selector"] == {"matchLabels": SELECTOR}
    assert set(ds["spec"]) == {"selector", "template"}, "no replicas, no Deployment strategy"
    pod = ds["spec"]["template"]
    assert pod["metadata"]["labels"] == {**SELECTOR, "app.oam.dev/revision": "log-agent-v1"}
    c = pod["spec"]["containers"][0]
    assert (c["name"], c["image"]) == ("log-agent", "cr.fluentbit.io/fluent/fluent-bit:3.1.9")
    assert c["ports"] == [{"containerPort": 2020, "name": "http-metrics", "protocol": "TCP"}]
    assert c["env"] == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    assert c["volumeMounts"] == [{"name": "config", "mountPath": "/fluent-bit/etc"},
                                 {"name": "varlog", "mountPath": "/var/log", "readOnly": True}]
    assert pod["spec"]["volumes"][1] == {"name": "varlog", "hostPath": {"path": "/var/log"}}
    svc = o["logging-log-agent-service"]
    assert (svc["kind"], svc["metadata"]["name"], svc["spec"]["type"]) == ("Service", "log-agent", "ClusterIP")
    assert svc["spec"]["selector"] == SELECTOR
    assert svc["spec"]["ports"] == [{"name": "http-metrics", "port": 2020, "targetPort": 2020, "protocol": "TCP"}]


def test_ports_services_and_node_mounts(tmp_path):
    text = BASE.replace("""        ports:
          - port: 2020
            expose: true
""", """        ports:
          - port: 2020
          - port: 8125
            protocol: UDP
            expose: true
          - port: 9100
            name: metrics
            expose: true
        exposeType: NodePort
        hostAliases:
          - ip: 10.0.0.5
            hostnames: [collector.internal]
        volumeMounts:
          hostPath:
            - name: root
              mountPath: /host/root
              path: /
              readOnly: true
              mountPropagation: HostToContainer
            - name: sys
              mountPath: /host/sys
              path: /sys
""")
    o = objects(write(tmp_path, text))
    svc = o["logging-log-agent-service"]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"] == [
        {"name": "port-8125-udp", "port": 8125, "targetPort": 8125, "protocol": "UDP"},
        {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"}], "only the exposed ports"
    pod = o[DS]["spec"]["template"]["spec"]
    assert [p["name"] for p in pod["containers"][0]["ports"]] == ["port-2020", "port-8125-udp", "metrics"]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "root", "mountPath": "/host/root", "readOnly": True, "mountPropagation": "HostToContainer"},
        {"name": "sys", "mountPath": "/host/sys"}]
    assert pod["volumes"] == [{"name": "root", "hostPath": {"path": "/"}}, {"name": "sys", "hostPath": {"path": "/sys"}}]
    assert pod["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["collector.internal"]}]


def test_port_alone_makes_no_service(tmp_path):
    text = BASE.replace("        ports:\n          - port: 2020\n            expose: true\n", "        port: 9100\n")
    o = objects(write(tmp_path, text))
    assert set(o) == {DS}
    assert o[DS]["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 9100, "name": "port-9100", "protocol": "TCP"}]


# --- under Pulumi's mocks: readiness and order -------------------------------------------------


def test_the_provider_awaits_the_daemonset_ready_within_ready_timeout_and_not_the_service():
    run = deploy(EXAMPLE, readyTimeout="90s")
    ds, svc = run.resources[DS], run.resources["logging-log-agent-service"]
    assert ds.type == "kubernetes:apps/v1:DaemonSet" and svc.type == "kubernetes:core/v1:Service"
    assert ds.timeouts == {"create": "1m30s", "update": "1m30s"}, "readyTimeout bounds the wait for its pods"
    annotations = ds.inputs["metadata"]["annotations"]
    # No waitFor and no skipAwait: the provider's own DaemonSet await (every scheduled pod updated and Ready).
    assert "pulumi.com/waitFor" not in annotations and "pulumi.com/skipAwait" not in annotations
    assert svc.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert ds.parent == run.resources["logging-log-agent"].urn
    assert run.resources["logging-log-agent"].type == "oam:component:Daemon"


def test_a_route_to_the_daemon_waits_for_its_pods(tmp_path):
    text = with_traits("""\
        - type: gateway
          properties:
            domain: logs.example.com
            http:
              /: 2020
        - type: istio-gateway
          properties:
            hosts: [agent.example.com]
            port: 2020
""")
    run = deploy(write(tmp_path, text))
    (ingress,) = run.of_kind("Ingress")
    (route,) = run.of_kind("VirtualService")
    for key in (ingress, route):
        assert run.depends(key, DS), f"{key} sends traffic to the daemon's pods before they are Ready"
        assert run.depends(key, "logging-log-agent-service")


def test_depends_on_a_daemon_and_a_daemon_that_depends(tmp_path):
    text = BASE + """\
    - name: api
      type: webservice
      dependsOn: [log-agent]
      properties:
        image: registry.example.com/shop/api:7
    - name: proxy
      type: daemon
      dependsOn: [api]
      properties:
        image: registry.example.com/ops/proxy:1
"""
    run = deploy(write(tmp_path, text))
    assert run.depends("logging-api-deployment", DS), "api starts once the agent's pods are Ready"
    assert run.depends("logging-proxy-daemonset", "logging-api-deployment")


def test_a_new_image_is_a_new_revision_in_the_same_daemonset(tmp_path):
    first = deploy(write(tmp_path, BASE))
    second = deploy(write(tmp_path, BASE.replace("agent:2", "agent:3")), first)
    ds = second.manifest(DS)
    assert list(second.of_kind("DaemonSet")) == [DS]
    assert ds["metadata"]["name"] == "log-agent" and ds["spec"]["selector"] == {"matchLabels": SELECTOR}
    pod = ds["spec"]["template"]
    assert pod["metadata"]["labels"]["app.oam.dev/revision"] == "log-agent-v2"
    assert pod["spec"]["containers"][0]["image"] == "registry.example.com/ops/agent:3"


# --- traits that apply as to a webservice ------------------------------------------------------


def test_pod_traits_shape_the_daemonset(tmp_path):
    text = with_traits("""\
        - type: sidecar
          properties:
            name: shipper
            image: registry.example.com/tools/log-shipper:5
        - type: env
          properties:
            env:
              LOG_LEVEL: warn
        - type: labels
          properties:
            team: platform
        - type: annotations
          properties:
            owner.example.com/contact: platform@example.com
        - type: command
          properties:
            command: ["/agent"]
            addArgs: ["--tail"]
        - type: resource
          properties:
            cpu: 0.1
            memory: 250Mi
        - type: storage
          properties:
            hostPath:
              - name: containers
                path: /var/lib/docker/containers
                mountPath: /var/lib/docker/containers
        - type: expose
          properties:
            port: [9100]
        - type: json-merge-patch
          properties:
            spec:
              updateStrategy:
                rollingUpdate:
                  maxUnavailable: 2
""")
    run = deploy(write(tmp_path, text))
    ds = run.manifest(DS)
    pod = ds["spec"]["template"]
    agent, shipper = pod["spec"]["containers"]
    assert (shipper["name"], shipper["image"]) == ("shipper", "registry.example.com/tools/log-shipper:5")
    assert {"name": "LOG_LEVEL", "value": "warn"} in agent["env"]
    assert pod["metadata"]["labels"]["team"] == "platform" and ds["metadata"]["labels"]["team"] == "platform"
    assert pod["metadata"]["annotations"]["owner.example.com/contact"] == "platform@example.com"
    assert (agent["command"], agent["args"]) == (["/agent"], ["--tail"])
    assert agent["resources"]["requests"] == {"cpu": "0.1", "memory": "250Mi"}
    mount = next(m for m in agent["volumeMounts"] if m["mountPath"] == "/var/lib/docker/containers")
    assert {"name": mount["name"], "hostPath": {"path": "/var/lib/docker/containers", "type": "Directory"}} \
        in pod["spec"]["volumes"]
    assert ds["spec"]["updateStrategy"] == {"rollingUpdate": {"maxUnavailable": 2}}
    assert ds["spec"]["selector"] == {"matchLabels": SELECTOR}, "a patch or a label trait leaves the selector"
    svc = run.manifest("logging-log-agent-service")
    assert [p["port"] for p in svc["spec"]["ports"]] == [2020, 9100]
    assert svc["metadata"]["labels"]["team"] == "platform"


# --- what is refused ---------------------------------------------------------------------------

OTHER = "remove it, or use a webservice or worker component"
REPLICAS = "sets the replica count, and daemon has none: it runs a DaemonSet"
REFUSED = {  # trait -> (its entry, what is said of it, hint)
    "scaler": ("        - type: scaler\n          properties:\n            replicas: 3\n", REPLICAS, OTHER),
    "cpuscaler": ("        - type: cpuscaler\n          properties:\n            min: 1\n            max: 3\n",
                  REPLICAS, OTHER),
    "hpa": ("        - type: hpa\n          properties:\n            min: 1\n            max: 3\n", REPLICAS, OTHER),
    "k8s-update-strategy": ("        - type: k8s-update-strategy\n          properties:\n            strategy:\n"
                            "              type: Recreate\n",
                            "changes a Deployment's own fields, and daemon runs a DaemonSet", OTHER),
    "canary-traffic": ("        - type: canary-traffic\n          properties:\n            port: [2020]\n",
                       "has canary-traffic but no rollout trait", "add a rollout trait"),
}


@pytest.mark.parametrize("trait", sorted(REFUSED))
def test_traits_that_need_replicas_or_a_deployment_are_refused_with_file_line_and_field(tmp_path, trait):
    entry, why, hint = REFUSED[trait]
    text = with_traits("        - type: labels\n          properties:\n            team: platform\n", entry)
    path = write(tmp_path, text)
    message = problems(path)
    at = line(text, f"- type: {trait}")
    assert f"{path}:{at}: spec.components[0].traits[1].type: " in message
    assert why in message and hint in message, message
    assert "traits[0]" not in message, "labels applies"
    run = run_stage({"app": path})
    assert run.error is not None and not run.resources, "refused before a single resource is registered"


def test_an_update_strategy_pulumi_up_would_wait_on_forever_is_refused(tmp_path):
    patch = ("        - type: json-merge-patch\n          properties:\n            spec:\n              updateStrategy:\n"
             "                type: OnDelete\n")
    path = write(tmp_path, with_traits(patch))
    assert (f"{path}:{line(with_traits(patch), 'updateStrategy:')}: spec.components[0].traits[0].properties.spec."
            "updateStrategy: with an OnDelete update strategy the pods keep their old template") in problems(path)
    # Written by a json-patch operation instead: the same problem, at the trait's properties.
    patch = ("        - type: json-patch\n          properties:\n            operations:\n              - op: add\n"
             "                path: /spec/updateStrategy\n                value: {type: OnDelete}\n")
    path = write(tmp_path, with_traits(patch))
    assert "with an OnDelete update strategy the pods keep their old template" in problems(path)


@pytest.mark.parametrize("entry", [
    "        - type: rollout\n          properties:\n            targetSize: 2\n            rolloutBatches:\n"
    "              - replicas: 2\n",
    "        - type: rolling-release\n          properties:\n            weight: 50\n",
])
def test_rolling_out_a_daemon_revision_by_revision_is_refused(tmp_path, entry):
    text = with_traits(entry)
    path = write(tmp_path, text)
    message = problems(path)
    trait = entry.split("type: ")[1].split("\n")[0]
    assert (f"{path}:{line(text, '- type: ')}: spec.components[0].traits[0].type: a daemon component is not rolled "
            f"out revision by revision; use {trait} with webservice or worker") in message
    assert message.count(f"{path}:") == 1, "one problem, not one per check"


def test_canary_deploy_does_not_act_on_a_daemon(tmp_path):
    text = BASE + """\
  workflow:
    steps:
      - name: canary
        type: canary-deploy
        properties:
          weight: 50
          components: [log-agent]
"""
    path = write(tmp_path, text)
    message = problems(path)
    assert (f"{path}:{line(text, 'components: [log-agent]')}: spec.workflow.steps[0].properties.components[0]: "
            "'log-agent' is a daemon component, which is not rolled out revision by revision") in message


BAD = [
    ("port and ports", ("        ports:\n", "        port: 80\n        ports:\n"), "port: 80",
     "spec.components[0].properties.port: give port or ports, not both"),
    ("a port twice", ("            expose: true\n", "            expose: true\n          - port: 2020\n"),
     "- port: 2020\n\n", "spec.components[0].properties.ports[1].port: port 2020/TCP is listed twice"),
    ("ExternalName", ("            expose: true\n", "            expose: true\n        exposeType: ExternalName\n"),
     "exposeType", "spec.components[0].properties.exposeType: an ExternalName Service is a DNS alias"),
    ("a Service type and nothing exposed", ("            expose: true\n", "        exposeType: NodePort\n"),
     "exposeType", "spec.components[0].properties.exposeType: exposeType is the type of the Service"),
    ("containerPort (webservice only)", ("            expose: true\n", "            containerPort: 8080\n"),
     "containerPort", "spec.components[0].properties.ports[0].containerPort"),
    ("Bidirectional, not privileged", ("        ports:\n", "        volumeMounts:\n          hostPath:\n"
                                       "            - name: run\n              mountPath: /run\n"
                                       "              path: /run\n              mountPropagation: Bidirectional\n"
                                       "        ports:\n"),
     "mountPropagation", "spec.components[0].properties.volumeMounts.hostPath[0].mountPropagation: Kubernetes "
                         "allows Bidirectional mount propagation only in a privileged container"),
]


@pytest.mark.parametrize("old_new, marker, want", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_properties_name_file_line_and_field(tmp_path, old_new, marker, want):
    old, new = old_new
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if marker == "- port: 2020\n\n":  # the second one
        at = text.rindex("- port: 2020")
        at_line = text[:at].count("\n") + 1
    else:
        at_line = line(text, marker)
    path = write(tmp_path, text)
    assert f"{path}:{at_line}: {want}" in problems(path)


def test_bidirectional_propagation_in_a_privileged_container_is_allowed(tmp_path):
    text = BASE.replace("        ports:\n", "        volumeMounts:\n          hostPath:\n            - name: run\n"
                                           "              mountPath: /run\n              path: /run\n"
                                           "              mountPropagation: Bidirectional\n        ports:\n") + """\
      traits:
        - type: securitycontext
          properties:
            privileged: true
            allowPrivilegeEscalation: true
            runAsNonRoot: false
"""
    ds = objects(write(tmp_path, text))[DS]
    agent = ds["spec"]["template"]["spec"]["containers"][0]
    assert agent["volumeMounts"] == [{"name": "run", "mountPath": "/run", "mountPropagation": "Bidirectional"}]
    assert agent["securityContext"]["privileged"] is True


def test_kubevelas_own_daemon_example_deploys(tmp_path):
    """KubeVela's reference example of daemon (node-exporter), as its documentation gives it."""
    app = {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
           "metadata": {"name": "addon-node-exporter", "namespace": "vela-system"},
           "spec": {"components": [{"name": "node-exporter", "type": "daemon", "properties": {
               "image": "prom/node-exporter", "imagePullPolicy": "IfNotPresent",
               "volumeMounts": {"hostPath": [
                   {"mountPath": "/host/sys", "mountPropagation": "HostToContainer", "name": "sys", "path": "/sys",
                    "readOnly": True},
                   {"mountPath": "/host/root", "mountPropagation": "HostToContainer", "name": "root", "path": "/",
                    "readOnly": True}]}},
               "traits": [
                   {"type": "command", "properties": {"args": ["--path.sysfs=/host/sys", "--path.rootfs=/host/root"]}},
                   {"type": "expose", "properties": {"port": [9100], "annotations": {"prometheus.io/scrape": "true"}}},
                   {"type": "resource", "properties": {"cpu": 0.1, "memory": "250Mi"}}]}]}}
    path = tmp_path / "node-exporter.yaml"
    path.write_text(yaml.safe_dump(app))
    run = deploy(str(path))
    ds = run.manifest("addon-node-exporter-node-exporter-daemonset")
    assert (ds["kind"], ds["metadata"]["name"], ds["metadata"]["namespace"]) == ("DaemonSet", "node-exporter",
                                                                                 "vela-system")
    agent = ds["spec"]["template"]["spec"]["containers"][0]
    assert agent["args"] == ["--path.sysfs=/host/sys", "--path.rootfs=/host/root"]
    assert all(m["readOnly"] and m["mountPropagation"] == "HostToContainer" for m in agent["volumeMounts"])
    svc = run.manifest("addon-node-exporter-node-exporter-service")
    assert svc["spec"]["ports"][0]["port"] == 9100
