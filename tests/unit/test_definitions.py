"""Every registered definition on plain data: properties in, manifests (or step actions) out. No Pulumi."""
from __future__ import annotations

from typing import Any, Optional

import pytest
from pydantic import ValidationError

from oam.kit.applied import Applied
from oam.errors import OamError
from tests.harness import run_stage
from tests.unit.app_files import line, objects, problems
from oam.kit.context import COMPONENT_LABEL, NAME_LABEL, REVISION_LABEL, ComponentContext
from oam.kit.spec import StepSpec
from oam.revisions import Revision
from oam.kit.stage import ComponentStage, Rollout
from oam.registry import COMPONENTS, REGISTRIES, STEPS, TRAITS, ComponentType, TraitType, load_definitions
from oam.traits import canary_traffic
from oam.traits.istio_gateway import ISTIO_API
from oam.traits.rollout import new_replicas
from oam.steps.canary_rollout import split_revision
from oam.steps.suspend import parse_duration

load_definitions()

APP, NS, COMP = "book-info", "default", "reviews"
SELECTOR = {NAME_LABEL: APP, COMPONENT_LABEL: COMP}
HOST = f"{COMP}.{NS}.svc.cluster.local"
IMAGE = "docker.io/istio/examples-bookinfo-reviews-v3:1.16.2"


def component(type_: str, props: dict[str, Any], name: str = COMP):
    definition = COMPONENTS.get(type_)
    return definition.workload(name, definition.parse(props))


def trait_props(type_: str, props: Any):
    return TRAITS.get(type_).properties.model_validate(props)


def context(ports: Optional[list[int]] = None) -> ComponentContext:
    return ComponentContext(APP, NS, COMP, [9080] if ports is None else ports)


def apply_trait(ctx: ComponentContext, type_: str, props: Any) -> ComponentContext:
    TRAITS.get(type_).apply(trait_props(type_, props), ctx)
    return ctx


def test_registries_hold_the_tutorial_definitions():
    assert set(COMPONENTS.names()) >= {"webservice", "worker"}
    assert set(TRAITS.names()) >= {"annotations", "canary-traffic", "expose", "istio-gateway", "labels",
                                   "rollout", "scaler"}
    assert set(STEPS.names()) >= {"canary-rollback", "canary-rollout", "suspend"}
    for registry in REGISTRIES:
        for name in registry.names():
            assert registry.get(name).description, f"{registry.kind} {name} has no one-line description"


def test_a_definition_name_registers_only_once():
    class Again(ComponentType):
        """Another webservice."""

        name = "webservice"
        Properties = COMPONENTS.get("webservice").Properties

    with pytest.raises(RuntimeError, match="defined twice"):
        COMPONENTS.register(Again)


def test_only_a_named_definition_of_the_registry_kind_registers():
    class Nameless(TraitType):
        """No name."""

    with pytest.raises(RuntimeError, match="not a named"):
        TRAITS.register(Nameless)
    with pytest.raises(RuntimeError, match="not a named ComponentType"):
        COMPONENTS.register(TRAITS.get("labels").__class__)


# --- webservice -------------------------------------------------------------------------------


def test_webservice_minimal():
    w = component("webservice", {"image": IMAGE, "port": 9080})
    assert w.container == {"name": COMP, "image": IMAGE,
                           "ports": [{"containerPort": 9080, "name": "port-9080", "protocol": "TCP"}]}
    assert w.ports == [9080]
    assert w.image == IMAGE
    assert (w.volumes, w.image_pull_secrets, w.labels, w.annotations) == ([], [], {}, {})


def test_webservice_without_ports_has_no_ports_entry():
    w = component("webservice", {"image": IMAGE})
    assert w.container == {"name": COMP, "image": IMAGE}
    assert w.ports == []


def test_webservice_ports_list():
    w = component("webservice", {"image": IMAGE, "ports": [
        {"port": 9080},
        {"port": 9443, "name": "https"},
        {"port": 5353, "protocol": "UDP", "expose": True},
    ]})
    assert w.container["ports"] == [
        {"containerPort": 9080, "name": "port-9080", "protocol": "TCP"},
        {"containerPort": 9443, "name": "https", "protocol": "TCP"},
        {"containerPort": 5353, "name": "port-5353-udp", "protocol": "UDP"},
    ]
    assert w.ports == [9080, 9443, 5353]
    assert w.service == {"type": "ClusterIP", "ports": [
        {"name": "port-5353-udp", "port": 5353, "targetPort": 5353, "protocol": "UDP"}]}


