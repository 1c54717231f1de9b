"""Many clusters, one release: the clusters config, topology by name and by label, one provider per cluster,
waves of deploy steps, each cluster where its own wave left it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from tests.harness import Clock, StageRun, run_stage

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  namespace: shop
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
            targetSize: 2
            rolloutBatches:
              - replicas: 1
              - replicas: 1
  policies:
    - name: staging
      type: topology
      properties:
{staging}
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
{canary}
"""
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
      - name: approve-rest
        type: suspend
      - name: prod-rest
        type: canary-rollout
        properties:
          batchPartition: 1
          traffic:
            weightedTargets:
              - revision: web-v2
                weight: 100
"""
BY_NAME = "        clusters: [staging]"
CLUSTERS = {"staging": {"kubeconfig": "/kube/staging", "context": "staging", "labels": {"stage": "staging"}},
            "prod": {"kubeconfig": "/kube/prod", "context": "prod", "labels": {"stage": "prod"},
                     "prometheusUrl": "http://prom.prod:9090"}}


def write(tmp: Path, tag: str, staging: str = BY_NAME, name: str = "") -> str:
    """The shop at ``tag``; its first release (v1) has no canary steps, as web-v2 does not exist yet."""
    path = tmp / (name or f"shop-{tag}.yaml")
    path.write_text(APP.format(tag=tag, staging=staging, canary="" if tag == "v1" else CANARY))
    return str(path)


def up(app: str, previous: StageRun = None, clusters=CLUSTERS, existing=None, clock: Optional[Clock] = None,
       metrics=None, **config) -> StageRun:
    run = run_stage({"app": app, "clusters": clusters, **config}, previous, existing=existing, clock=clock,
                    metrics=metrics)
    assert run.error is None, run.error
    return run


def deployments(run: StageRun) -> dict[str, tuple[str, int]]:
    """Pulumi name -> (image tag, replicas) of every Deployment that runs pods."""
    return {n: (r.inputs["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1],
                r.inputs["spec"]["replicas"]) for n, r in run.of_kind("Deployment").items()
            if r.inputs["spec"]["replicas"]}


def weights(run: StageRun, name: str) -> dict[str, int]:
    vs = run.manifest(name)
    return {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}


def test_each_cluster_gets_its_own_objects_and_provider(tmp_path):
    run = up(write(tmp_path, "v1"), approve="deploy-prod")
    names = set(run.resources)
    assert {"staging/shop-web-v1", "prod/shop-web-v1", "staging/shop-web", "prod/shop-web"} <= names
    assert not any(n.startswith("shop-web") for n in names), "no object lands in the local cluster"
    providers = {r.name: r for r in run.resources.values() if r.type == "pulumi:providers:kubernetes"}
    assert set(providers) == {"cluster-staging", "cluster-prod"}
    assert providers["cluster-prod"].inputs["clusterIdentifier"] == "prod"
    assert providers["cluster-prod"].inputs["context"] == "prod"
    assert providers["cluster-prod"].inputs["kubeconfig"] == "/kube/prod"
    # Every object of a cluster is applied by that cluster's provider.
    for name, r in run.resources.items():
        if name.startswith("prod/") and r.type.startswith("kubernetes:"):
            assert "cluster-prod" in r.options.get("provider", ""), (name, r.options)
    assert set(run.probed) == {"staging", "prod"}
    status = json.loads(json.dumps(run.outputs["status"]))
    assert status["web"]["clusters"]["prod"]["revisions"]["web-v1"]["replicas"] == 2
    assert status["web"]["clusters"]["staging"]["revisions"]["web-v1"]["replicas"] == 2


def test_a_wave_waits_for_its_approval_and_each_cluster_stands_where_its_wave_left_it(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    v2 = write(tmp_path, "v2")
    # The new release: staging's wave deploys it directly (no canary step in that wave); prod waits.
    waiting = up(v2, first)
    assert deployments(waiting) == {"staging/shop-web-v2": ("v2", 2), "prod/shop-web-v1": ("v1", 2)}
    assert "prod/shop-web-v2" not in waiting.resources
    status = waiting.outputs["status"]["web"]
    assert status["waiting"] == "deploy-prod (needs approval)"
    assert status["clusters"]["staging"]["revisions"] == {
        "web-v1": {"image": "registry.example.com/web:v1", "replicas": 0, "weight": 0},
        "web-v2": {"image": "registry.example.com/web:v2", "replicas": 2, "weight": 100}}
    assert status["clusters"]["prod"]["revisions"]["web-v1"]["replicas"] == 2
    # Approved: prod's first batch; staging stays where its own wave left it.
    batch = up(v2, waiting, approve="deploy-prod")
    assert deployments(batch) == {"staging/shop-web-v2": ("v2", 2), "prod/shop-web-v1": ("v1", 1),
                                  "prod/shop-web-v2": ("v2", 1)}
    assert weights(batch, "prod/shop-web-virtualservice") == {"web-v1": 90, "web-v2": 10}
    assert weights(batch, "staging/shop-web-virtualservice") == {"web-v2": 100}
    done = up(v2, batch, approve="deploy-prod,approve-rest")
    assert deployments(done) == {"staging/shop-web-v2": ("v2", 2), "prod/shop-web-v2": ("v2", 2)}
    assert done.outputs["status"]["web"]["phase"] == "succeeded"


def test_rollback_returns_every_cluster_to_its_stable_revision(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    v2 = write(tmp_path, "v2")
    batch = up(v2, up(v2, first), approve="deploy-prod")
    back = up(v2, batch, approve="deploy-prod", rollback="true")
    assert deployments(back) == {"staging/shop-web-v1": ("v1", 2), "prod/shop-web-v1": ("v1", 2)}
    assert weights(back, "staging/shop-web-virtualservice") == {"web-v1": 100}


def test_clusters_chosen_by_label(tmp_path):
    app = write(tmp_path, "v1", "        clusterLabelSelector:\n          stage: staging")
    run = up(app, approve="deploy-prod")
    assert {"staging/shop-web-v1", "prod/shop-web-v1"} <= set(run.resources)
    nothing = write(tmp_path, "v1", "        clusterLabelSelector:\n          stage: qa", name="qa.yaml")
    refused = run_stage({"app": nothing, "clusters": CLUSTERS})
    assert refused.resources == {}
    assert "spec.policies[0].properties.clusterLabelSelector: no cluster of the stack's clusters config has the " \
           "labels stage=qa" in refused.error
    assert ":38:" in refused.error.replace(nothing, "") or f"{nothing}:" in refused.error
    allowed = write(tmp_path, "v1", "        allowEmpty: true\n        clusterLabelSelector:\n          stage: qa",
                    name="qa-empty.yaml")
    run = up(allowed, approve="deploy-prod")
    assert not any(n.startswith("staging/") for n in run.resources)
    assert "prod/shop-web-v1" in run.resources


def test_an_unknown_cluster_is_refused_at_the_policy_naming_the_known_ones(tmp_path):
    app = write(tmp_path, "v1", "        clusters: [stagin]")
    run = run_stage({"app": app, "clusters": CLUSTERS})
    assert run.resources == {}
    assert ("spec.policies[0].properties.clusters[0]: cluster 'stagin' is not in the stack's clusters config; "
            "did you mean 'staging'? known: local, prod, staging; or name it: "
            "pulumi config set --path 'clusters.stagin.kubeconfig' PATH") in run.error
    line = APP.format(tag="v1", staging="        clusters: [stagin]", canary="").splitlines().index("        clusters: [stagin]") + 1
    assert f"{app}:{line}:" in run.error


def test_an_unreachable_cluster_stops_the_stage_before_anything_changes(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    run = run_stage({"app": write(tmp_path, "v2"), "clusters": CLUSTERS}, first,
                    down=("prod",))
    assert run.resources == {}
    assert "cluster 'prod' cannot be reached (kubeconfig /kube/prod, context prod): connection refused" in run.error
    assert "nothing was changed in any cluster" in run.error


def test_a_cluster_left_out_of_the_file_loses_its_objects(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    only_prod = Path(write(tmp_path, "v1", name="prod-only.yaml"))
    text = only_prod.read_text()
    start = text.index("      - name: deploy-staging")
    only_prod.write_text(text[:start] + text[text.index("      - name: deploy-prod"):])
    run = up(str(only_prod), first, approve="deploy-prod")
    assert {n for n in run.resources if n.startswith("staging/")} == {"staging/shop-web-destinationrule"}, \
        "only the rule stays, one more update (see the test below)"
    assert "prod/shop-web-v1" in run.resources


@pytest.mark.parametrize("clusters, message", [
    ({"Prod": {"context": "x"}}, "clusters.Prod: a cluster name must be a DNS label"),
    ({"prod": {"kubeconfg": "/x"}}, "clusters.prod.kubeconfg: is not a setting of a cluster; did you mean 'kubeconfig'?"),
    ({"prod": {"prometheusUrl": "prom:9090"}}, "clusters.prod.prometheusUrl: must be an http:// or https:// address"),
    ({"local": {"kubeconfig": "/x"}}, "clusters.local: 'local' is the stack's own Kubernetes provider"),
    ("prod", "oam-delivery:clusters: must be a map of cluster names to their settings"),
])
def test_bad_clusters_config_is_refused(tmp_path, clusters, message):
    run = run_stage({"app": write(tmp_path, "v1"), "clusters": clusters})
    assert run.resources == {}
    assert message in run.error


def test_local_objects_keep_their_names_beside_another_cluster(tmp_path):
    app = write(tmp_path, "v1", "        clusters: [local]")
    run = up(app, approve="deploy-prod")
    assert {"shop-web-v1", "prod/shop-web-v1"} <= set(run.resources)
    assert "provider" not in run.resources["shop-web-v1"].options or \
        "cluster-" not in run.resources["shop-web-v1"].options.get("provider", "")


def test_a_later_wave_waits_for_the_pods_of_the_earlier_ones(tmp_path):
    """Both waves in one update (the approval given before): prod's objects wait for staging's pods."""
    run = up(write(tmp_path, "v1"), approve="deploy-prod")
    staging_pods = {n for n in run.of_kind("Deployment") if n.startswith("staging/")}
    for name, r in run.resources.items():
        if name.startswith("prod/") and r.type.startswith("kubernetes:") and r.inputs.get("kind") != "Namespace":
            assert run.depends(name, "staging/shop-web-v1"), name
    assert staging_pods == {"staging/shop-web-v1"}
    assert not run.depends("staging/shop-web-v1", "prod/shop-web-v1")


STACK_FILE = """config:
  oam-delivery:app: shop.yaml
  oam-delivery:clusters:
    staging:
      kubeconfig:
        secure: v1:abc
      labels:
        stage: staging
    prod:
      context: prod
      labels:
        stage: prod
