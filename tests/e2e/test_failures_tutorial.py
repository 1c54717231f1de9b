"""The bookinfo tutorial with a failure at every transition: first deploy, 10%, approval, rollback.

New pods are held Pending by a NoSchedule taint (a real mechanism of the cluster) until the
test lifts it. At each failure: no route names a revision without Ready pods, the revision
that was to give up pods keeps them, the message names the revision; once the cause is
gone, the same `pulumi up` converges in the safe order. Runs in a namespace of its own that
the first deploy creates.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Kube, Project, make_project
from tests.e2e.test_tutorial import FIRST, ROLLBACK, ROLLOUT, V1, V2, VS, assert_converged

NS = "bookinfo-failures"
DR = "book-info-reviews-destinationrule"


def reviews(kube: Kube) -> dict:
    out = {rev: kube.ready(rev) for rev in ("reviews-v1", "reviews-v2")}
    vs = kube.get("virtualservices.networking.istio.io", "reviews")
    out["routes"] = None if vs is None else {
        r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}
    return out


@pytest.fixture(scope="module")
def here(kube: Kube) -> Kube:
    return Kube(kube.env, NS, kube.istioctl)


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory, kube: Kube) -> Project:
    kube.release_new_pods()
    p = make_project(tmp_path_factory.mktemp("tutorial-failures") / "project", pulumi_env, "tutorial-failures")
    for name in (FIRST, ROLLOUT, ROLLBACK):
        path = p.dir / name
        path.write_text(path.read_text().replace("namespace: default", f"namespace: {NS}"))
    p.config(readyTimeout="10s")
    yield p
    kube.release_new_pods()
    p.pulumi("destroy", "--yes", check=False)
    kube.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def held_up(project: Project, kube: Kube, label: str):
    """`pulumi up` while new pods are held Pending; the test lifts the hold once it has looked."""
    kube.hold_new_pods()
    return project.up(label)


def test_1_first_deploy(project: Project, kube: Kube, here: Kube):
    project.config(app=FIRST)
    up = held_up(project, kube, "first-deploy-held")
    assert not up.ok and "reviews-v1: 0/2 pods Ready when the update stopped" in up.output
    assert "Traceback" not in up.output
    assert reviews(here)["routes"] is None, "a route was made to a revision without Ready pods"
    assert project.status()["reviews"]["phase"] == "failed"
    kube.release_new_pods()
    up = project.up("first-deploy-rerun")
    assert_converged(project, up, here)
    assert reviews(here) == {"reviews-v1": (2, 2), "reviews-v2": (0, 0), "routes": {"reviews-v1": 100}}
    assert up.finished_before_started(V1, VS)


def test_2_ten_percent(project: Project, kube: Kube, here: Kube):
    project.config(app=ROLLOUT)
    up = held_up(project, kube, "canary-held")
    assert not up.ok and "reviews-v2: 0/1 pods Ready when the update stopped" in up.output
    assert reviews(here) == {"reviews-v1": (2, 2), "reviews-v2": (1, 0), "routes": {"reviews-v1": 100}}
    status = project.status()["reviews"]
    assert status["phase"] == "failed" and "step 1/3 rollout-1st-batch" in status["failed"]
    here.assert_istio_agrees()
    kube.release_new_pods()
    up = project.up("canary-rerun")
    assert_converged(project, up, here)
    assert reviews(here) == {"reviews-v1": (1, 1), "reviews-v2": (1, 1), "routes": {"reviews-v1": 90, "reviews-v2": 10}}
    # reviews-v2's subset was added by the failed update already (no route named it then).
    assert up.finished_before_started(V2, VS) and DR not in up.ops()
    rule = here.get("destinationrules.networking.istio.io", "reviews")
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["reviews-v1", "reviews-v2"]
    assert up.finished_before_started(VS, V1)
    assert project.status()["reviews"]["phase"] == "suspended"


def test_3_approval_fails_then_rollback_fails_then_rollback(project: Project, kube: Kube, here: Kube):
    project.config(approve="manual-approval")
    up = held_up(project, kube, "approval-held")
    assert not up.ok and "reviews-v2: 1/2 pods Ready when the update stopped" in up.output
    assert reviews(here) == {"reviews-v1": (1, 1), "reviews-v2": (2, 1), "routes": {"reviews-v1": 90, "reviews-v2": 10}}
    kube.release_new_pods()
    # Roll back from the failed stage, and that fails too (reviews-v1's second pod is held):
    # reviews-v2 keeps its pods and its 10%.
    project.config(app=ROLLBACK)
    up = held_up(project, kube, "rollback-held")
    assert not up.ok and "reviews-v1: 1/2 pods Ready when the update stopped" in up.output
    assert reviews(here)["routes"] == {"reviews-v1": 90, "reviews-v2": 10}
    assert here.ready("reviews-v2")[1] >= 1
    assert project.status()["reviews"]["phase"] == "failed"
    kube.release_new_pods()
    up = project.up("rollback-rerun")
    assert_converged(project, up, here)
    assert reviews(here) == {"reviews-v1": (2, 2), "reviews-v2": (0, 0), "routes": {"reviews-v1": 100}}
    assert up.finished_before_started(V1, VS)
    assert up.first("pre", V2) > up.first("outputs", VS) and up.first("pre", DR) > up.first("outputs", VS)
    assert project.status()["reviews"]["phase"] == "rolled back"
