"""Stages that fail, with the real engine and cluster: pods that never get Ready, get Ready late, or lose readiness.

Failures come from the cluster itself: a NoSchedule taint keeps new pods Pending (never
Ready, or Ready only once it is lifted), and a pod's status loses its Ready condition as a
failing readiness probe would make it. Every assertion reads the live API or the engine's
event log; the status output is read where it is the thing under test.
"""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

from oam import traffic as oracle
from tests.e2e.conftest import Kube, Project, follow, make_project, printed_command
from tests.e2e.test_tutorial import assert_converged

V1_APP, V2_APP = "examples/shop/v1.yaml", "examples/shop/v2.yaml"
TO_THE_GATE = "check-first-batch,soak"
ALL = "check-first-batch,soak,check-second-batch"
VS = "shop-cart-virtualservice"
OLD, NEW = "shop-cart-v1", "shop-cart-v2"
TIMEOUT = "15s"


def routes(kube: Kube, name: str) -> dict[str, int]:
    vs = kube.get("virtualservices.networking.istio.io", name)
    return {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}


def cart(kube: Kube) -> dict:
    """cart as the cluster has it: (replicas, Ready) per revision, routes, subsets."""
    out = {rev: kube.ready(rev) for rev in ("cart-v1", "cart-v2")}
    out["routes"] = routes(kube, "cart")
    assert routes(kube, "cart-gateway") == out["routes"], "traffic through the gateway is weighed differently"
    rules = kube.list("destinationrules.networking.istio.io", "app.oam.dev/name=shop,app.oam.dev/component=cart")
    out["subsets"] = sorted(s["name"] for r in rules for s in r["spec"]["subsets"])
    return out


def traffic(kube: Kube, split: dict[str, int]) -> None:
    """The shop's traffic as Istio routes it, as v2.yaml weighs a stage: cart in the mesh and through the gateway,
    and search, whose steps weigh it as cart's; then through a real Envoy with those routes."""
    expected = {("mesh", "cart"): split, ("gateway", "shop.example.com"): split,
                ("mesh", "search"): {k.replace("cart", "search"): v for k, v in split.items()}}
    kube.assert_traffic(expected)
    kube.assert_envoy(expected)


@pytest.fixture(scope="module")
def shop(pulumi_env, tmp_path_factory, kube: Kube) -> Project:
    kube.release_new_pods()
    p = make_project(tmp_path_factory.mktemp("failures") / "project", pulumi_env, "failures")
    p.config(readyTimeout=TIMEOUT)
    yield p
    kube.release_new_pods()
    p.pulumi("destroy", "--yes", check=False)


def test_1_to_the_last_gate(shop: Project, kube: Kube):
    shop.config(app=V1_APP)
    assert_converged(shop, shop.up("v1"), kube)
    shop.config(app=V2_APP, approve=TO_THE_GATE)
    assert_converged(shop, shop.up("to-the-last-gate"), kube)
    assert cart(kube) == {"cart-v1": (1, 1), "cart-v2": (2, 2), "routes": {"cart-v1": 50, "cart-v2": 50},
                          "subsets": ["cart-v1", "cart-v2"]}
    traffic(kube, {"cart-v1": 50, "cart-v2": 50})


def test_2_last_batch_whose_pods_never_get_ready(shop: Project, kube: Kube):
    kube.hold_new_pods()
    shop.config(approve=ALL)
    up = shop.up("last-batch-held")
    assert not up.ok
    # Our message after Pulumi's: the revision, its Ready pods, what was left alone, the next command.
    assert "cart-v2: 2/3 pods Ready when the update stopped (it waits up to 15s" in up.output
    assert "search-v2: 2/3 pods Ready when the update stopped" in up.output
    assert "Resource monitor has terminated" not in up.output
    assert "pulumi config set rollback true && pulumi up" in up.output
    assert "Traceback" not in up.output
    # The route did not move and the stable revision kept its pod.
    assert cart(kube) == {"cart-v1": (1, 1), "cart-v2": (3, 2), "routes": {"cart-v1": 50, "cart-v2": 50},
                          "subsets": ["cart-v1", "cart-v2"]}
    assert VS not in up.ops() and OLD not in up.ops()
    traffic(kube, {"cart-v1": 50, "cart-v2": 50})
    status = shop.status()["cart"]
    assert status["phase"] == "failed" and "step 6/6 last-batch" in status["failed"]
    assert status["next"].startswith("fix the cause, then pulumi up")
    kube.assert_istio_agrees()