"""


def test_validate_and_render_know_the_clusters_from_the_stacks_config(tmp_path, capsys, monkeypatch):
    from oam.__main__ import main

    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.team.yaml").write_text(STACK_FILE)
    monkeypatch.chdir(tmp_path)
    good = Path(write(tmp_path, "v1", "        clusterLabelSelector:\n          stage: staging")).name
    bad = Path(write(tmp_path, "v1", "        clusters: [stagin]", name="bad.yaml")).name
    assert main(["validate", good, bad]) == 0, "without a stack any name is taken as given"
    capsys.readouterr()
    assert main(["validate", "--stack", "team", good, bad]) == 1
    captured = capsys.readouterr()
    assert f"{good}: ok" in captured.out
    assert "cluster 'stagin' is not in the stack's clusters config; did you mean 'staging'? known: local, prod, " \
           "staging" in captured.err
    assert main(["render", "--stack", "team", "--approve", "deploy-prod", "--cluster", "prod", good]) == 0
    docs = [d for d in __import__("yaml").safe_load_all(capsys.readouterr().out) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "VirtualService", "DestinationRule"}
    assert len([d for d in docs if d["kind"] == "Deployment"]) == 1
    assert main(["render", "--stack", "team", "--cluster", "prod", good]) == 1, "prod waits for its approval"
    assert "deploys nothing to cluster 'prod' (it deploys to: staging)" in capsys.readouterr().err
    assert main(["validate", "--stack", "nope", good]) == 1
    assert "stacks/Pulumi.nope.yaml: oam-delivery:clusters: cannot read the stack's config" in capsys.readouterr().err


def test_the_drivers_progress_line_is_per_cluster(tmp_path):
    from oam.advance import Where

    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    v2 = write(tmp_path, "v2")
    batch = up(v2, up(v2, first), approve="deploy-prod")
    where = Where.read(json.loads(json.dumps(batch.outputs)))
    assert where.weights() == ("prod: web-v1 1 pod 90%, web-v2 1 pod 10%; "
                               "staging: web-v1 0 pods 0%, web-v2 2 pods 100%")


REGIONS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: regions
  namespace: examples
spec:
  components:
    - name: nginx
      type: webservice
      properties:
        image: nginx:1.21
        port: 80
      traits:
        - type: scaler
          properties:
            replicas: 1
  policies:
    - name: topology-local
      type: topology
      properties:
        clusters: ["local"]
        namespace: examples-alternative
    - name: topology-east
      type: topology
      properties:
        clusterLabelSelector:
          region: east
    - name: override-legacy-image
      type: override
      properties:
        components:
          - name: nginx
            properties:
              image: nginx:1.20
    - name: override-high-availability
      type: override
      properties:
        components:
          - type: webservice
            traits:
              - type: scaler
                properties:
                  replicas: 3
  workflow:
    steps:
      - type: deploy
        name: deploy-local
        properties:
          policies: ["topology-local"]
      - type: deploy
        name: deploy-east
        properties:
          auto: false
          policies: ["topology-east", "override-legacy-image", "override-high-availability"]
"""
EAST = {"east-1": {"kubeconfig": "/kube/e1", "labels": {"region": "east"}},
        "east-2": {"kubeconfig": "/kube/e2", "labels": {"region": "east"}},
        "west-1": {"kubeconfig": "/kube/w1", "labels": {"region": "west"}}}