def test_webservice_exposed_ports_make_the_component_service():
    w = component("webservice", {"image": IMAGE, "exposeType": "NodePort", "ports": [
        {"port": 80, "containerPort": 8080, "expose": True, "nodePort": 30080},
        {"port": 9090, "name": "metrics"},
        {"port": 53, "protocol": "SCTP", "expose": True},
    ]})
    assert [p["containerPort"] for p in w.container["ports"]] == [8080, 9090, 53]
    assert w.service == {"type": "NodePort", "ports": [
        {"name": "port-8080", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
        {"name": "port-53-sctp", "port": 53, "targetPort": 53, "protocol": "SCTP"}]}


def test_webservice_port_alone_makes_no_service():
    assert component("webservice", {"image": IMAGE, "port": 80}).service is None
    assert component("webservice", {"image": IMAGE, "ports": [{"port": 80}]}).service is None


def test_webservice_every_property():
    w = component("webservice", {
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecrets": ["regcred", "mirror"],
        "port": 9080,
        "cmd": ["/opt/ibm/wlp/bin/server"],
        "args": ["run", "defaultServer"],
        "env": [
            {"name": "LOG_DIR", "value": "/logs"},
            {"name": "EMPTY"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "STAR_COLOR", "valueFrom": {"configMapKeyRef": {"name": "reviews", "key": "color"}}},
        ],
        "cpu": "500m",
        "memory": "256Mi",
        "volumes": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "type": "emptyDir", "medium": "Memory", "mountPath": "/dev/shm"},
            {"name": "config", "type": "configMap", "cmName": "reviews-config", "mountPath": "/etc/reviews",
             "defaultMode": 0o444, "items": [{"key": "server.xml", "path": "server.xml"},
                                             {"key": "run.sh", "path": "bin/run.sh", "mode": 0o755}]},
            {"name": "tls", "type": "secret", "secretName": "reviews-tls", "mountPath": "/etc/tls"},
        ],
        "livenessProbe": {"httpGet": {"path": "/health", "port": 9080,
                                      "httpHeaders": [{"name": "X-Probe", "value": "live"}]},
                          "initialDelaySeconds": 5},
        "readinessProbe": {"tcpSocket": {"port": 9080}, "periodSeconds": 3, "failureThreshold": 1},
        "labels": {"tier": "backend"},
        "annotations": {"team": "books"},
    })
    assert w.container == {
        "name": COMP,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/opt/ibm/wlp/bin/server"],
        "args": ["run", "defaultServer"],
        "ports": [{"containerPort": 9080, "name": "port-9080", "protocol": "TCP"}],
        "env": [
            {"name": "LOG_DIR", "value": "/logs"},
            {"name": "EMPTY", "value": ""},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "STAR_COLOR", "valueFrom": {"configMapKeyRef": {"name": "reviews", "key": "color"}}},
        ],
        # KubeVela's webservice sets cpu and memory as both request and limit.
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
            {"name": "config", "mountPath": "/etc/reviews"},
            {"name": "tls", "mountPath": "/etc/tls"},
        ],
        "livenessProbe": {"httpGet": {"path": "/health", "port": 9080,
                                      "httpHeaders": [{"name": "X-Probe", "value": "live"}]},
                          "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"tcpSocket": {"port": 9080}, "initialDelaySeconds": 0, "periodSeconds": 3,
                           "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 1},
    }
    assert w.volumes == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory"}},
        {"name": "config", "configMap": {"name": "reviews-config", "defaultMode": 0o444,
                                         "items": [{"key": "server.xml", "path": "server.xml"},
                                                   {"key": "run.sh", "path": "bin/run.sh", "mode": 0o755}]}},
        {"name": "tls", "secret": {"secretName": "reviews-tls"}},
    ]
    assert w.image_pull_secrets == [{"name": "regcred"}, {"name": "mirror"}]
    assert w.labels == {"tier": "backend"}
    assert w.annotations == {"team": "books"}


