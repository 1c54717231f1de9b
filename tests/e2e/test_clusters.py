"""Many clusters, one release, end to end: two real clusters (the session's as staging, one more as prod), one stack,
a wave workflow: staging, then an approval, then prod's canary behind a metric gate on prod's own Prometheus.

Every pulumi up records and judges the routing of both clusters (Project.watched); every assertion on a cluster
reads its live API. The stack's state is kept on a real S3-compatible server (tests/e2e/s3.py), as a team keeps it,
and the stack reaches each cluster with a service account bound to the Role of docs/least-privilege.md in namespace
waves only (tools/cluster.sh kubeconfig-for), not with the admin credentials the test reads the clusters with.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Kube, Metrics, Project, kubeconfig_for, make_project, start_cluster, stop_cluster
from tests.e2e.s3 import S3Server, server_binary

NS = "waves"
DURATION, FAIL = 10, 8  # seconds: prod's gate passes after 10 s met

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: waves
  namespace: waves
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/shop/web:{version}
        port: 8080
      traits:
        - type: canary-traffic
          properties:
            port: [8080]
        - type: rollout
          properties:
            targetSize: 2
            rolloutBatches:
              - replicas: 1
              - replicas: 1
  policies:
    - name: staging
      type: topology
      properties:
        clusterLabelSelector:
          stage: staging
    - name: prod
      type: topology
      properties:
        clusters: [prod]
  workflow:
    steps:
      - name: deploy-staging
        type: deploy
        properties:
          policies: [staging]
      - name: deploy-prod
        type: deploy
        properties:
          policies: [prod]
          auto: false
{canary}"""

CANARY = """      - name: prod-first-batch
        type: canary-rollout
        properties:
          batchPartition: 0
          traffic:
            weightedTargets:
              - revision: web-v1
                weight: 90
              - revision: web-v2
                weight: 10
      - name: prod-success-rate
        type: check-metrics
        properties:
          metric: request-success-rate
          interval: 5s
          duration: {duration}s
          failDuration: {fail}s
      - name: prod-rest
        type: canary-rollout
        properties:
          batchPartition: 1
          traffic:
            weightedTargets:
              - revision: web-v2
                weight: 100
"""


def write_app(project: Project, version: str) -> str:
    canary = CANARY.format(duration=DURATION, fail=FAIL) if version != "1.0.0" else ""
    path = project.dir / "apps" / f"waves-{version}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(APP.format(version=version, canary=canary))
    return str(path.relative_to(project.dir))


def web(kube: Kube) -> dict:
    """What one cluster runs: revision -> (replicas, Ready), and the route's weights."""
    out = {}
    for rev in ("web-v1", "web-v2"):
        d = kube.get("deployment", rev)
        if d is not None and d["spec"]["replicas"]:
            out[rev] = (d["spec"]["replicas"], d["status"].get("readyReplicas", 0))
    vs = kube.get("virtualservices.networking.istio.io", "web")
    out["routes"] = {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]} \
        if vs else None
    return out


def set_cluster(project: Project, name: str, kubeconfig: str, labels: dict[str, str], prometheus: str = "") -> None:
    project.pulumi("config", "set", "--path", f"clusters.{name}.kubeconfig", kubeconfig)
    for key, value in labels.items():
        project.pulumi("config", "set", "--path", f"clusters.{name}.labels.{key}", value)
    if prometheus:
        project.pulumi("config", "set", "--path", f"clusters.{name}.prometheusUrl", prometheus)


@pytest.fixture(scope="module")
def prod_env(pulumi_env, tmp_path_factory):
    """A second local cluster, beside the session's, for the module."""
    state = tmp_path_factory.mktemp("prod-cluster")
    env = start_cluster(state)
    yield {**pulumi_env, "KUBECONFIG": env["KUBECONFIG"], "OAM_CLUSTER_DIR": str(state)}
    stop_cluster(env)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(server_binary(), tmp_path_factory.mktemp("s3")).start()
    try:
        server.client.make_bucket("waves-state")
        yield server
    finally:
        server.stop()


