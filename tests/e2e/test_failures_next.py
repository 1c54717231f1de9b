"""The commands a failure prints are the way back: each test runs the printed command as printed.

The shop's first canary step is blocked by a ResourceQuota (the cluster refuses the new
revision's pods), as a team's quota would. The status and the error offer a rollback; that
exact command returns both components to their stable revision. Then the status's next
command starts the release again once the quota is lifted. Every stage's traffic is
asserted as Istio's config generation routes it, with the weights the files give.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.e2e.conftest import Kube, Project, follow, make_project, printed_command
from tests.e2e.test_tutorial import assert_converged

NS = "shop-quota"
V1_APP, V2_APP = "examples/shop/v1.yaml", "examples/shop/v2.yaml"
HOST = "quota.shop.example.com"  # one host, one owner on the gateway: the shop of other tests has its own


@pytest.fixture(scope="module")
def here(kube: Kube) -> Kube:
    return Kube(kube.env, NS, kube.istioctl)


@pytest.fixture(scope="module")
def shop(pulumi_env, tmp_path_factory, kube: Kube) -> Project:
    p = make_project(tmp_path_factory.mktemp("failures-next") / "project", pulumi_env, "failures-next")
    for name in (V1_APP, V2_APP):
        path = p.dir / name
        path.write_text(path.read_text().replace("namespace: default", f"namespace: {NS}")
                        .replace("shop.example.com", HOST))
    p.config(readyTimeout="15s")
    yield p
    p.pulumi("destroy", "--yes", check=False)
    kube.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def quota_at(here: Kube, pods: int) -> None:
    """A ResourceQuota that lets the namespace hold ``pods`` pods, in force once the cluster has counted them."""
    manifest = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": NS},
                "spec": {"hard": {"pods": str(pods)}}}
    proc = subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(manifest), env=here.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        quota = here.get("resourcequota", "pods")
        if ((quota or {}).get("status") or {}).get("used", {}).get("pods") is not None:
            return
        time.sleep(0.2)
    raise AssertionError("the ResourceQuota was not counted within 30 s")


def test_1_stable(shop: Project, here: Kube):
    shop.config(app=V1_APP)
    assert_converged(shop, shop.up("v1"), here)
    here.assert_traffic({("mesh", "cart"): {"cart-v1": 100}, ("gateway", HOST): {"cart-v1": 100},
                         ("mesh", "search"): {"search-v1": 100}})


def test_2_first_canary_step_refused_by_a_quota_then_rolled_back_as_printed(shop: Project, here: Kube):
    pods = len(here.list("pods", "app.oam.dev/name=shop"))
    quota_at(here, pods)
    shop.config(app=V2_APP)
    up = shop.up("first-batch-over-quota")
    assert not up.ok
    assert "cart-v2: 0/1 pods Ready when the update stopped" in up.output
    # Traffic and the stable revisions held.
    here.assert_traffic({("mesh", "cart"): {"cart-v1": 100}, ("gateway", HOST): {"cart-v1": 100},
                         ("mesh", "search"): {"search-v1": 100}})
    status = shop.status()["cart"]
    assert status["phase"] == "failed"
    printed = printed_command(status["next"])
    assert printed == "pulumi config set rollback true && pulumi up"
    assert printed in up.output, "the error and the status offer different commands"
    # The printed command, as printed: both components back on their stable revision, everything served.
    back = follow(shop, printed, "rollback-as-printed")
    assert_converged(shop, back, here)
    here.assert_traffic({("mesh", "cart"): {"cart-v1": 100}, ("gateway", HOST): {"cart-v1": 100},
                         ("mesh", "search"): {"search-v1": 100}})
    assert here.ready("cart-v1") == (3, 3) and here.get("deployment", "cart-v2") is None
    assert here.get("deployment", "search-v2") is None
    status = shop.status()["cart"]
    assert status["phase"] == "rolled back"
    assert status["next"] == "pulumi config rm rollback, then set app to a fixed release and pulumi up"


def test_3_the_release_again_once_the_quota_is_lifted(shop: Project, here: Kube):
    here.kubectl("delete", "resourcequota", "pods", "-n", NS)
    # The rolled-back status's next command; the file set is the one to try again.
    up = follow(shop, "pulumi config rm rollback, then pulumi up", "release-again")
    assert_converged(shop, up, here)
    here.assert_traffic({("mesh", "cart"): {"cart-v1": 90, "cart-v2": 10}, ("gateway", HOST):
                         {"cart-v1": 90, "cart-v2": 10}, ("mesh", "search"): {"search-v1": 90, "search-v2": 10}})
    status = shop.status()["cart"]
    assert status["phase"] == "suspended" and status["step"] == "2/6 check-first-batch"
    # Its next command, as printed, takes the release on to the next batch.
    up = follow(shop, status["next"], "approved-as-printed")
    assert_converged(shop, up, here)
    assert shop.status()["cart"]["step"].startswith("4/6")


def test_4_a_failed_first_deploy_offers_no_rollback(pulumi_env, tmp_path_factory, kube: Kube):
    ns = "shop-quota-first"
    project = make_project(tmp_path_factory.mktemp("failures-first") / "project", pulumi_env, "failures-first")
    path = project.dir / V1_APP
    path.write_text(path.read_text().replace("namespace: default", f"namespace: {ns}")
                    .replace("shop.example.com", f"first.{HOST}"))
    there = Kube(kube.env, ns, kube.istioctl)
    try:
        project.config(app=V1_APP, readyTimeout="10s")
        kube.hold_new_pods()
        up = project.up("first-deploy-held")
        assert not up.ok and "cart-v1: 0/3 pods Ready when the update stopped" in up.output
        assert "roll back" not in up.output, "a rollback with nothing to roll back to was offered"
        status = project.status()["cart"]
        assert "roll back" not in status["next"]
        assert status["next"].startswith("fix the cause, then pulumi up")
        kube.release_new_pods()
        # What it offers instead: fix the cause (the hold is lifted), then pulumi up.
        up = follow(project, printed_command(status["next"], "fix the cause, then "), "first-deploy-again")
        assert_converged(project, up, there)
        there.assert_traffic({("mesh", "cart"): {"cart-v1": 100}, ("gateway", f"first.{HOST}"): {"cart-v1": 100}})
    finally:
        kube.release_new_pods()
        project.pulumi("destroy", "--yes", check=False)
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)
