"""The bookinfo tutorial under Pulumi's mocks: every stage's resources, numbers and edges."""
from __future__ import annotations

import pytest

from tests.harness import StageRun, run_stage

FIRST = "examples/bookinfo/first-deploy.yaml"
ROLLOUT = "examples/bookinfo/rollout-v2.yaml"
ROLLBACK = "examples/bookinfo/rollback.yaml"
VS = "book-info-reviews-virtualservice"
V1, V2 = "book-info-reviews-v1", "book-info-reviews-v2"
DR = "book-info-reviews-destinationrule"


def replicas(run: StageRun) -> dict[str, int]:
    return {n: r.inputs["spec"]["replicas"] for n, r in run.of_kind("Deployment").items()}


def routes(run: StageRun) -> dict[str, int]:
    http = run.manifest(VS)["spec"]["http"]
    assert len(http) == 1
    return {d["destination"]["subset"]: d["weight"] for d in http[0]["route"]}


def subsets(run: StageRun) -> list[str]:
    """Every subset of reviews, from its DestinationRules (one, named after the component)."""
    return sorted(s["name"] for key, r in run.of_kind("DestinationRule").items() if key.startswith("book-info-reviews-")
                  for s in r.inputs["spec"]["subsets"])


@pytest.fixture(scope="module")
def tutorial() -> dict[str, StageRun]:
    runs = {}
    runs["first"] = run_stage({"app": FIRST})
    runs["canary"] = run_stage({"app": ROLLOUT}, runs["first"])
    runs["approved"] = run_stage({"app": ROLLOUT, "approve": "manual-approval"}, runs["canary"])
    runs["rollback"] = run_stage({"app": ROLLBACK, "approve": "manual-approval"}, runs["approved"])
    for name, run in runs.items():
        assert run.error is None, f"{name}: {run.error}"
    return runs


UNCHANGED = {"book-info-productpage-deployment": 1, "book-info-ratings-deployment": 1, "book-info-details-deployment": 1}


def test_first_deploy(tutorial):
    run = tutorial["first"]
    assert replicas(run) == {V1: 2, **UNCHANGED}
    assert routes(run) == {"reviews-v1": 100}
    assert subsets(run) == ["reviews-v1"]
    assert run.outputs["status"]["reviews"]["phase"] == "succeeded"


def test_canary_10_percent_stops_at_the_gate(tutorial):
    run = tutorial["canary"]
    assert replicas(run) == {V1: 1, V2: 1, **UNCHANGED}
    assert routes(run) == {"reviews-v1": 90, "reviews-v2": 10}
    assert subsets(run) == ["reviews-v1", "reviews-v2"]
    status = run.outputs["status"]["reviews"]
    assert status["phase"] == "suspended"
    assert status["step"] == "2/3 manual-approval"
    assert status["next"] == "pulumi config set approve manual-approval && pulumi up"
    assert status["revisions"]["reviews-v2"] == {"image": "docker.io/istio/examples-bookinfo-reviews-v3:1.16.2",
                                                 "replicas": 1, "weight": 10}


def test_approval_moves_everything_to_v2(tutorial):
    run = tutorial["approved"]
    assert replicas(run) == {V1: 0, V2: 2, **UNCHANGED}
    assert routes(run) == {"reviews-v2": 100}
    # reviews-v1 keeps its Deployment at 0 pods; a subset that would select no pods goes, after the route.
    assert subsets(run) == ["reviews-v2"]
    assert list(run.of_kind("DestinationRule")) == [DR]
    assert run.depends(DR, VS)
    assert run.outputs["status"]["reviews"]["phase"] == "succeeded"


def test_rollback_file_returns_to_v1(tutorial):
    run = tutorial["rollback"]
    assert replicas(run) == {V1: 2, **UNCHANGED}
    assert V2 not in run.resources
    assert routes(run) == {"reviews-v1": 100}
    assert subsets(run) == ["reviews-v1"]
    assert run.outputs["status"]["reviews"]["phase"] == "rolled back"


def test_rollback_by_config_equals_rollback_file(tutorial):
    run = run_stage({"app": ROLLOUT, "approve": "manual-approval", "rollback": "true"}, tutorial["approved"])
    assert run.error is None
    ref = tutorial["rollback"]
    assert {n: r.inputs for n, r in run.resources.items()} == {n: r.inputs for n, r in ref.resources.items()}


def test_other_components_unchanged_through_every_stage(tutorial):
    first = tutorial["first"]
    fixed = [n for n in first.resources if "reviews" not in n]
    assert {"book-info-productpage-gateway", "book-info-productpage-gateway-route",
            "book-info-productpage-service", "book-info-ratings-service", "book-info-details-service"} <= set(fixed)
    for name, run in tutorial.items():
        for key in fixed:
            assert run.resources[key].inputs == first.resources[key].inputs, (name, key)


def test_urns_and_selectors_are_stable(tutorial):
    first = tutorial["first"]
    for name, run in tutorial.items():
        for key, res in run.resources.items():
            if key in first.resources:
                assert res.urn == first.resources[key].urn, (name, key)
        for key, res in run.of_kind("Deployment").items():
            if key in first.resources:
                assert res.inputs["spec"]["selector"] == first.resources[key].inputs["spec"]["selector"]
    v2 = tutorial["canary"].manifest(V2)
    assert v2["spec"]["selector"]["matchLabels"] == {
        "app.oam.dev/name": "book-info", "app.oam.dev/component": "reviews", "app.oam.dev/revision": "reviews-v2"}
    assert tutorial["approved"].resources[V2].urn == tutorial["canary"].resources[V2].urn