def test_a_release_in_waves_across_two_clusters(pulumi_env, prod_env, s3: S3Server, tmp_path_factory, kube: Kube,
                                                metrics: Metrics):
    staging = Kube(pulumi_env, namespace=NS, istioctl=kube.istioctl)
    prod = Kube(prod_env, namespace=NS, istioctl=kube.istioctl)
    staging.release_new_pods()
    team = {**pulumi_env, **s3.credentials_env(), "PULUMI_BACKEND_URL": s3.backend_url("waves-state")}
    project = make_project(tmp_path_factory.mktemp("waves") / "project", team, "waves")
    project.watched = {"prod": prod_env["KUBECONFIG"]}
    deployer = {}
    for name, env in (("staging", pulumi_env), ("prod", prod_env)):
        deployer[name] = project.dir / f"{name}-deployer.kubeconfig"
        deployer[name].write_text(kubeconfig_for(env, NS))
    set_cluster(project, "staging", str(deployer["staging"]), {"stage": "staging"})
    set_cluster(project, "prod", str(deployer["prod"]), {"stage": "prod"}, metrics.prometheus.url)
    project.config(app=write_app(project, "1.0.0"), approve="deploy-prod", readyTimeout="20s")
    try:
        # 1. The first release: staging, then prod (approved beforehand), both at v1.
        first = project.up("v1")
        assert first.ok, first.output
        assert ".pulumi/stacks/oam-delivery/waves.json" in s3.client.keys("waves-state"), "the state is in the bucket"
        assert web(staging) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        assert web(prod) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        ops = first.ops()
        assert "staging/waves-web-v1" in ops and "prod/waves-web-v1" in ops, ops
        # prod's wave starts once staging's pods are Ready.
        assert first.finished_before_started("staging/waves-web-v1", "prod/waves-web-v1")
        for k in (staging, prod):
            k.assert_traffic({("mesh", "web"): {"web-v1": 100}})
            k.assert_istio_agrees()
        assert project.preview_no_changes().returncode == 0

        # 2. Release 2: staging's wave takes v2; prod's waits for its approval.
        project.config(approve=None, app=write_app(project, "2.0.0"))
        prod_before = prod.snapshot("waves")
        waiting = project.up("v2 staging")
        assert waiting.ok, waiting.output
        assert web(staging) == {"web-v2": (2, 2), "routes": {"web-v2": 100}}
        assert web(prod) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        assert prod.snapshot("waves") == prod_before, "prod waits for its approval"
        status = project.status()["web"]
        assert status["waiting"] == "deploy-prod (needs approval)"
        assert set(status["clusters"]) == {"staging", "prod"}

        # 3. Approved: prod's first batch, and its metric gate starts on prod's Prometheus.
        metrics.exporter.set_traffic("web-v2", NS, rps=20, error_ratio=0.0, latency_ms=30)
        project.config(approve="deploy-prod")
        staging_before = staging.snapshot("waves")
        batch = project.up("prod first batch")
        assert batch.ok, batch.output
        assert web(prod) == {"web-v1": (1, 1), "web-v2": (1, 1), "routes": {"web-v1": 90, "web-v2": 10}}
        assert staging.snapshot("waves") == staging_before, "staging stays where its wave left it"
        prod.assert_traffic({("mesh", "web"): {"web-v1": 90, "web-v2": 10}})
        staging.assert_traffic({("mesh", "web"): {"web-v2": 100}})
        # Real requests through a real Envoy with each cluster's routes, as Istio generates them.
        prod.assert_envoy({("mesh", "web"): {"web-v1": 90, "web-v2": 10}})
        staging.assert_envoy({("mesh", "web"): {"web-v2": 100}})
        for k in (staging, prod):
            k.assert_istio_agrees()
        analysis = project.status()["web"]["analysis"]
        assert analysis["step"] == "prod-success-rate" and analysis["state"] == "pending", analysis

        # 4. The gate passes; prod's second batch cannot get its pod: the update fails, prod stays safe.
        time.sleep(DURATION + 2)
        prod.hold_new_pods()
        failed = project.up("prod second batch, held")
        assert not failed.ok, failed.output
        # The gate passed (no stack-wide prometheusUrl is set: only prod's own Prometheus could pass it), and the
        # second batch was tried.
        assert failed.ops().get("prod/waves-web-v2") == "update", failed.ops()
        assert web(prod)["routes"] == {"web-v1": 90, "web-v2": 10}, "the route did not move"
        assert web(prod)["web-v1"] == (1, 1)
        assert staging.snapshot("waves") == staging_before, "a failed wave leaves the earlier waves as they were"
        prod.assert_traffic()
        assert "prod" in failed.output

        # 5. Rollback: every cluster of the release back to v1.
        prod.release_new_pods()
        project.config(rollback="true")
        back = project.up("rollback")
        assert back.ok, back.output
        assert web(staging) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        assert web(prod) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        for k in (staging, prod):
            k.assert_traffic({("mesh", "web"): {"web-v1": 100}})
            k.assert_istio_agrees()

        # 6. prod cannot be reached: a clear message, and nothing changes in staging.
        dead = Path(project.dir) / "dead-kubeconfig"
        config = yaml.safe_load(deployer["prod"].read_text())
        for c in config["clusters"]:
            c["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens on the discard port
        dead.write_text(yaml.safe_dump(config))
        project.pulumi("config", "set", "--path", "clusters.prod.kubeconfig", str(dead))
        staging_before = staging.snapshot("waves")
        down = project.up("prod unreachable")
        assert not down.ok
        assert "cluster 'prod' cannot be reached" in down.output, down.output
        assert "nothing was changed in any cluster" in down.output
        assert down.ops() == {}, down.ops()
        assert staging.snapshot("waves") == staging_before
        project.pulumi("config", "set", "--path", "clusters.prod.kubeconfig", str(deployer["prod"]))

        # 7. A file without prod: its objects there are deleted (by the provider the stack recorded for prod), and
        # staging stays as it is. The route goes first; its DestinationRule stays until the next pulumi up.
        only_staging = project.dir / "apps" / "waves-staging-only.yaml"
        text = (project.dir / write_app(project, "1.0.0")).read_text()
        only_staging.write_text(text[:text.index("      - name: deploy-prod")])
        project.config(rollback=None, app=str(only_staging.relative_to(project.dir)))
        gone = project.up("prod left out")
        assert gone.ok, gone.output
        deleted = {name for name, op in gone.ops().items() if op == "delete"}
        assert deleted >= {"prod/waves-web-v1", "prod/waves-web-virtualservice"}, gone.ops()
        assert prod.list("deployments,services,virtualservices.networking.istio.io",
                         "app.oam.dev/name=waves") == []
        assert [d["metadata"]["name"] for d in prod.list("destinationrules.networking.istio.io",
                                                         "app.oam.dev/name=waves")] == ["web"]
        assert web(staging) == {"web-v1": (2, 2), "routes": {"web-v1": 100}}
        last = project.up("prod left out, the rule goes")
        assert last.ok, last.output
        assert {name for name, op in last.ops().items() if op == "delete"} == {
            "prod/waves-web-destinationrule", "cluster-prod"}, last.ops()
        assert prod.list("destinationrules.networking.istio.io", "app.oam.dev/name=waves") == []
    finally:
        prod.release_new_pods()
        # 8. pulumi destroy: nothing of the application is left in either cluster.
        project.pulumi("destroy", "--yes", check=False)
    for k in (staging, prod):
        assert k.list("deployments,services,virtualservices.networking.istio.io,destinationrules.networking.istio.io",
                      "app.oam.dev/name=waves") == []
