"""A route that gives a revision more traffic waits until that revision's pods are Ready as the cluster has them now,
also when the update leaves its Deployment as it is (the provider awaits only what it changes). Under Pulumi's mocks,
with the cluster's pod counts given to the program."""
from __future__ import annotations

from pathlib import Path

from tests.harness import StageRun, run_stage

HEAD = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ready
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/ready/web:{version}
        ports:
          - port: 8080
            expose: true
      traits:
        - type: canary-traffic
          properties:
            port: [8080]
"""
ROLLOUT = """        - type: rollout
          properties:
            targetSize: 2
            rolloutBatches:
{batches}"""
STEP = """      - name: {name}
        type: canary-rollout
        properties:
          batchPartition: {batch}
          traffic:
            weightedTargets:
{targets}"""


def step(name: str, batch: int, **weights: int) -> str:
    targets = "".join(f"              - revision: {rev.replace('_', '-')}\n                weight: {w}\n"
                      for rev, w in weights.items())
    return STEP.format(name=name, batch=batch, targets=targets)


FIRST = HEAD.format(version=1) + ROLLOUT.format(batches="              - replicas: 2\n")
# Batch 0 at 90/10, then the same pods at 50/50, then every pod and all the traffic on web-v2.
RELEASE = (HEAD.format(version=2) + ROLLOUT.format(batches="              - replicas: 1\n" * 2)
           + "  workflow:\n    steps:\n" + step("tenth", 0, web_v1=90, web_v2=10)
           + "      - name: more-traffic\n        type: suspend\n" + step("half", 0, web_v1=50, web_v2=50)
           + "      - name: all\n        type: suspend\n" + step("rest", 1, web_v2=100))
V2 = ("Deployment", "web-v2")
UNREADY = {V2: (0, 1, False)}


def walk(tmp_path: Path) -> tuple[Path, StageRun]:
    """To the first gate: 90/10, one pod each."""
    first, release = tmp_path / "first.yaml", tmp_path / "release.yaml"
    first.write_text(FIRST)
    release.write_text(RELEASE)
    deployed = run_stage({"app": str(first)})
    assert deployed.error is None, deployed.error
    tenth = run_stage({"app": str(release)}, deployed)
    assert tenth.error is None, tenth.error
    return release, tenth


def weights(run: StageRun) -> list:
    return [(r["destination"]["subset"], r["weight"])
            for r in run.manifest("ready-web-virtualservice")["spec"]["http"][0]["route"]]


def test_a_route_that_gives_unchanged_pods_more_traffic_reads_them_first(tmp_path):
    release, tenth = walk(tmp_path)
    assert tenth.read == [], "web-v2 is new: the provider creates it and awaits it before the route"
    half = run_stage({"app": str(release), "approve": "more-traffic"}, tenth)
    assert half.error is None, half.error
    assert weights(half) == [("web-v1", 50), ("web-v2", 50)]
    assert half.manifest("ready-web-v2") == tenth.manifest("ready-web-v2"), "the update leaves web-v2 as it is"
    assert half.read == [V2], "web-v1 gets less traffic, web-v2 more: only web-v2 is read"
    rest = run_stage({"app": str(release), "approve": "more-traffic,all"}, half)
    assert rest.error is None, rest.error
    assert rest.read == [], "web-v2 gains a pod: the provider awaits it (all its pods) before the route"
    assert rest.depends("ready-web-virtualservice", "ready-web-v2")


def test_pods_that_are_not_ready_stop_the_stage_before_anything_is_applied(tmp_path):
    release, tenth = walk(tmp_path)
    half = run_stage({"app": str(release), "approve": "more-traffic", "readyTimeout": "1s"}, tenth, pods=UNREADY)
    assert half.error is not None
    assert "web-v2: 0/1 pods Ready, and VirtualService web raises its share of the traffic from 10% to 50%" in half.error
    assert "nothing was changed" in half.error and "pulumi config set rollback true" in half.error
    assert half.read.count(V2) >= 2, "it read the pods again until the timeout"
    assert half.resources == {}, "no object was registered"
    assert half.outputs["oamState"] == tenth.outputs["oamState"], "the record of the release did not move"
    assert half.outputs["status"]["web"]["phase"] == "failed"
    assert half.outputs["status"]["web"]["wanted"]["web-v2"]["weight"] == 50


def test_pods_that_get_ready_while_it_waits_let_the_stage_go_on(tmp_path):
    release, tenth = walk(tmp_path)

    class Later(dict):
        """web-v2's pod is not Ready the first two times the program counts it, then it is."""

        reads = 0

        def get(self, key, default=None):
            if key == V2:
                self.reads += 1
                if self.reads <= 2:
                    return (0, 1, False)
            return super().get(key, default)

    half = run_stage({"app": str(release), "approve": "more-traffic"}, tenth, pods=Later())
    assert half.error is None, half.error
    assert half.read == [V2, V2, V2]
    assert any(sev == "info" and "web-v2: 0/1 pods Ready" in msg and "waiting" in msg for sev, msg in half.logs)
    assert weights(half) == [("web-v1", 50), ("web-v2", 50)]