def test_a_multi_cluster_file_as_kubevela_users_write_it_overrides_per_wave(tmp_path):
    app = tmp_path / "regions.yaml"
    app.write_text(REGIONS)
    local = up(str(app), clusters=EAST)
    images = {n: (r.inputs["spec"]["template"]["spec"]["containers"][0]["image"], r.inputs["spec"]["replicas"],
                  r.inputs["metadata"]["namespace"]) for n, r in local.of_kind("Deployment").items()}
    assert images == {"regions-examples-alternative-nginx-deployment": ("nginx:1.21", 1, "examples-alternative")}
    assert local.outputs["status"]["workflowStatus"]["waiting"] == "deploy-east (needs approval)"
    both = up(str(app), local, clusters=EAST, approve="deploy-east")
    images = {n: (r.inputs["spec"]["template"]["spec"]["containers"][0]["image"], r.inputs["spec"]["replicas"],
                  r.inputs["metadata"]["namespace"]) for n, r in both.of_kind("Deployment").items()}
    assert images == {"regions-examples-alternative-nginx-deployment": ("nginx:1.21", 1, "examples-alternative"),
                      "east-1/regions-nginx-deployment": ("nginx:1.20", 3, "examples"),
                      "east-2/regions-nginx-deployment": ("nginx:1.20", 3, "examples")}
    assert {r.name for r in both.resources.values() if r.type == "pulumi:providers:kubernetes"} == {
        "cluster-east-1", "cluster-east-2"}
    assert set(both.probed) == {None}, "east-1 and east-2 have no context; each was asked"
    assert len(both.probed) == 2