def test_webservice_cpu_alone_and_memory_alone():
    assert component("webservice", {"image": IMAGE, "cpu": "0.5"}).container["resources"] == {
        "requests": {"cpu": "0.5"}, "limits": {"cpu": "0.5"}}
    assert component("webservice", {"image": IMAGE, "memory": "1Gi"}).container["resources"] == {
        "requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}


def test_webservice_exec_probe():
    w = component("webservice", {"image": IMAGE, "livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}}})
    assert w.container["livenessProbe"] == {"exec": {"command": ["cat", "/tmp/ok"]}, "initialDelaySeconds": 0,
                                            "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                                            "failureThreshold": 3}


@pytest.mark.parametrize("props", [
    pytest.param({"image": IMAGE, "port": "9080"}, id="port-string"),
    pytest.param({"image": 123}, id="image-int"),
    pytest.param({"image": IMAGE, "prot": 9080}, id="unknown-property"),
    pytest.param({"image": IMAGE, "port": 0}, id="port-zero"),
    pytest.param({"image": IMAGE, "imagePullPolicy": "Sometimes"}, id="pull-policy"),
    pytest.param({"image": IMAGE, "cmd": "run"}, id="cmd-not-list"),
    pytest.param({"image": IMAGE, "volumes": [{"name": "c", "type": "configMap", "mountPath": "/c"}]}, id="cm-no-name"),
    pytest.param({"image": IMAGE, "volumes": [{"name": "s", "type": "secret", "mountPath": "/s"}]}, id="secret-no-name"),
    pytest.param({"image": IMAGE, "volumes": [{"name": "h", "type": "hostPath", "mountPath": "/h"}]}, id="volume-type"),
    pytest.param({"image": IMAGE, "env": [{"name": "A", "value": "x",
                                           "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, id="env-both"),
    pytest.param({"image": IMAGE, "env": [{"name": "A", "valueFrom": {}}]}, id="env-from-nothing"),
    pytest.param({"image": IMAGE, "livenessProbe": {"periodSeconds": 3}}, id="probe-no-handler"),
    pytest.param({"image": IMAGE, "livenessProbe": {"exec": {"command": ["a"]}, "tcpSocket": {"port": 1}}},
                 id="probe-two-handlers"),
])
def test_webservice_rejects(props):
    with pytest.raises(ValidationError):
        COMPONENTS.get("webservice").properties.model_validate(props)


# --- worker -----------------------------------------------------------------------------------


def test_worker_is_a_webservice_without_ports():
    props = {"image": "busybox:1.36", "cmd": ["sleep"], "args": ["3600"], "cpu": "100m",
             "env": [{"name": "MODE", "value": "batch"}]}
    w = component("worker", props, name="sweeper")
    assert w.container == {
        "name": "sweeper", "image": "busybox:1.36", "command": ["sleep"], "args": ["3600"],
        "env": [{"name": "MODE", "value": "batch"}],
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "100m"}},
    }
    assert w.ports == []
    web = component("webservice", props, name="sweeper")
    assert web.container == w.container


@pytest.mark.parametrize("key", ["port", "ports"])
def test_worker_has_no_ports(key):
    value = 9080 if key == "port" else [{"port": 9080}]
    with pytest.raises(ValidationError):
        COMPONENTS.get("worker").properties.model_validate({"image": "busybox", key: value})


# --- traits: expose, istio-gateway --------------------------------------------------------------


def test_expose():
    ctx = apply_trait(context([9080, 9443]), "expose", {"port": [9080, 9443]})
    assert ctx.service == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": COMP, "namespace": NS, "labels": SELECTOR},
        "spec": {
            "type": "ClusterIP",
            "selector": SELECTOR,
            "ports": [{"name": "port-9080", "port": 9080, "targetPort": 9080, "protocol": "TCP"},
                      {"name": "port-9443", "port": 9443, "targetPort": 9443, "protocol": "TCP"}],
        },
    }
    assert ctx.objects == {}


def test_expose_type():
    ctx = apply_trait(context(), "expose", {"port": [9080], "type": "NodePort"})
    assert ctx.service["spec"]["type"] == "NodePort"


EXPOSED = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: typed
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/web:1
        exposeType: NodePort
        ports:
          - port: 8080
            expose: true
            nodePort: 30080
      traits:
        - type: expose
          properties:
            ports:
              - port: 9090
                nodePort: 30090
"""


def test_expose_takes_the_type_the_component_gave_its_own_exposed_ports(tmp_path):
    path = tmp_path / "typed.yaml"
    path.write_text(EXPOSED)
    service = next(m for m in objects(str(path)).values() if m["kind"] == "Service")
    assert service["spec"]["type"] == "NodePort"
    assert [(e["port"], e.get("nodePort")) for e in service["spec"]["ports"]] == [(8080, 30080), (9090, 30090)]
    path.write_text(EXPOSED.replace("        exposeType: NodePort\n", ""))  # ClusterIP: no node ports
    service = next(m for m in objects(str(path)).values() if m["kind"] == "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert [e.get("nodePort") for e in service["spec"]["ports"]] == [None, None]


def test_expose_type_other_than_the_components_exposed_ports_is_refused_at_its_line(tmp_path):
    path = tmp_path / "typed.yaml"
    text = EXPOSED.replace("            ports:\n              - port: 9090", "            type: LoadBalancer\n"
                           "            ports:\n              - port: 9090")
    path.write_text(text)
    message = problems(str(path))
    assert f"{path}:{line(text, 'type: LoadBalancer')}: spec.components[0].traits[0].properties.type: the " \
           "component's exposeType makes its Service a NodePort one" in message, message
    path.write_text(text.replace("type: LoadBalancer", "type: NodePort"))  # the same type twice is no conflict
    assert next(m for m in objects(str(path)).values() if m["kind"] == "Service")["spec"]["type"] == "NodePort"


def test_istio_gateway():
    ctx = context()
    ctx.component = "productpage"
    apply_trait(ctx, "istio-gateway", {"hosts": ["*"], "gateway": "ingressgateway", "port": 9080,
                                       "match": [{"exact": "/productpage"}, {"prefix": "/static"}]})
    labels = {NAME_LABEL: APP, COMPONENT_LABEL: "productpage"}
    assert ctx.objects == {
        "gateway": {
            "apiVersion": ISTIO_API,
            "kind": "Gateway",
            "metadata": {"name": "productpage-gateway", "namespace": NS, "labels": labels},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]},
        },
        "gateway-route": {
            "apiVersion": ISTIO_API,
            "kind": "VirtualService",
            "metadata": {"name": "productpage-gateway", "namespace": NS, "labels": labels},
            "spec": {
                "hosts": ["*"],
                "gateways": ["productpage-gateway"],
                "http": [{
                    "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
                    "route": [{"destination": {"host": f"productpage.{NS}.svc.cluster.local",
                                               "port": {"number": 9080}}}],
                }],
            },
        },
    }
    assert ISTIO_API == "networking.istio.io/v1"


def test_istio_gateway_default_gateway():
    ctx = apply_trait(context(), "istio-gateway", {"hosts": ["books.example.com"], "port": 9080,
                                                   "match": [{"prefix": "/"}]})
    assert ctx.objects["gateway"]["spec"]["selector"] == {"istio": "ingressgateway"}


@pytest.mark.parametrize("match", [{}, {"exact": "/a", "prefix": "/b"}], ids=["neither", "both"])
def test_istio_gateway_match_needs_exactly_one(match):
    with pytest.raises(ValidationError):
        trait_props("istio-gateway", {"hosts": ["*"], "port": 9080, "match": [match]})


# --- traits: canary-traffic ---------------------------------------------------------------------


def canary_ctx(ports: list[int], expose: Optional[list[int]] = None) -> ComponentContext:
    ctx = context(ports)
    if expose:
        apply_trait(ctx, "expose", {"port": expose})
    return apply_trait(ctx, "canary-traffic", {"port": ports})


def test_canary_traffic_builds_nothing_before_the_revisions_are_known():
    ctx = canary_ctx([9080])
    assert ctx.service is None and ctx.objects == {}
    assert TRAITS.get("canary-traffic").splits_traffic
    assert TRAITS.get("canary-traffic").service_ports(trait_props("canary-traffic", {"port": [9080]})) == [9080]


def test_canary_traffic_service():
    ctx = canary_ctx([9080])
    assert canary_traffic.service(ctx, [9080]) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": COMP, "namespace": NS, "labels": SELECTOR},
        "spec": {
            "type": "ClusterIP",
            "selector": SELECTOR,
            "ports": [{"name": "http-9080", "port": 9080, "targetPort": 9080, "protocol": "TCP"}],
        },
    }
    assert ctx.http_ports == {9080}, "its ports carry weighted HTTP routes: the Service declares them HTTP"


def test_canary_traffic_uses_the_exposed_service():
    ctx = canary_ctx([9080], expose=[9080, 9443])
    assert canary_traffic.service(ctx, [9080]) is ctx.service
    assert ctx.http_ports == {9080}


def test_canary_traffic_virtual_service():
    vs = canary_traffic.virtual_service(canary_ctx([9080]), [9080], {"reviews-v1": 90, "reviews-v2": 10})
    assert vs == {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": COMP, "namespace": NS, "labels": SELECTOR},
        "spec": {
            "hosts": [COMP],
            "http": [{"name": "port-9080", "route": [
                {"destination": {"host": HOST, "subset": "reviews-v1", "port": {"number": 9080}}, "weight": 90},
                {"destination": {"host": HOST, "subset": "reviews-v2", "port": {"number": 9080}}, "weight": 10},
            ]}],
        },
    }


def test_canary_traffic_virtual_service_matches_each_port_when_there_are_several():
    vs = canary_traffic.virtual_service(canary_ctx([9080, 9090]), [9080, 9090], {"reviews-v2": 100})
    assert vs["spec"]["http"] == [
        {"name": "port-9080", "match": [{"port": 9080}],
         "route": [{"destination": {"host": HOST, "subset": "reviews-v2", "port": {"number": 9080}}, "weight": 100}]},
        {"name": "port-9090", "match": [{"port": 9090}],
         "route": [{"destination": {"host": HOST, "subset": "reviews-v2", "port": {"number": 9090}}, "weight": 100}]},
    ]


def test_canary_traffic_destination_rule_is_named_after_the_component():
    dr = canary_traffic.destination_rule(canary_ctx([9080]), COMP, ["reviews-v1", "reviews-v2"])
    assert dr == {
        "apiVersion": ISTIO_API,
        "kind": "DestinationRule",
        "metadata": {"name": COMP, "namespace": NS, "labels": SELECTOR},
        "spec": {"host": HOST, "subsets": [{"name": "reviews-v1", "labels": {REVISION_LABEL: "reviews-v1"}},
                                           {"name": "reviews-v2", "labels": {REVISION_LABEL: "reviews-v2"}}]},
    }


V1, V2, V3 = "reviews-v1", "reviews-v2", "reviews-v3"
OWN = {rev: f"{APP}-{rev}-destinationrule" for rev in (V1, V2, V3)}


def staged(pods: dict[str, int], applied_rules: dict[str, list[str]], routed: tuple[str, ...]) -> ComponentStage:
    """canary-traffic's stage of reviews: ``pods`` per live revision; the cluster holds ``applied_rules``
    (rule name -> subsets) and its routes send traffic to ``routed``."""
    revs = [Revision(COMP, int(name.rsplit("-v", 1)[1]), "h", "webservice") for name in pods]
    rollout = Rollout(COMP, revs, dict(pods), {revs[-1].name: 100})
    keys = {COMP: f"{APP}-{COMP}-destinationrule", **OWN}
    applied = Applied(subsets={keys[name]: subsets for name, subsets in applied_rules.items()},
                      routed={HOST: set(routed)})
    stage = ComponentStage(APP, COMP, rollout, applied, [])
    TRAITS.get("canary-traffic").stage(trait_props("canary-traffic", {"port": [9080]}), canary_ctx([9080]), stage)
    return stage


def rules_of(stage: ComponentStage) -> list[tuple[str, list[str], str]]:
    """(rule name, its subsets, 'before' or 'after' the routes) of every rule."""
    out = []
    for rule in (d for d in stage.added if d.role == "destinationrule"):
        assert (rule.key in stage.subsets) != (rule.key in stage.retiring)
        out.append((rule.manifest["metadata"]["name"], [s["name"] for s in rule.manifest["spec"]["subsets"]],
                    "before" if rule.key in stage.subsets else "after"))
    return out


@pytest.mark.parametrize("pods, applied, routed, expected", [
    ({V1: 2}, {}, (), [(COMP, [V1], "before")]),  # a new rule: before any route names it
    ({V1: 1, V2: 1}, {COMP: [V1]}, (V1,), [(COMP, [V1, V2], "before")]),  # a subset gained
    ({V1: 0, V2: 2}, {COMP: [V1, V2]}, (V1, V2), [(COMP, [V2], "after")]),  # a routed one given up: after
    ({V1: 2}, {COMP: [V1, V2]}, (V1, V2), [(COMP, [V1], "after")]),  # rolled back
    ({V1: 1, V2: 1}, {COMP: [V1, V2]}, (V2,), [(COMP, [V1, V2], "after")]),  # unchanged
    ({V2: 1, V3: 1}, {COMP: [V2]}, (V2,), [(COMP, [V2, V3], "before")]),  # the next release
    # 100% from one revision to the next in one update: the new subset gets a rule of its own,
    # made before the routes; the component's rule, left with none, is deleted at the end.
    ({V1: 0, V2: 2}, {COMP: [V1]}, (V1,), [(V2, [V2], "before")]),
    ({V2: 0, V3: 2}, {V2: [V2]}, (V2,), [(COMP, [V3], "before")]),  # and back to the component's rule
    # A stack made when every subset had a rule of its own keeps them while their revisions have pods.
    ({V1: 1, V2: 1}, {V1: [V1], V2: [V2]}, (V1, V2), [(V1, [V1], "before"), (V2, [V2], "before")]),
    ({V1: 0, V2: 2}, {V1: [V1], V2: [V2]}, (V1, V2), [(V2, [V2], "before")]),
], ids=["new", "gains", "gives-up", "rolled-back", "same", "next-release", "direct", "direct-again",
        "upgraded", "upgraded-approved"])
def test_canary_traffic_orders_its_rules_against_the_routes(pods, applied, routed, expected):
    assert rules_of(staged(pods, applied, routed)) == expected


def test_canary_traffic_port_must_be_a_list():
    with pytest.raises(ValidationError):
        trait_props("canary-traffic", {"port": 9080})


# --- traits: rollout, scaler ---------------------------------------------------------------------


def test_rollout_rolls_the_component_out_and_builds_nothing():
    props = {"targetSize": 2, "rolloutBatches": [{"replicas": 1}, {"replicas": 1}]}
    ctx = apply_trait(context(), "rollout", props)
    assert ctx.replicas is None and ctx.objects == {} and ctx.service is None
    rollout = TRAITS.get("rollout")
    assert rollout.rolls_out
    assert (rollout.target_size(trait_props("rollout", props)), rollout.batches(trait_props("rollout", props))) == (2, 2)


@pytest.mark.parametrize("size, batches, partition, expected", [
    (2, [1, 1], 0, 1),
    (2, [1, 1], 1, 2),
    (2, [2], 0, 2),
    (5, [1, 2, 2], 0, 1),
    (5, [1, 2, 2], 1, 3),
    (5, [1, 2, 2], 2, 5),
    (5, [1, 2, 2], 9, 5),  # past the last batch still means all of them
    (4, [0, 2, 2], 0, 0),
])
def test_rollout_new_replicas(size, batches, partition, expected):
    p = trait_props("rollout", {"targetSize": size, "rolloutBatches": [{"replicas": n} for n in batches]})
    assert new_replicas(p, partition) == expected


def test_scaler():
    assert apply_trait(context(), "scaler", {"replicas": 3}).replicas == 3
    assert apply_trait(context(), "scaler", {}).replicas == 1
    assert apply_trait(context(), "scaler", {"replicas": 0}).replicas == 0


# --- traits: labels, annotations -----------------------------------------------------------------


def test_labels_and_annotations_go_on_every_object_built_after_them():
    ctx = context()
    apply_trait(ctx, "labels", {"tier": "backend", "example.com/team": "books"})
    apply_trait(ctx, "annotations", {"sidecar.istio.io/inject": "true"})
    apply_trait(ctx, "expose", {"port": [9080]})
    assert ctx.labels == {"tier": "backend", "example.com/team": "books"}
    assert ctx.annotations == {"sidecar.istio.io/inject": "true"}
    assert ctx.service["metadata"] == {"name": COMP, "namespace": NS,
                                       "labels": {**SELECTOR, "tier": "backend", "example.com/team": "books"},
                                       "annotations": {"sidecar.istio.io/inject": "true"}}
    assert ctx.service["spec"]["selector"] == SELECTOR, "extra labels must not change the selector"


def test_labels_and_annotations_do_not_depend_on_trait_order(tmp_path):
    from oam.loader import parse_yaml
    from oam.model import validate_application
    from oam.kit.workload import component_context

    text = """
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: web:1, port: 9080}
      traits:
        - {type: expose, properties: {port: [9080]}}
        - {type: istio-gateway, properties: {hosts: ["*"], port: 9080, match: [{prefix: /}]}}
        - {type: labels, properties: {tier: backend}}
        - {type: annotations, properties: {team: books}}
"""
    app = validate_application(*parse_yaml(text, "app.yaml"))
    ctx = component_context(app, app.components[0])
    for manifest in (ctx.service, ctx.objects["gateway"], ctx.objects["gateway-route"]):
        assert manifest["metadata"]["labels"].get("tier") == "backend"
        assert manifest["metadata"].get("annotations") == {"team": "books"}


def test_a_traits_labels_and_annotations_win_over_the_components_own_on_the_workload_and_its_pods():
    text = """
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop}
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: web:1
        port: 9080
        labels: {tier: component, keep: me}
        annotations: {note: component, also: kept}
      traits:
        - {type: labels, properties: {tier: trait}}
        - {type: annotations, properties: {note: trait}}
"""
    from oam.config import StageConfig
    from oam.loader import parse_yaml
    from oam.model import validate_application
    from oam.render import plan
    from oam.revisions import History

    app = validate_application(*parse_yaml(text, "app.yaml"))
    [deployment] = [d.manifest for d in plan(app, History(), StageConfig(app="app.yaml")).objects
                    if d.kind == "Deployment"]
    for meta in (deployment["metadata"], deployment["spec"]["template"]["metadata"]):
        assert {k: meta["labels"][k] for k in ("tier", "keep")} == {"tier": "trait", "keep": "me"}, meta
        assert meta["annotations"] == {"note": "trait", "also": "kept"}, meta


@pytest.mark.parametrize("type_, value", [("labels", {"tier": 3}), ("annotations", {"a": True}),
                                          ("labels", ["tier"])], ids=["label-int", "annotation-bool", "list"])
def test_labels_and_annotations_are_string_maps(type_, value):
    with pytest.raises(ValidationError):
        trait_props(type_, value)


# --- workflow steps ------------------------------------------------------------------------------


class FakeRun:
    """Records what a step asks the workflow run to do."""

    def __init__(self, gate_opens: bool = False):
        self.calls: list[tuple] = []
        self.gate_opens = gate_opens

    def partition(self, p: int) -> None:
        self.calls.append(("partition", p))

    def weigh(self, component: str, weights: dict[str, int]) -> None:
        self.calls.append(("weigh", component, weights))

    def roll_back(self) -> None:
        self.calls.append(("roll_back",))

    def gate(self, step: StepSpec, duration: Optional[int]) -> bool:
        self.calls.append(("gate", step.name, duration))
        return self.gate_opens


def run_step(type_: str, props: dict, run: FakeRun, name: str = "step") -> bool:
    definition = STEPS.get(type_)
    p = definition.properties.model_validate(props)
    step = StepSpec(name, type_, p, ("spec", "workflow", "steps", 0))
    return definition.run(p, run, step)


def test_canary_rollout_sets_partition_and_weights():
    run = FakeRun()
    go_on = run_step("canary-rollout", {"batchPartition": 0, "traffic": {"weightedTargets": [
        {"revision": "reviews-v1", "weight": 90}, {"revision": "reviews-v2", "weight": 10}]}}, run)
    assert go_on is True
    assert run.calls == [
        ("partition", 0),
        ("weigh", "reviews", {"reviews-v1": 90, "reviews-v2": 10}),
    ]


def test_canary_rollout_groups_weights_by_component():
    run = FakeRun()
    run_step("canary-rollout", {"batchPartition": 1, "traffic": {"weightedTargets": [
        {"revision": "reviews-v2", "weight": 100}, {"revision": "ratings-v3", "weight": 100}]}}, run)
    weighs = {c[1]: c[2] for c in run.calls if c[0] == "weigh"}
    assert weighs == {"reviews": {"reviews-v2": 100}, "ratings": {"ratings-v3": 100}}


def test_canary_rollout_without_traffic_only_partitions():
    run = FakeRun()
    assert run_step("canary-rollout", {"batchPartition": 1}, run) is True
    assert run.calls == [("partition", 1)]


@pytest.mark.parametrize("weight", [9.5, 101, -1, True, "10"], ids=["float", "over", "negative", "bool", "string"])
def test_canary_rollout_weight_is_an_integer_from_0_to_100(weight):
    with pytest.raises(ValidationError, match="must be an integer from 0 to 100"):
        STEPS.get("canary-rollout").properties.model_validate(
            {"batchPartition": 0, "traffic": {"weightedTargets": [{"revision": "reviews-v1", "weight": weight}]}})


@pytest.mark.parametrize("name, expected", [
    ("reviews-v1", ("reviews", 1)),
    ("reviews-v12", ("reviews", 12)),
    ("my-app-v2", ("my-app", 2)),
    ("reviews", None),
    ("reviews-v0", None),
    ("Reviews-v1", None),
    ("reviews-1", None),
])
def test_split_revision(name, expected):
    assert split_revision(name) == expected


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1h2m3s", 3723), ("0s", 0),
    ("", None), ("5 minutes", None), ("90", None), ("5M", None), ("m", None), ("30s5m", None),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_suspend_waits_for_its_gate():
    run = FakeRun(gate_opens=False)
    assert run_step("suspend", {}, run, name="manual-approval") is False
    assert run.calls == [("gate", "manual-approval", None)]
    run = FakeRun(gate_opens=True)
    assert run_step("suspend", {"duration": "5m"}, run, name="soak") is True
    assert run.calls == [("gate", "soak", 300)]


def test_suspend_duration_must_parse():
    with pytest.raises(ValidationError, match="'5 minutes' is not a duration"):
        STEPS.get("suspend").properties.model_validate({"duration": "5 minutes"})


def test_canary_rollback_rolls_back_and_ends_the_workflow():
    run = FakeRun()
    assert run_step("canary-rollback", {}, run) is False
    assert run.calls == [("roll_back",)]
    with pytest.raises(ValidationError):
        STEPS.get("canary-rollback").properties.model_validate({"revision": "reviews-v1"})


def test_webservice_limit_and_host_aliases():
    w = component("webservice", {"image": IMAGE, "cpu": "250m", "memory": "128Mi", "limit": {"cpu": "1"},
                                 "addRevisionLabel": True,
                                 "hostAliases": [{"ip": "10.0.0.5", "hostnames": ["db.internal"]}]})
    assert w.container["resources"] == {"requests": {"cpu": "250m", "memory": "128Mi"},
                                        "limits": {"cpu": "1", "memory": "128Mi"}}
    assert w.host_aliases == [{"ip": "10.0.0.5", "hostnames": ["db.internal"]}]


def test_each_definition_lives_in_the_module_its_name_gives():
    """A definition is imported only when a file uses it: by its name, from oam/<kind>/<name with _ for ->.py."""
    for registry in REGISTRIES:
        for name in registry.names():
            module = type(registry.get(name)).__module__
            assert module == f"{registry.package}.{name.replace('-', '_')}", (registry.kind, name, module)


def _read(tmp_path, text: str):
    from oam.model import read_application
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return read_application(path, "app.yaml")


WORKER = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
spec:
  components:
    - name: worker
      type: worker
      properties:
        image: busybox:1.36
      traits:
        - type: sidecar
          properties:
            name: proxy
            image: nginx:1.25
"""


def test_a_per_container_trait_may_be_given_once_for_each_container(tmp_path):
    probe = """        - type: startup-probe
          properties:
            containerName: {}
            exec:
              command: [cat, /ready]
"""
    app = _read(tmp_path, WORKER + probe.format("worker") + probe.format("proxy"))
    template = {"metadata": {}, "spec": {"containers": [{"name": "worker"}, {"name": "proxy"}]}}
    for t in app.components[0].traits[1:]:
        TRAITS.get(t.type).patch_pod(t.properties, template, context())
    assert [("startupProbe" in c) for c in template["spec"]["containers"]] == [True, True]
    # Twice for one container (the component's own, named or not) is one too many.
    with pytest.raises(OamError) as err:
        _read(tmp_path, WORKER + probe.format("worker") + probe.format("''"))
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("spec.components[0].traits[2].type", "a second 'startup-probe' trait changes container worker again")]
    # Two sidecars of their own names are two containers; one name twice is refused.
    sidecar = "        - type: sidecar\n          properties:\n            name: {}\n            image: nginx:1.25\n"
    assert len(_read(tmp_path, WORKER + sidecar.format("logs")).components[0].traits) == 2
    with pytest.raises(OamError, match="a second 'sidecar' trait changes container proxy again"):
        _read(tmp_path, WORKER + sidecar.format("proxy"))
    # A trait of the whole component stays once only.
    scaler = "        - type: scaler\n          properties:\n            replicas: 2\n"
    with pytest.raises(OamError, match="trait 'scaler' is given twice"):
        _read(tmp_path, WORKER + scaler + scaler)


def test_a_step_name_may_start_with_a_digit_a_component_name_may_not(tmp_path):
    steps = "  workflow:\n    steps:\n      - name: {}\n        type: deploy\n"
    app = _read(tmp_path, WORKER + steps.format("200-status-check"))
    assert [s.name for s in app.steps] == ["200-status-check"]
    for bad in ("-first", "Upper", "a_b"):
        with pytest.raises(OamError, match="start with a letter or digit"):
            _read(tmp_path, WORKER + steps.format(f"'{bad}'"))
    with pytest.raises(OamError, match=r"component name '1worker' is not a valid name.*start with a letter,"):
        _read(tmp_path, WORKER.replace("- name: worker", "- name: 1worker"))


@pytest.mark.parametrize("trait", ["cpuscaler", "hpa", "k8s-update-strategy"])
def test_the_target_api_version_has_kubevelas_name(trait):
    extra = {"strategy": {"type": "RollingUpdate"}} if trait == "k8s-update-strategy" else {}
    assert trait_props(trait, {"targetAPIVersion": "apps/v1", **extra}).target_api_version == "apps/v1"
    with pytest.raises(ValidationError, match="targetApiVersion"):
        trait_props(trait, {"targetApiVersion": "apps/v1", **extra})


def test_resource_takes_a_cpu_amount_as_a_number_as_kubevela_does():
    template = {"metadata": {}, "spec": {"containers": [{"name": COMP}]}}
    p = trait_props("resource", {"cpu": 2, "memory": "1Gi", "limits": {"cpu": 0.5}, "requests": {"cpu": "250m"}})
    TRAITS.get("resource").patch_pod(p, template, context())
    assert template["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "0.5", "memory": "1Gi"}}
    for bad in (True, "two", -1):
        with pytest.raises(ValidationError):
            trait_props("resource", {"cpu": bad})


@pytest.mark.parametrize("component, props, trait, said, hint", [
    ("task", "image: busybox:1.36", "scaler:\n            replicas: 2",
     "trait 'scaler' sets the replica count, and task has none: it runs a Job", "use a webservice or worker"),
    ("cron-task", "image: busybox:1.36\n        schedule: '0 3 * * *'", "hpa:\n            max: 3",
     "trait 'hpa' sets the replica count, and cron-task has none: it runs a CronJob", "use a webservice or worker"),
    ("task", "image: busybox:1.36", "k8s-update-strategy:\n            strategy:\n              type: Recreate",
     "trait 'k8s-update-strategy' changes a Deployment's own fields, and task runs a Job", "use a webservice"),
    ("k8s-objects", "objects:\n          - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}",
     "expose:\n            port: [80]", "trait 'expose' changes the pods, and k8s-objects runs none",
     "only annotations, labels apply to k8s-objects"),
])
def test_a_trait_needs_what_the_component_runs(tmp_path, component, props, trait, said, hint):
    kind, _, trait_props = trait.partition(":")
    text = WORKER.split("    - name: worker")[0] + (
        f"    - name: job\n      type: {component}\n      properties:\n        {props}\n      traits:\n"
        f"        - type: labels\n          properties:\n            team: data\n"
        f"        - type: {kind}\n          properties:{trait_props}\n")
    with pytest.raises(OamError) as err:
        _read(tmp_path, text)
    [problem] = err.value.problems
    assert problem.path == "spec.components[0].traits[1].type"
    assert problem.message == said and hint in problem.hint


CANARIED = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/web:2
        ports:
          - port: 80
            expose: true
      traits:
        - type: rollout
          properties:
            targetSize: 2
            rolloutBatches:
              - replicas: 1
              - replicas: 1
        - type: canary-traffic
          properties:
            port: [80]
"""


@pytest.mark.parametrize("trait, props", [
    ("gateway", "domain: shop.example.com\n            http:\n              /: 80"),
    ("ingress", "domain: shop.example.com\n            http:\n              /: 80"),
    ("ingress-1-20", "domain: shop.example.com\n            http:\n              /: 80"),
    ("pure-ingress", "domain: shop.example.com\n            http:\n              /: 80"),
])
def test_an_ingress_is_refused_where_canary_traffic_weighs_the_revisions(tmp_path, trait, props):
    text = CANARIED + f"        - type: {trait}\n          properties:\n            {props}\n"
    with pytest.raises(OamError) as err:
        _read(tmp_path, text)
    [problem] = err.value.problems
    assert (problem.line, problem.path) == (text.splitlines().index(f"        - type: {trait}") + 1,
                                            "spec.components[0].traits[2].type")
    assert "not by the weights of its canary traffic" in problem.message and "istio-gateway" in problem.hint
    # Without canary-traffic the rollout's batches are the split, and the Ingress is taken.
    _read(tmp_path, text.replace("        - type: canary-traffic\n          properties:\n            port: [80]\n", ""))


def test_resource_update_recreates_only_objects_that_do_not_serve(tmp_path):
    base = WORKER + "  policies:\n    - name: recreate\n      type: resource-update\n      properties:\n        rules:\n"
    rule = "          - selector:\n              {}\n            strategy:\n              recreateFields: [data]\n"
    _read(tmp_path, base + rule.format("resourceTypes: [ConfigMap, Secret]"))
    with pytest.raises(OamError) as err:
        _read(tmp_path, base + rule.format("componentNames: [worker]") +
              rule.format("resourceTypes: [Secret, Deployment]"))
    assert [(p.path, p.message.split(",")[0]) for p in err.value.problems] == [
        ("spec.policies[0].properties.rules[0].selector", "recreates objects of every kind it selects"),
        ("spec.policies[0].properties.rules[1].selector.resourceTypes[1]", "a Deployment is never recreated: it runs "
                                                                           "pods or routes to them")]


def test_istio_gateway_routes_to_the_service_a_webservice_makes_of_its_exposed_ports(tmp_path):
    text = WORKER.replace("type: worker", "type: webservice").replace(
        "        image: busybox:1.36\n", "        image: busybox:1.36\n        ports:\n          - port: 80\n"
                                        "            expose: true\n") + (
        "        - type: istio-gateway\n          properties:\n            hosts: [shop.example.com]\n"
        "            gateway: ingressgateway\n            port: {}\n")
    run = run_stage({"app": str(_write(tmp_path, text.format(80)))})
    assert run.error is None, run.error
    [vs] = [r.inputs for r in run.resources.values() if r.inputs.get("kind") == "VirtualService"]
    assert vs["spec"]["http"][0]["route"][0]["destination"]["port"] == {"number": 80}
    with pytest.raises(OamError, match=r"port 81 is not a port of component 'worker' \(its ports: 80\)"):
        _read(tmp_path, text.format(81))


def _write(tmp_path, text: str):
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path