def test_a_preview_says_which_pods_the_update_will_wait_for(tmp_path):
    release, tenth = walk(tmp_path)
    half = run_stage({"app": str(release), "approve": "more-traffic"}, tenth, preview=True, pods=UNREADY)
    assert half.error is None, half.error
    assert half.read == [V2], "read once: a preview does not wait"
    warned = [msg for sev, msg in half.logs if sev == "warn" and "web-v2" in msg]
    assert warned and "pulumi up will wait up to 5m" in warned[0], half.logs


def test_going_back_a_stage_reads_the_revision_that_gets_its_traffic_back(tmp_path):
    release, tenth = walk(tmp_path)
    half = run_stage({"app": str(release), "approve": "more-traffic"}, tenth)
    back = run_stage({"app": str(release), "approve": "more-traffic", "stage": 1, "readyTimeout": "1s"}, half,
                     pods={("Deployment", "web-v1"): (0, 1, False)})
    assert set(back.read) == {("Deployment", "web-v1")}
    assert back.error is not None and "web-v1: 0/1 pods Ready" in back.error
    assert "from 50% to 90%" in back.error


DEPENDS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ready
spec:
  components:
    - name: db
      type: webservice
      properties:
        image: registry.example.com/ready/db:1
        ports:
          - port: 5432
            expose: true
    - name: api
      type: webservice
      dependsOn: [db]
      properties:
        image: registry.example.com/ready/api:{version}
"""
DB = ("Deployment", "db")


def test_a_component_that_changes_waits_for_what_it_depends_on_to_be_ready_now(tmp_path):
    """KubeVela applies a component once what it dependsOn is healthy, as the cluster has it now."""
    app = tmp_path / "depends.yaml"
    app.write_text(DEPENDS.format(version=1))
    first = run_stage({"app": str(app)})
    assert first.error is None, first.error
    assert first.read == [] and first.depends("ready-api-deployment", "ready-db-deployment")
    same = run_stage({"app": str(app)}, first, pods={DB: (0, 1, False)})
    assert same.error is None and same.read == [], "api does not change: nothing waits"
    app.write_text(DEPENDS.format(version=2))
    changed = run_stage({"app": str(app), "readyTimeout": "1s"}, first, pods={DB: (0, 1, False)})
    assert changed.error is not None and set(changed.read) == {DB}
    assert "db: 0/1 pods Ready, and component 'api' dependsOn 'db', and this stage changes its Deployment api" \
           in changed.error
    assert changed.resources == {}
    ready = run_stage({"app": str(app)}, first)
    assert ready.error is None and ready.read == [DB]


def test_a_dependency_that_changes_too_is_awaited_by_the_provider_not_read(tmp_path):
    app = tmp_path / "depends.yaml"
    app.write_text(DEPENDS.format(version=1))
    first = run_stage({"app": str(app)})
    app.write_text(DEPENDS.format(version=2).replace("ready/db:1", "ready/db:2"))
    both = run_stage({"app": str(app)}, first, pods={DB: (0, 1, False)})
    assert both.error is None, both.error
    assert both.read == [], "db changes: the provider waits for its new pods before api changes"
    assert both.depends("ready-api-deployment", "ready-db-deployment")


def test_a_revision_deleted_by_hand_stops_the_stage_at_once_with_the_way_out(tmp_path):
    release, tenth = walk(tmp_path)

    class Gone(dict):
        def get(self, key, default=None):
            return None if key == V2 else super().get(key, default)

    half = run_stage({"app": str(release), "approve": "more-traffic"}, tenth, pods=Gone())
    assert half.error is not None and half.read == [V2], "no wait: it would not come back by itself"
    assert "Deployment web-v2 is not in the cluster (deleted outside pulumi?), and VirtualService web raises its " \
           "share of the traffic from 10% to 50%: nothing was changed; run pulumi refresh (the stack then forgets it), " \
           "then pulumi up makes it again first" \
           in half.error, half.error
    preview = run_stage({"app": str(release), "approve": "more-traffic"}, tenth, preview=True, pods=Gone())
    assert preview.error is None
    assert any(sev == "warn" and "pulumi refresh" in msg for sev, msg in preview.logs)


def test_a_revision_that_gets_more_traffic_while_it_gives_up_pods_is_read(tmp_path):
    """Every gate approved at 90/10: web-v2 was applied with both pods, which did not get Ready, and the route
    stayed. Then only the first gate approved: 50/50 on one pod each, so web-v2 gets more traffic and gives up a
    pod after the route; nothing else makes the route wait for its pods."""
    release, tenth = walk(tmp_path)
    failed = run_stage({"app": str(release), "approve": "more-traffic,all"}, tenth, fail=("ready-web-v2",))
    assert failed.error is not None and failed.manifest("ready-web-v2")["spec"]["replicas"] == 2
    assert "ready-web-virtualservice" not in failed.resources, "the route waited for web-v2"
    # As the engine keeps it: what the failed update registered, over what the update before left.
    left = StageRun(resources={**tenth.resources, **failed.resources})
    half = run_stage({"app": str(release), "approve": "more-traffic", "readyTimeout": "1s"}, tenth, applied=left,
                     pods={V2: (0, 2, False)})
    assert set(half.read) == {V2}
    assert half.error is not None and "web-v2: 0/2 pods Ready" in half.error
    assert "from 10% to 50%" in half.error