def test_another_stacks_objects_are_refused_naming_that_stack(tmp_path):
    """Two stacks deploying one application to one namespace: the second finds the first's mark and stops."""
    app = write(tmp_path, "v1", "        clusters: [local]")
    first = up(app, approve="deploy-prod")
    owner = json.loads(first.state)["owner"]
    assert owner.startswith("dev.") and len(owner) == len("dev.") + 8
    marked = first.manifest("shop-web-v1")["metadata"]["labels"]
    assert marked["delivery.oam.dev/stack"] == owner
    made = run_stage({"app": app, "clusters": CLUSTERS, "approve": "deploy-prod"}, namespaces={"shop": None})
    assert made.manifest("shop-namespace")["metadata"]["labels"] == {"istio-injection": "enabled"}, \
        "a namespace may hold what is not ours: it is not marked"
    # The same stack, next update: the mark is kept, nothing new to refuse.
    again = up(app, first, approve="deploy-prod")
    assert json.loads(again.state)["owner"] == owner
    # Another stack (its own record) finds the objects in the cluster.
    held = {("apps/v1", "Deployment", "shop"): {"web-v1": {"app.oam.dev/name": "shop",
                                                                  "delivery.oam.dev/stack": "team-a.0a1b2c3d"}}}
    other = run_stage({"app": app, "clusters": CLUSTERS, "approve": "deploy-prod"}, existing=held)
    assert other.resources == {}
    assert ("Deployment 'web-v1' in namespace 'shop' belongs to another stack, 'team-a' "
            "(label delivery.oam.dev/stack=team-a.0a1b2c3d)") in other.error
    # Made before marks were kept (no mark): this application's own, kept as before.
    legacy = {("apps/v1", "Deployment", "shop"): {"web-v1": {"app.oam.dev/name": "shop"}}}
    assert up(app, approve="deploy-prod", existing=legacy).resources