def test_labels_and_selectors(tutorial):
    run = tutorial["canary"]
    for key in (V1, V2):
        m = run.manifest(key)
        pod = m["spec"]["template"]["metadata"]["labels"]
        assert m["spec"]["selector"]["matchLabels"].items() <= pod.items()
        assert pod["app.oam.dev/revision"] == key.removeprefix("book-info-")
        assert m["spec"]["template"]["spec"]["containers"][0]["name"] == "reviews"
    svc = run.manifest("book-info-reviews-service")
    assert svc["spec"]["selector"] == {"app.oam.dev/name": "book-info", "app.oam.dev/component": "reviews"}
    assert svc["spec"]["ports"][0]["appProtocol"] == "http"
    dr = run.manifest(DR)
    assert dr["metadata"]["name"] == "reviews" and "app.oam.dev/revision" not in dr["metadata"]["labels"]
    assert dr["spec"]["subsets"] == [{"name": rev, "labels": {"app.oam.dev/revision": rev}}
                                     for rev in ("reviews-v1", "reviews-v2")]
    assert run.manifest(VS)["apiVersion"] == "networking.istio.io/v1"


def test_safety_edges_rolling_forward(tutorial):
    canary = tutorial["canary"]
    assert canary.depends(VS, V2), "the route waits for the new pods"
    assert canary.depends(VS, DR), "the new subset exists before the route names it"
    assert canary.depends(V1, VS), "reviews-v1 scales down only after the route change"
    assert not canary.depends(V2, VS)
    approved = tutorial["approved"]
    assert approved.depends(VS, V2) and approved.depends(V1, VS)


def test_safety_edges_rolling_back(tutorial):
    run = tutorial["rollback"]
    assert run.depends(VS, V1), "reviews-v1 is ready before it gets traffic back"
    # One update cannot add reviews-v1's subset to the rule before the route and drop reviews-v2's after it:
    # reviews-v1's subset gets a rule of its own, made before the route; the component's rule, which
    # holds only reviews-v2's, is deleted at the end of the update, after the route has moved.
    assert run.depends(VS, f"{V1}-destinationrule")
    assert DR not in run.resources
    # reviews-v2's Deployment is not registered: Pulumi deletes it at the end of the update,
    # after every route has been updated (the end-to-end suite checks the order).
    assert V2 not in run.resources


def test_going_back_a_stage(tutorial):
    run = run_stage({"app": ROLLOUT, "approve": "manual-approval", "stage": "1"}, tutorial["approved"])
    assert run.error is None
    canary = tutorial["canary"]
    assert replicas(run) == replicas(canary)
    assert routes(run) == routes(canary)
    assert run.depends(VS, V1) and run.depends(V2, VS)
    assert run.outputs["status"]["reviews"]["phase"] == "progressing"
    assert run.outputs["status"]["reviews"]["next"] == "pulumi config set stage 2 && pulumi up"


def test_rerun_of_a_stage_is_identical(tutorial):
    again = run_stage({"app": ROLLOUT}, tutorial["canary"])
    assert {n: r.inputs for n, r in again.resources.items()} == {n: r.inputs for n, r in tutorial["canary"].resources.items()}
    assert again.outputs == tutorial["canary"].outputs


def test_history_reset_makes_revision_1_again():
    # After pulumi destroy the stack has no outputs: the rollout file alone is a first release.
    run = run_stage({"app": FIRST})
    assert set(run.of_kind("Deployment")) >= {V1}


def test_preview_registers_the_same(tutorial):
    run = run_stage({"app": ROLLOUT}, tutorial["first"], preview=True)
    assert {n: r.inputs for n, r in run.resources.items()} == {n: r.inputs for n, r in tutorial["canary"].resources.items()}


def test_retry_after_rollback_needs_a_fresh_approval(tutorial):
    run = run_stage({"app": ROLLOUT, "approve": "manual-approval"}, tutorial["rollback"])
    assert run.resources == {}
    assert "approved release 2 and does not carry over to release 3" in run.error
    fresh = run_stage({"app": ROLLOUT}, tutorial["rollback"])
    assert fresh.error is None
    assert routes(fresh) == {"reviews-v1": 90, "reviews-v2": 10}
    assert fresh.outputs["status"]["reviews"]["release"] == 3


def test_state_read_is_retried_and_never_falls_back_to_empty(monkeypatch):
    import pulumi

    calls = {"n": 0}
    real = pulumi.runtime.invoke

    def flaky(token, args, *rest, **kw):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise Exception("failed to load checkpoint: EOF")
        return real(token, args, *rest, **kw)

    monkeypatch.setattr(pulumi.runtime, "invoke", flaky)
    first = run_stage({"app": FIRST})
    calls["n"] = 0
    run = run_stage({"app": ROLLOUT}, first)
    assert run.error is None and calls["n"] == 4  # two failed tries, then the history and the objects
    assert run.outputs["status"]["reviews"]["release"] == 2

    monkeypatch.setattr(pulumi.runtime, "invoke", lambda *a, **k: (_ for _ in ()).throw(Exception("EOF")))
    broken = run_stage({"app": ROLLOUT}, first)
    assert broken.resources == {}
    assert "cannot read the recorded state of stack organization/oam-delivery/dev" in broken.error


def test_the_gateway_route_waits_for_the_pods_not_for_the_service(tutorial):
    run = tutorial["first"]
    assert run.depends("book-info-productpage-gateway-route", "book-info-productpage-deployment")
    for name, res in run.of_kind("Service").items():
        assert res.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", name
    assert "pulumi.com/skipAwait" not in run.manifest(V1)["metadata"]["annotations"]
