"""istio-gateway with canary-traffic: ingress traffic is weighed exactly like mesh traffic."""
from __future__ import annotations

import pytest

from tests.harness import StageRun, run_stage

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: store
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/web:{tag}
        port: 8080
      traits:
        - type: canary-traffic
          properties:
            port: [8080]
        - type: rollout
          properties:
            targetSize: 4
            rolloutBatches: [{{replicas: 1}}, {{replicas: 3}}]
        - type: istio-gateway
          properties:
            hosts: [store.example.com]
            match: [{{prefix: /}}]
            port: 8080
{workflow}"""
WORKFLOW = """  workflow:
    steps:
      - name: canary
        type: canary-rollout
        properties:
          batchPartition: 0
          traffic:
            weightedTargets:
              - revision: web-v1
                weight: 70
              - revision: web-v2
                weight: 30
      - name: approve
        type: suspend
      - name: all
        type: canary-rollout
        properties:
          batchPartition: 1
"""
GW, VS = "store-web-gateway-route", "store-web-virtualservice"
V1, V2 = "store-web-v1", "store-web-v2"
DR = "store-web-destinationrule"


def weights(run: StageRun, name: str) -> dict[str, int]:
    (http,) = run.manifest(name)["spec"]["http"]
    return {r["destination"]["subset"]: r["weight"] for r in http["route"]}


def test_gateway_route_follows_every_stage(tmp_path):
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(APP.format(tag="1", workflow=""))
    second.write_text(APP.format(tag="2", workflow=WORKFLOW))
    run1 = run_stage({"app": str(first)})
    assert run1.error is None
    assert weights(run1, GW) == weights(run1, VS) == {"web-v1": 100}
    route = run1.manifest(GW)["spec"]["http"][0]
    assert route["match"] == [{"uri": {"prefix": "/"}}]
    assert route["route"][0]["destination"] == {"host": "web.default.svc.cluster.local", "subset": "web-v1",
                                                "port": {"number": 8080}}
    assert run1.depends(GW, V1) and run1.depends(GW, DR)
    assert run1.manifest("store-web-service")["spec"]["ports"][0]["appProtocol"] == "http"

    canary = run_stage({"app": str(second)}, run1)
    assert canary.error is None
    assert weights(canary, GW) == weights(canary, VS) == {"web-v1": 70, "web-v2": 30}
    for route in (GW, VS):
        assert canary.depends(route, V2) and canary.depends(route, DR), "web-v2's subset comes before the routes"
        assert canary.depends(V1, route), f"web-v1 shrinks only after {route} has moved"

    done = run_stage({"app": str(second), "approve": "approve"}, canary)
    assert weights(done, GW) == weights(done, VS) == {"web-v2": 100}
    assert done.depends(V1, GW) and done.depends(V1, VS)

    back = run_stage({"app": str(second), "approve": "approve", "stage": 1}, done)
    assert weights(back, GW) == {"web-v1": 70, "web-v2": 30}
    assert back.depends(GW, V1) and back.depends(V2, GW)

    rollback = run_stage({"app": str(second), "approve": "approve", "rollback": "true"}, back)
    assert weights(rollback, GW) == weights(rollback, VS) == {"web-v1": 100}
    assert rollback.depends(GW, V1)
    assert rollback.depends(DR, GW) and rollback.depends(DR, VS), "web-v2's subset goes only after both routes"


TWO = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: two
spec:
  components:
    - name: a
      type: webservice
      properties: {{image: registry.example.com/a:1, port: 80}}
      traits:
        - type: expose
          properties: {{port: [80]}}
        - type: istio-gateway
          properties: {{hosts: [{a}], match: [{{prefix: /a}}], port: 80}}
    - name: b
      type: webservice
      properties: {{image: registry.example.com/b:1, port: 80}}
      traits:
        - type: expose
          properties: {{port: [80]}}
        - type: istio-gateway
          properties: {{hosts: [{b}], match: [{{prefix: /b}}], port: 80}}
"""


@pytest.mark.parametrize("a, b, conflict", [
    ("'*'", "shop.example.com", True),
    ("shop.example.com", "shop.example.com", True),
    ("'*.example.com'", "shop.example.com", True),
    ("'*.example.com'", "'*.shop.example.com'", True),
    ("shop.example.com", "cart.example.com", False),
    ("'*.example.org'", "shop.example.com", False),
])
def test_two_gateways_never_claim_one_host(tmp_path, a, b, conflict):
    app = tmp_path / "two.yaml"
    app.write_text(TWO.format(a=a, b=b))
    run = run_stage({"app": str(app)})
    if conflict:
        assert run.resources == {}
        assert "two.yaml:22: spec.components[1].traits[1].properties.hosts: host " in run.error
        assert f"is also served by component 'a' ({app}:14) on gateway 'ingressgateway'; Istio would serve only one" \
            in run.error
    else:
        assert run.error is None