def test_an_object_held_without_the_mark_stays_unmarked(tmp_path):
    """An object the stack made before marks were kept is not changed by the upgrade; new ones are marked."""
    app = write(tmp_path, "v1", "        clusters: [local]")
    first = up(app, approve="deploy-prod")
    unmarked = first.resources["shop-web-v1"]
    del unmarked.inputs["metadata"]["labels"]["delivery.oam.dev/stack"]
    again = up(app, first, approve="deploy-prod")
    assert "delivery.oam.dev/stack" not in again.manifest("shop-web-v1")["metadata"]["labels"]
    assert again.manifest("prod/shop-web-v1")["metadata"]["labels"]["delivery.oam.dev/stack"]


def without_step(path: str, step: str, name: str) -> str:
    """The file at ``path`` without the top-level workflow step ``step`` (up to the next step)."""
    text = Path(path).read_text()
    start = text.index(f"      - name: {step}")
    end = text.find("      - name: ", start + 1)
    out = Path(path).with_name(name)
    out.write_text(text[:start] + (text[end:] if end > 0 else ""))
    return str(out)


@pytest.mark.parametrize("gone, prefix", [("deploy-prod", "prod/"), ("deploy-staging", "")])
def test_a_route_that_goes_leaves_before_its_subsets(tmp_path, gone, prefix):
    """A cluster (or the local one) left out of the file: its route is deleted in this update, and its
    DestinationRule, which the last update recorded after the route, stays until the next one."""
    app = write(tmp_path, "v1", "        clusters: [local]")
    first = up(app, approve="deploy-prod")
    assert f"{prefix}shop-web-destinationrule" in first.resources
    left = without_step(app, gone, f"without-{gone}.yaml")
    removal = up(left, first, approve="deploy-prod")
    assert f"{prefix}shop-web-virtualservice" not in removal.resources
    assert f"{prefix}shop-web-v1" not in removal.resources
    kept = removal.resources[f"{prefix}shop-web-destinationrule"]
    assert kept.inputs["spec"] == first.manifest(f"{prefix}shop-web-destinationrule")["spec"]
    assert kept.options.get("aliases") == [first.resources[f"{prefix}shop-web-destinationrule"].urn], \
        "the same resource, under the application now"
    notes = removal.outputs["status"]["notes"]
    assert any(n.startswith("DestinationRule web") and "goes at the next pulumi up" in n for n in notes), notes
    after = up(left, removal, approve="deploy-prod")
    assert f"{prefix}shop-web-destinationrule" not in after.resources
    assert "notes" not in after.outputs["status"] or not any("DestinationRule" in n for n in
                                                                after.outputs["status"]["notes"])


GATED = CANARY.replace('''      - name: approve-rest
        type: suspend
''', '''      - name: prod-success-rate
        type: check-metrics
        properties:
          metric: request-success-rate
          duration: 60s
          failDuration: 30s
''')
TWO_PRODS = {"staging": CLUSTERS["staging"],
             "prod-a": {"kubeconfig": "/kube/a", "labels": {"stage": "prod"}, "prometheusUrl": "http://prom.a:9090"},
             "prod-b": {"kubeconfig": "/kube/b", "labels": {"stage": "prod"}, "prometheusUrl": "http://prom.b:9090"}}


class Metrics:
    """Each Prometheus as the test wants it: endpoint -> the success rate it shows (None: no data)."""

    def __init__(self):
        self.rate = {"http://prom.a:9090": 100.0, "http://prom.b:9090": 100.0}
        self.asked: list[str] = []

    def series(self, endpoint, query, start, end, step):
        self.asked.append(endpoint)
        out, t = [], start
        while t <= end:
            out.append((t, self.rate[endpoint]))
            t += step
        return out