def test_3_rerun_once_the_cause_is_gone_moves_the_route_before_the_old_pods(shop: Project, kube: Kube):
    kube.release_new_pods()
    up = shop.up("last-batch-rerun")
    assert_converged(shop, up, kube)
    assert cart(kube) == {"cart-v1": (0, 0), "cart-v2": (3, 3), "routes": {"cart-v2": 100}, "subsets": ["cart-v2"]}
    traffic(kube, {"cart-v2": 100})
    assert up.finished_before_started(NEW, VS)
    assert up.finished_before_started(VS, OLD), "the stable revision lost its pod before the route left it"
    assert shop.status()["cart"]["phase"] == "succeeded"


def test_4_going_back_a_stage_fails_then_rolls_back(shop: Project, kube: Kube):
    kube.hold_new_pods()
    shop.config(stage=3)
    up = shop.up("back-to-second-batch-held")
    assert not up.ok
    assert "cart-v1: 0/1 pods Ready when the update stopped" in up.output
    # cart-v1 has no Ready pod: the route still sends everything to cart-v2, which kept its 3 pods.
    assert cart(kube)["routes"] == {"cart-v2": 100}
    traffic(kube, {"cart-v2": 100})
    assert kube.ready(NEW.removeprefix("shop-")) == (3, 3)
    kube.release_new_pods()
    # The rollback the failure printed, as printed (the stage pin is taken off first: the rollback is of the
    # release, not of a stage).
    printed = printed_command(shop.status()["cart"]["next"])
    assert printed in up.output
    shop.config(stage=None)
    up = follow(shop, printed, "rollback-after-failure")
    assert_converged(shop, up, kube)
    assert cart(kube) == {"cart-v1": (3, 3), "cart-v2": (0, 0), "routes": {"cart-v1": 100}, "subsets": ["cart-v1"]}
    traffic(kube, {"cart-v1": 100})
    up.replay_in_envoy(kube.namespace, {("mesh", "cart"): {"cart-v1": 100}, ("gateway", "shop.example.com"):
                                        {"cart-v1": 100}})
    assert up.finished_before_started(OLD, VS)
    assert up.first("pre", NEW) > up.first("outputs", VS), "cart-v2 went before the route had left it"
    assert shop.status()["cart"]["phase"] == "rolled back"
    shop.config(rollback=None, approve=None)


def test_5_pods_that_get_ready_late_are_waited_for(shop: Project, kube: Kube):
    shop.config(app=V1_APP)
    assert_converged(shop, shop.up("v1-again"), kube)
    kube.hold_new_pods()
    shop.config(app=V2_APP)
    lift = threading.Timer(6, kube.release_new_pods)
    lift.start()
    try:
        up = shop.up("first-batch-late")
    finally:
        lift.join()
    assert_converged(shop, up, kube)
    assert up.finished_before_started(NEW, VS)
    assert cart(kube)["routes"] == {"cart-v1": 90, "cart-v2": 10}
    traffic(kube, {"cart-v1": 90, "cart-v2": 10})
    assert up.seconds > 6, "the update did not wait for the pods"


