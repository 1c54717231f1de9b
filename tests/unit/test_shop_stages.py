"""Our own example under mocks: two canaried components, three batches, two approvals, a timed gate."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.harness import ROOT, Clock, StageRun, run_stage

V1, V2 = "examples/shop/v1.yaml", "examples/shop/v2.yaml"
T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def numbers(run: StageRun, comp: str) -> tuple[dict, dict]:
    deployments = {n.removeprefix("shop-"): r.inputs["spec"]["replicas"]
                   for n, r in run.of_kind("Deployment").items() if n.startswith(f"shop-{comp}-v")}
    route = run.manifest(f"shop-{comp}-virtualservice")["spec"]["http"][0]["route"]
    return deployments, {d["destination"]["subset"]: d["weight"] for d in route}


def test_walk_through_every_gate(clock):
    first = run_stage({"app": V1}, clock=clock)
    assert first.error is None
    assert numbers(first, "cart") == ({"cart-v1": 3}, {"cart-v1": 100})
    assert first.manifest("shop-mailer-deployment")["spec"]["replicas"] == 2

    batch1 = run_stage({"app": V2}, first, clock=clock)
    assert batch1.error is None
    for comp in ("cart", "search"):
        assert numbers(batch1, comp) == ({f"{comp}-v1": 2, f"{comp}-v2": 1}, {f"{comp}-v1": 90, f"{comp}-v2": 10})
    assert batch1.outputs["status"]["cart"]["step"] == "2/6 check-first-batch"

    soak = run_stage({"app": V2, "approve": "check-first-batch"}, batch1, clock=clock)
    assert soak.error is None
    assert numbers(soak, "search") == ({"search-v1": 1, "search-v2": 2}, {"search-v1": 50, "search-v2": 50})
    status = soak.outputs["status"]["cart"]
    assert status["phase"] == "suspended" and status["step"] == "4/6 soak"
    assert status["waiting"] == "soak (opens at 2026-11-26T12:00:30Z)"
    assert status["opensAt"] == "2026-11-26T12:00:30Z", "the driver reads it"

    clock.at = T0 + timedelta(seconds=10)
    early = run_stage({"app": V2, "approve": "check-first-batch"}, soak, clock=clock)
    assert {n: r.inputs for n, r in early.resources.items()} == {n: r.inputs for n, r in soak.resources.items()}
    assert early.outputs == soak.outputs
    assert early.outputs["status"]["cart"]["waiting"] == "soak (opens at 2026-11-26T12:00:30Z)"

    clock.at = T0 + timedelta(seconds=31)
    second = run_stage({"app": V2, "approve": "check-first-batch"}, early, clock=clock)
    status = second.outputs["status"]["cart"]
    assert status["step"] == "5/6 check-second-batch"
    assert status["next"] == "pulumi config set approve check-first-batch,check-second-batch && pulumi up"
    assert numbers(second, "cart") == numbers(soak, "cart")

    done = run_stage({"app": V2, "approve": ["check-first-batch", "check-second-batch"]}, second, clock=clock)
    assert done.error is None
    for comp in ("cart", "search"):
        assert numbers(done, comp) == ({f"{comp}-v1": 0, f"{comp}-v2": 3}, {f"{comp}-v2": 100})
    assert done.outputs["status"]["search"]["phase"] == "succeeded"
    assert done.depends("shop-cart-v1", "shop-cart-virtualservice")
    assert done.depends("shop-cart-virtualservice", "shop-cart-v2")


def test_approval_opens_a_timed_gate_early(clock):
    first = run_stage({"app": V1}, clock=clock)
    run = run_stage({"app": V2, "approve": "check-first-batch,soak,check-second-batch"}, first, clock=clock)
    assert run.error is None
    assert run.outputs["status"]["cart"]["phase"] == "succeeded"


def test_next_release_retires_the_old_stable_revision(tmp_path, clock):
    first = run_stage({"app": V1}, clock=clock)
    approvals = "check-first-batch,soak,check-second-batch"
    done = run_stage({"app": V2, "approve": approvals}, first, clock=clock)
    v3 = tmp_path / "v3.yaml"
    text = (ROOT / V2).read_text().replace(":2.0.0", ":3.0.0")
    text = text.replace("cart-v2", "cart-v3").replace("cart-v1", "cart-v2")
    text = text.replace("search-v2", "search-v3").replace("search-v1", "search-v2")
    v3.write_text(text)
    leftover = run_stage({"app": str(v3), "approve": approvals}, done, clock=clock)
    assert leftover.resources == {} and "does not carry over to release 3" in leftover.error
    run = run_stage({"app": str(v3)}, done, clock=clock)
    assert run.error is None
    assert numbers(run, "cart") == ({"cart-v2": 2, "cart-v3": 1}, {"cart-v2": 90, "cart-v3": 10})
    assert "shop-cart-v1" not in run.resources
    # The release before went from cart-v1 to cart-v2 in one update: cart-v2's subset got a rule of its own.
    rules = {k: [s["name"] for s in r.inputs["spec"]["subsets"]] for k, r in run.of_kind("DestinationRule").items()
             if k.startswith("shop-cart-")}
    assert rules == {"shop-cart-v2-destinationrule": ["cart-v2"], "shop-cart-destinationrule": ["cart-v3"]}
    assert run.depends("shop-cart-virtualservice", "shop-cart-destinationrule")
    assert run.outputs["status"]["cart"]["release"] == 3


def test_worker_and_pod_details():
    run = run_stage({"app": V1})
    mailer = run.manifest("shop-mailer-deployment")
    pod = mailer["spec"]["template"]
    assert pod["spec"]["containers"][0]["command"] == ["/bin/mailer"]
    assert "ports" not in pod["spec"]["containers"][0]
    assert pod["spec"]["volumes"] == [{"name": "templates", "configMap": {"name": "mail-templates"}}]
    assert pod["metadata"]["annotations"] == {"shop.example.com/owner": "payments"}
    cart = run.manifest("shop-cart-v1")["spec"]["template"]
    c = cart["spec"]["containers"][0]
    assert c["env"][1] == {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "cart-db", "key": "password"}}}
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}}
    assert cart["metadata"]["labels"]["team"] == "shop"
    assert run.manifest("shop-cart-service")["metadata"]["labels"]["team"] == "shop"


def test_a_step_without_traffic_weighs_by_replicas(tmp_path):
    text = (ROOT / V2).read_text()
    start = text.index("      - name: last-batch")
    text = text[:start] + """      - name: last-batch
        type: canary-rollout
        properties:
          batchPartition: 2
"""
    app = tmp_path / "no-traffic.yaml"
    app.write_text(text)
    first = run_stage({"app": V1})
    run = run_stage({"app": str(app), "approve": "check-first-batch,soak,check-second-batch"}, first)
    assert run.error is None
    # Weights of the earlier step (50/50) do not carry over to a step that moves every pod.
    assert numbers(run, "cart") == ({"cart-v1": 0, "cart-v2": 3}, {"cart-v2": 100})
    batch1 = run_stage({"app": str(app), "stage": "1"}, first)
    assert numbers(batch1, "cart")[1] == {"cart-v1": 90, "cart-v2": 10}