@pytest.mark.parametrize("b_rate, expected", [(100.0, "passes"), (50.0, "rolls back")])
def test_a_waves_metric_gate_asks_the_prometheus_of_each_of_its_clusters(tmp_path, b_rate, expected):
    from datetime import datetime, timedelta, timezone

    metrics = Metrics()
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc))
    text = APP.format(tag="{tag}", staging=BY_NAME, canary="{canary}").replace(
        "        clusters: [prod]", "        clusterLabelSelector:\n          stage: prod")
    first = tmp_path / "v1.yaml"
    first.write_text(text.format(tag="v1", canary=""))
    second = tmp_path / "v2.yaml"
    second.write_text(text.format(tag="v2", canary=GATED))
    v1 = up(str(first), clusters=TWO_PRODS, clock=clock, metrics=metrics, approve="deploy-prod")
    v2 = up(str(second), up(str(second), v1, clusters=TWO_PRODS, clock=clock, metrics=metrics), clusters=TWO_PRODS,
            clock=clock, metrics=metrics, approve="deploy-prod")
    assert v2.outputs["status"]["web"]["waiting"] == "prod-success-rate (metric analysis)"
    metrics.rate["http://prom.b:9090"] = b_rate
    clock.at += timedelta(seconds=90)
    metrics.asked.clear()
    decided = up(str(second), v2, clusters=TWO_PRODS, clock=clock, metrics=metrics, approve="deploy-prod")
    assert sorted(set(metrics.asked)) == ["http://prom.a:9090", "http://prom.b:9090"]
    deployments = {n: r.inputs["spec"]["replicas"] for n, r in decided.of_kind("Deployment").items()
                   if n.startswith("prod-b/")}
    if expected == "passes":
        assert deployments == {"prod-b/shop-web-v1": 0, "prod-b/shop-web-v2": 2}
    else:
        assert decided.outputs["status"]["web"]["phase"] == "rolled back"
        assert deployments == {"prod-b/shop-web-v1": 2}, "web-v2 is gone from prod-b"


def test_a_cluster_left_out_of_the_config_too_is_deleted_with_the_provider_the_stack_recorded(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    only_staging = without_step(write(tmp_path, "v1"), "deploy-prod", "staging-only.yaml")
    run = up(only_staging, first, clusters={"staging": CLUSTERS["staging"]})
    assert not any(n.startswith("prod/") for n in run.resources), "nothing of prod is registered: Pulumi deletes it"
    assert "staging/shop-web-v1" in run.resources


def test_objects_kept_in_a_cluster_the_config_no_longer_names_stop_the_stage_with_the_way_back(tmp_path):
    first = up(write(tmp_path, "v1"), approve="deploy-prod")
    # A new release, without prod, waits at a gate: prod's objects are kept as applied until the workflow is done,
    # and prod must be reachable.
    held = Path(without_step(write(tmp_path, "v2"), "deploy-prod", "held.yaml"))
    held.write_text(held.read_text().replace("      - name: prod-first-batch", "      - name: hold\n        type: suspend\n"
                                             "      - name: prod-first-batch", 1))
    text = held.read_text()
    held.write_text(text[:text.index("      - name: prod-first-batch")])
    run = run_stage({"app": str(held), "clusters": {"staging": CLUSTERS["staging"]}}, first)
    assert run.resources == {}
    assert "cluster 'prod' cannot be reached: it is not in the stack's clusters config" in run.error
    assert "pulumi config set --path 'clusters.prod.kubeconfig' PATH" in run.error


def test_a_stack_whose_first_update_failed_keeps_the_mark_its_objects_carry(tmp_path):
    """The record is written only by an update that completes: the next one takes the mark from what it holds."""
    app = write(tmp_path, "v1", "        clusters: [local]")
    failed = run_stage({"app": app, "clusters": CLUSTERS, "approve": "deploy-prod"}, fail=("shop-web-v1",))
    assert failed.error is not None
    mark = failed.manifest("shop-web-v1")["metadata"]["labels"]["delivery.oam.dev/stack"]
    assert failed.state is None or "owner" not in (json.loads(failed.state) if failed.state else {})
    again = up(app, failed, approve="deploy-prod")
    assert again.manifest("shop-web-v1")["metadata"]["labels"]["delivery.oam.dev/stack"] == mark
    assert json.loads(again.state)["owner"] == mark
