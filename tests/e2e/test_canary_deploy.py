"""canary-deploy on the real engine and API server: a release in place, walked stage by stage, then rolled back.

The component's Deployment keeps the stable revision; each step's share of the pods runs on
the new revision in a Deployment of its own, Ready before the stable one gives pods up; at
100% the component's Deployment takes the new revision and the other is deleted after it is
Ready. Every assertion reads the live API or the engine's event log.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Kube, Project, make_project
from tests.e2e.test_tutorial import assert_converged

NS = "in-place"
APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shopfront
  namespace: in-place
spec:
  components:
    - name: front
      type: webservice
      properties:
        image: registry.example.com/shopfront/front:{tag}
        ports:
          - port: 8080
            expose: true
      traits:
        - type: scaler
          properties:
            replicas: 5
  workflow:
    steps:
      - name: rollout-20
        type: canary-deploy
        properties:
          weight: 20
      - name: approve-50
        type: suspend
      - name: rollout-50
        type: canary-deploy
        properties:
          weight: 50
      - name: approve-rest
        type: suspend
      - name: rollout-100
        type: canary-deploy
        properties:
          weight: 100
"""
STABLE, CANARY = "shopfront-front-deployment", "shopfront-front-v2"


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Project:
    p = make_project(tmp_path_factory.mktemp("in-place") / "project", pulumi_env, "in-place")
    for tag in ("1", "2", "3"):
        (p.dir / "examples" / f"shopfront-{tag}.yaml").write_text(APP.format(tag=tag))
    yield p
    p.pulumi("destroy", "--yes", check=False)


@pytest.fixture(scope="module")
def ns(kube: Kube) -> Kube:
    return Kube(kube.env, NS, kube.istioctl)


def pods(ns: Kube) -> dict[str, tuple]:
    """Deployment -> (replicas, Ready, image tag) for the component's Deployments."""
    out = {}
    for d in ns.list("deployments", "app.oam.dev/component=front"):
        image = d["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        out[d["metadata"]["name"]] = (d["spec"]["replicas"], d["status"].get("readyReplicas", 0), image)
    return out


def test_1_first_release_puts_every_pod_on_its_revision(project: Project, ns: Kube):
    project.config(app="examples/shopfront-1.yaml", approve="approve-50,approve-rest")
    up = project.up("first")
    assert_converged(project, up)
    assert pods(ns) == {"front": (5, 5, "1")}
    assert project.status()["front"]["phase"] == "succeeded"
    project.config(approve=None)


def test_2_a_share_of_the_pods_on_the_new_revision_new_ones_ready_first(project: Project, ns: Kube):
    project.config(app="examples/shopfront-2.yaml")
    up = project.up("20%")
    assert_converged(project, up)
    assert pods(ns) == {"front": (4, 4, "1"), "front-v2": (1, 1, "2")}
    assert up.finished_before_started(CANARY, STABLE), "the new pod is Ready before the stable Deployment shrinks"
    selector = ns.get("service", "front")["spec"]["selector"]
    assert "app.oam.dev/revision" not in selector, "the Service sends to both revisions' pods"
    assert project.status()["front"]["waiting"].startswith("approve-50")

    project.config(approve="approve-50")
    up = project.up("50%")
    assert_converged(project, up)
    assert pods(ns) == {"front": (2, 2, "1"), "front-v2": (3, 3, "2")}
    assert up.finished_before_started(CANARY, STABLE)


def test_3_at_100_the_component_deployment_takes_the_new_revision(project: Project, ns: Kube):
    project.config(approve="approve-50,approve-rest")
    up = project.up("100%")
    assert_converged(project, up)
    assert pods(ns) == {"front": (5, 5, "2")}
    assert up.ops()[CANARY] == "delete"
    assert up.finished_before_started(STABLE, CANARY), "the other Deployment goes once the component's is Ready"
    assert project.status()["front"]["phase"] == "succeeded"


def test_4_rollback_in_the_middle_gives_the_stable_revision_every_pod_back(project: Project, ns: Kube):
    project.config(app="examples/shopfront-3.yaml", approve=None)
    assert_converged(project, project.up("v3 20%"))
    assert pods(ns) == {"front": (4, 4, "2"), "front-v3": (1, 1, "3")}
    project.config(rollback="true")
    up = project.up("rollback")
    assert_converged(project, up)
    assert pods(ns) == {"front": (5, 5, "2")}
    assert up.finished_before_started(STABLE, "shopfront-front-v3")
    assert project.status()["front"]["phase"] == "rolled back"
