"""Updates that fail part-way: what the stack records, and how the re-run orders its changes.

A failed step is injected under Pulumi's mocks; the harness then records the stack outputs
as the engine does (the previous ones, overlaid with what the program registered before the
failure), and the objects as that update applied them.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.harness import Clock, FakeCluster, StageRun, run_stage

V1, V2 = "examples/shop/v1.yaml", "examples/shop/v2.yaml"
ALL = "check-first-batch,soak,check-second-batch"
T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
VS = "shop-cart-virtualservice"
OLD, NEW = "shop-cart-v1", "shop-cart-v2"
DR = "shop-cart-destinationrule"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def at_second_batch(clock) -> StageRun:
    """The shop at 50/50, waiting at its last approval: cart-v1 1 pod, cart-v2 2 pods."""
    first = run_stage({"app": V1}, clock=clock)
    run = run_stage({"app": V2, "approve": "check-first-batch,soak"}, first, clock=clock)
    assert run.error is None and run.outputs["status"]["cart"]["step"] == "5/6 check-second-batch"
    return run


def with_replicas(run: StageRun, **replicas: int) -> StageRun:
    """``run``'s objects with some Deployments at other replicas: what a half-applied update leaves."""
    out = copy.deepcopy(run)
    for name, n in replicas.items():
        out.resources[name.replace("_", "-")].inputs["spec"]["replicas"] = n
    return out


def test_a_failed_update_keeps_the_last_applied_record(at_second_batch, clock):
    failed = run_stage({"app": V2, "approve": ALL}, at_second_batch, fail=(NEW,), clock=clock)
    assert failed.failed == [NEW]
    # The record is still the one of the stage that was applied in full...
    assert failed.outputs["oamState"] == at_second_batch.outputs["oamState"]
    # ...and the status says what failed and what to do.
    cart = failed.outputs["status"]["cart"]
    assert cart["phase"] == "failed"
    assert "step 6/6 last-batch" in cart["failed"]
    assert cart["next"].startswith("fix the cause, then pulumi up")
    assert "pulumi config set rollback true" in cart["next"]
    # The route and the old pods wait for the new pods: they were never sent to the engine.
    assert VS not in failed.resources and OLD not in failed.resources


def test_rerun_after_a_failure_scales_the_stable_revision_down_only_after_the_route(at_second_batch, clock):
    failed = run_stage({"app": V2, "approve": ALL}, at_second_batch, fail=(NEW,), clock=clock)
    # The failed update applied cart-v2's 3 replicas (its pods never all got Ready); nothing else.
    half = with_replicas(at_second_batch, shop_cart_v2=3)
    rerun = run_stage({"app": V2, "approve": ALL}, failed, applied=half, clock=clock)
    assert rerun.error is None
    assert rerun.manifest(OLD)["spec"]["replicas"] == 0
    assert rerun.depends(OLD, VS), "cart-v1 loses its pods only after the route has left it"
    assert rerun.depends(VS, NEW), "the route moves only once cart-v2 is Ready"
    assert rerun.outputs["status"]["cart"]["phase"] == "succeeded"


def test_edges_follow_each_object_where_it_is_not_where_it_was_meant_to_be(at_second_batch, clock):
    # cart-v1 already at 0 pods (scaled by hand, or an update cut short) while the route still gives it 50%:
    # going back to the first batch gives it pods again, and they are Ready before the route moves.
    drifted = with_replicas(at_second_batch, shop_cart_v1=0)
    back = run_stage({"app": V2, "approve": "check-first-batch,soak", "stage": 1}, at_second_batch, applied=drifted,
                     clock=clock)
    assert back.error is None
    assert back.manifest(OLD)["spec"]["replicas"] == 2
    assert back.depends(VS, OLD)
    assert back.depends(NEW, VS), "cart-v2 shrinks from 2 to 1 after the route"