def test_6_pods_that_lose_readiness(shop: Project, kube: Kube):
    lost = kube.make_unready("app.oam.dev/revision=cart-v2")
    assert kube.ready("cart-v2") == (1, 0)
    shop.config(approve="check-first-batch")
    up = shop.up("second-batch-unready")
    assert not up.ok and "cart-v2: 1/2 pods Ready when the update stopped" in up.output
    assert cart(kube)["routes"] == {"cart-v1": 90, "cart-v2": 10}
    assert kube.ready("cart-v1") == (2, 2), "the stable revision kept its pods"
    # The pod made not Ready gets no request: cart-v2's 10% goes to its new pod, Ready, which the update added;
    # search, whose pods were not touched, went on to the second batch.
    expected = {("mesh", "cart"): {"cart-v1": 90, "cart-v2": 10}, ("gateway", "shop.example.com"):
                {"cart-v1": 90, "cart-v2": 10}, ("mesh", "search"): {"search-v1": 50, "search-v2": 50}}
    kube.assert_traffic(expected)
    kube.assert_envoy(expected)
    (call,) = [c for c in oracle.calls(kube.traffic()) if c.caller == "mesh" and c.host == "cart"]
    # istiod lists the pod that lost its readiness, as an endpoint that is not healthy.
    assert [(c["subset"], c["ready"], len(c["endpoints"])) for c in call.clusters] == [("cart-v1", 2, 2),
                                                                                        ("cart-v2", 1, 2)]
    # The cause goes (the pod is replaced, as a restart would), and the same stage goes on.
    kube.kubectl("delete", "pod", "-n", kube.namespace, *lost)
    up = shop.up("second-batch-rerun")
    assert_converged(shop, up, kube)
    assert cart(kube)["routes"] == {"cart-v1": 50, "cart-v2": 50}
    traffic(kube, {"cart-v1": 50, "cart-v2": 50})
    assert up.finished_before_started(VS, OLD)


def test_7_drift_is_shown_and_undone(shop: Project, kube: Kube):
    kube.kubectl("scale", "deployment", "cart-v1", "-n", kube.namespace, "--replicas=0")
    kube.kubectl("patch", "virtualservices.networking.istio.io", "cart", "-n", kube.namespace, "--type=json", "-p",
                 '[{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 0},'
                 ' {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 100}]')
    preview = shop.pulumi("preview", "--refresh", "--diff", check=False)
    assert preview.returncode == 0, preview.stderr
    assert "shop-cart-v1" in preview.stdout and VS in preview.stdout
    up = shop.up("drift-undone", "--refresh")
    assert_converged(shop, up, kube)
    assert cart(kube)["routes"] == {"cart-v1": 50, "cart-v2": 50}
    assert kube.ready("cart-v1") == (1, 1)
    assert up.finished_before_started(OLD, VS), "cart-v1 got its pod back before the route gave it traffic"


def test_8_two_updates_at_once(shop: Project, kube: Kube):
    kube.hold_new_pods()
    shop.config(approve=ALL)
    first = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", shop.stack, "--non-interactive"],
                             cwd=shop.dir, env=shop.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while kube.ready("cart-v2")[0] != 3 and time.monotonic() < deadline:
            time.sleep(0.2)  # the first update is under way (and held at cart-v2's pods)
        held = kube.generations("shop")
        second = shop.up("second-at-once")
        assert not second.ok and "currently locked" in second.output
        assert kube.generations("shop") == held, "the refused update changed something"
    finally:
        kube.release_new_pods()
        first.communicate(timeout=300)
    assert first.returncode == 0
    assert cart(kube)["routes"] == {"cart-v2": 100}


def test_9_a_namespace_that_does_not_exist_yet(pulumi_env, tmp_path_factory, kube: Kube):
    project = make_project(tmp_path_factory.mktemp("namespace") / "project", pulumi_env, "namespace")
    text = (project.dir / V1_APP).read_text().replace("namespace: default", "namespace: shop-new")
    text = text.replace("shop.example.com", "new.shop.example.com")  # one host, one owner on the gateway
    (project.dir / "examples" / "shop-new.yaml").write_text(text)
    there = Kube(kube.env, "shop-new", kube.istioctl)
    assert kube.get("namespace", "shop-new") is None
    try:
        project.config(app="examples/shop-new.yaml")
        up = project.up("new-namespace")
        assert_converged(project, up, there)
        ns = kube.get("namespace", "shop-new")
        assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
        assert there.ready("cart-v1") == (3, 3)
        assert up.finished_before_started("shop-namespace", "shop-cart-v1")
    finally:
        project.pulumi("destroy", "--yes", check=False)
    assert there.list("deployments,services", "app.oam.dev/name=shop") == []
    assert kube.get("namespace", "shop-new") is not None, "pulumi destroy deleted a namespace"
    kube.kubectl("delete", "namespace", "shop-new", "--wait=false")