def test_rollback_after_a_failed_stage(at_second_batch, clock):
    failed = run_stage({"app": V2, "approve": ALL}, at_second_batch, fail=(NEW,), clock=clock)
    half = with_replicas(at_second_batch, shop_cart_v2=3)
    back = run_stage({"app": V2, "approve": ALL, "rollback": "true"}, failed, applied=half, clock=clock)
    assert back.error is None
    assert NEW not in back.resources
    assert back.manifest(OLD)["spec"]["replicas"] == 3
    assert back.depends(VS, OLD)
    # cart-v2's subset is still routed (50%): it leaves the rule only after the route has left it.
    assert [s["name"] for s in back.manifest(DR)["spec"]["subsets"]] == ["cart-v1"]
    assert back.depends(DR, VS) and not back.depends(VS, DR)
    assert back.outputs["status"]["cart"]["phase"] == "rolled back"


def test_ready_timeout_from_config_and_from_the_step(tmp_path, at_second_batch, clock):
    first = run_stage({"app": V1, "readyTimeout": "90s"}, clock=clock)
    assert first.resources["shop-cart-v1"].timeouts == {"create": "1m30s", "update": "1m30s"}
    assert "create" not in first.resources["shop-cart-service"].timeouts
    default = run_stage({"app": V1}, clock=clock)
    assert default.resources["shop-cart-v1"].timeouts == {"create": "5m", "update": "5m"}
    text = open(V2).read().replace("      - name: last-batch\n        type: canary-rollout\n",
                                   "      - name: last-batch\n        type: canary-rollout\n        timeout: 20m\n")
    app = tmp_path / "v2.yaml"
    app.write_text(text)
    last = run_stage({"app": str(app), "approve": ALL, "readyTimeout": "90s"}, at_second_batch, clock=clock)
    assert last.error is None
    assert last.resources[NEW].timeouts == {"create": "20m", "update": "20m"}
    # Back at a stage whose step has no timeout: readyTimeout again.
    back = run_stage({"app": str(app), "approve": ALL, "readyTimeout": "90s", "stage": 3}, last, clock=clock)
    assert back.resources[NEW].timeouts["update"] == "1m30s"


@pytest.mark.parametrize("value", ["soon", "0s", "-5m", "5 minutes"])
def test_ready_timeout_must_be_a_duration(value):
    run = run_stage({"app": V1, "readyTimeout": value})
    assert run.resources == {}
    assert "oam-delivery:readyTimeout: must be a duration above 0" in run.error


def test_step_timeout_must_be_a_duration(tmp_path):
    text = open(V2).read().replace("      - name: last-batch\n        type: canary-rollout\n",
                                   "      - name: last-batch\n        type: canary-rollout\n        timeout: soon\n")
    app = tmp_path / "v2.yaml"
    app.write_text(text)
    run = run_stage({"app": str(app)})
    assert run.resources == {}
    assert "spec.workflow.steps[5].timeout: 'soon' is not a duration above 0" in run.error


NAMES = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: names
spec:
  components:
    - name: {first}
      type: webservice
      properties:
        image: registry.example.com/a:1
        port: 80
      traits:
{traits}
    - name: {second}
      type: webservice
      properties:
        image: registry.example.com/b:1
        port: 80
      traits:
        - type: canary-traffic
          properties:
            port: [80]
        - type: rollout
          properties: {{targetSize: 1, rolloutBatches: [{{replicas: 1}}]}}
"""
ROLLOUT = """        - type: rollout
          properties: {targetSize: 1, rolloutBatches: [{replicas: 1}]}"""
GATEWAY = """        - type: expose
          properties: {port: [80]}
        - type: istio-gateway
          properties: {hosts: ["*"], match: [{prefix: /}], port: 80}"""


@pytest.mark.parametrize("first, second, traits, what", [
    ("api", "api-v1", ROLLOUT, "Deployment 'api-v1' (revision 1 of 'api')"),
    ("api", "api-v7", ROLLOUT, "Deployment 'api-v7' (revision 7 of 'api')"),
    ("web", "web-gateway", GATEWAY, "VirtualService 'web-gateway'"),
])
def test_generated_names_never_collide(tmp_path, first, second, traits, what):
    app = tmp_path / "names.yaml"
    text = NAMES.format(first=first, second=second, traits=traits)
    app.write_text(text)
    line = text.splitlines().index(f"    - name: {second}") + 1
    run = run_stage({"app": str(app)})
    assert run.resources == {}
    assert f"names.yaml:{line}: spec.components[1].name: component '{second}' and component '{first}' " \
           f"({app}:7) would both make {what}; rename one of them" in run.error


@pytest.mark.parametrize("where", ["labels", "annotations"])
@pytest.mark.parametrize("key", ["pulumi.com/skipAwait", "pulumi.com/timeoutSeconds", "internal.pulumi.com/x"])
def test_engine_keys_are_refused(tmp_path, where, key):
    text = open(V1).read()
    trait = f"        - type: {where}\n          properties:\n            {key}: 'true'\n"
    app = tmp_path / "keys.yaml"
    app.write_text(text.replace("        - type: canary-traffic\n", trait + "        - type: canary-traffic\n", 1))
    run = run_stage({"app": str(app)})
    assert run.resources == {}
    assert f"properties.{key}: '{key}' changes how Pulumi awaits or applies the object" in run.error
    prop = text.replace("        image: registry.example.com/shop/cart:1.0.0\n",
                        f"        image: registry.example.com/shop/cart:1.0.0\n        {where}:\n          {key}: 'true'\n", 1)
    assert prop != text
    app.write_text(prop)
    run = run_stage({"app": str(app)})
    assert f"properties.{where}.{key}: '{key}' changes how Pulumi" in run.error


def test_the_provider_waits_for_every_wanted_pod_to_be_ready(at_second_batch, clock):
    last = run_stage({"app": V2, "approve": ALL}, at_second_batch, clock=clock)
    annotations = last.manifest(NEW)["metadata"]["annotations"]
    assert json.loads(annotations["pulumi.com/waitFor"]) == [
        "jsonpath={.status.replicas}=3", "jsonpath={.status.updatedReplicas}=3", "jsonpath={.status.readyReplicas}=3"]
    # Nothing to wait for at 0 pods; and the waits never reach the pods' own metadata.
    assert "pulumi.com/waitFor" not in last.manifest(OLD)["metadata"]["annotations"]
    assert last.manifest(OLD)["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert "pulumi.com/waitFor" not in str(last.manifest(NEW)["spec"])


def test_every_object_takes_back_fields_changed_by_hand_and_is_deleted_at_once(at_second_batch):
    for name, res in at_second_batch.resources.items():
        if res.type.startswith("kubernetes:"):
            assert res.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true", name
            assert res.inputs["metadata"]["annotations"]["pulumi.com/deletionPropagationPolicy"] == "background"


def test_an_approval_whose_stage_failed_never_blocks_the_rollback():
    first = run_stage({"app": "examples/bookinfo/first-deploy.yaml"})
    canary = run_stage({"app": "examples/bookinfo/rollout-v2.yaml"}, first)
    failed = run_stage({"app": "examples/bookinfo/rollout-v2.yaml", "approve": "manual-approval"}, canary,
                       fail=("book-info-reviews-v2",))
    assert failed.failed and failed.outputs["oamState"] == canary.outputs["oamState"]
    back = run_stage({"app": "examples/bookinfo/rollback.yaml", "approve": "manual-approval"}, failed, applied=canary)
    assert back.error is None
    assert back.outputs["status"]["reviews"]["phase"] == "rolled back"
    # A typo in a file that rolls nothing back is still refused.
    typo = run_stage({"app": "examples/bookinfo/rollout-v2.yaml", "approve": "manual-aproval"}, canary)
    assert "'manual-aproval' is not a suspend step" in typo.error


def test_a_deployment_the_api_server_never_created_is_not_reported_as_waiting_for_pods(monkeypatch):
    from pathlib import Path

    from oam import program
    from oam.config import StageConfig
    from oam.model import read_application
    from oam.render import plan
    from oam.revisions import History

    stage = plan(read_application(Path(V1), V1), History(), StageConfig(app=V1))
    cart = next(d for d in stage.objects if d.key == OLD)
    said: list[str] = []
    monkeypatch.setattr(program.pulumi.log, "error", said.append)
    monkeypatch.setattr(program, "leave", lambda: None)
    for live, expected in ((None, "Deployment cart-v1 was not created (the error above says why)"),
                           ({"spec": {"replicas": 1}, "status": {"readyReplicas": 0}},
                            "cart-v1: 0/3 pods Ready when the update stopped")):  # the manifest wants 3
        said.clear()
        cluster = FakeCluster(StageConfig(app=V1), StageRun(), live={("Deployment", "cart-v1"): live} if live else {})
        program.report_failures(stage, cluster, 60, [(cart, Exception("refused"))])
        assert len(said) == 1 and said[0].startswith(expected), said
        assert "nothing that waits for it was changed" in said[0]


def _next(run: StageRun, component: str = "cart") -> str:
    return run.outputs["status"][component]["next"]


def test_a_failed_first_canary_step_can_be_rolled_back_as_its_status_says(clock):
    first = run_stage({"app": V1}, clock=clock)
    failed = run_stage({"app": V2}, first, fail=(NEW,), clock=clock)
    assert failed.failed == [NEW]
    assert "or roll back: pulumi config set rollback true && pulumi up" in _next(failed)
    # The command the status printed: the release that failed (never recorded) goes back to cart-v1.
    back = run_stage({"app": V2, "rollback": "true"}, failed, clock=clock)
    assert back.error is None, back.error
    cart = back.outputs["status"]["cart"]
    assert cart["phase"] == "rolled back"
    assert cart["revisions"] == {"cart-v1": {"replicas": 3, "weight": 100,
                                             "image": "registry.example.com/shop/cart:1.0.0"}}
    assert NEW not in back.resources and back.manifest(OLD)["spec"]["replicas"] == 3
    weights = {r["destination"]["subset"]: r.get("weight", 100)
               for r in back.manifest(VS)["spec"]["http"][0]["route"]}
    assert weights == {"cart-v1": 100}
    # And once rollback is unset, the release starts again from its first step.
    again = run_stage({"app": V2}, back, clock=clock)
    assert again.error is None and again.outputs["status"]["cart"]["step"] == "2/6 check-first-batch"
    assert again.outputs["status"]["cart"]["revisions"]["cart-v2"]["weight"] == 10


def test_rolling_back_a_failed_release_returns_to_the_last_completed_one_not_before_it(clock, tmp_path):
    first = run_stage({"app": V1}, clock=clock)
    done = run_stage({"app": V2, "approve": ALL}, run_stage({"app": V2, "approve": ALL}, first, clock=clock),
                     clock=clock)
    assert done.outputs["status"]["cart"]["phase"] == "succeeded"
    v3 = tmp_path / "v3.yaml"
    text = Path(V2).read_text()
    for name in ("cart", "search"):  # both components to their third revision, from the second
        text = text.replace(f"{name}:2.0.0", f"{name}:3.0.0").replace(f"{name}-v2", f"{name}-v3")
        text = text.replace(f"{name}-v1", f"{name}-v2")
    v3.write_text(text)
    failed = run_stage({"app": str(v3)}, done, fail=("shop-cart-v3",), clock=clock)
    assert failed.failed == ["shop-cart-v3"]
    assert "pulumi config set rollback true && pulumi up" in _next(failed)
    back = run_stage({"app": str(v3), "rollback": "true"}, failed, clock=clock)
    assert back.error is None, back.error
    assert list(back.outputs["status"]["cart"]["revisions"]) == ["cart-v2"]


def test_no_rollback_is_offered_where_there_is_nothing_to_roll_back_to(clock):
    # A first deploy that fails: no earlier revision, so the status and the error offer no rollback...
    failed = run_stage({"app": V1}, fail=(OLD,), clock=clock)
    assert failed.failed == [OLD]
    assert "roll back" not in _next(failed) and _next(failed).startswith("fix the cause, then pulumi up")
    assert not any("rollback" in message for level, message in failed.logs if level == "error")
    # ...and that is right: the command would be refused.
    refused = run_stage({"app": V1, "rollback": "true"}, failed, clock=clock)
    assert refused.error is not None and "no earlier revision to roll back to" in refused.error
