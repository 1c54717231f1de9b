"""The traffic oracle on objects of our own: it sees the splits the files give, and every way a call fails.

Without these, a check of traffic that always passes would look the same as one that holds.
Each case starts from a stage's render (python -m oam render's objects, every replica a Ready
pod) and breaks one thing as a cluster or a wrong ordering would.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oam import traffic
from oam.config import StageConfig
from oam.model import read_application
from oam.render import plan
from oam.revisions import History

ROOT = Path(__file__).resolve().parents[2]
FIRST, ROLLOUT = "examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml"
V2 = "outbound|9080|reviews-v2|reviews.default.svc.cluster.local"


@pytest.fixture(scope="module")
def canary(judge) -> list[dict]:
    """The tutorial's 10% stage as the cluster has it once applied."""
    history = plan(read_application(ROOT / FIRST, FIRST), History(), StageConfig(app=FIRST)).resolution.history
    stage = plan(read_application(ROOT / ROLLOUT, ROLLOUT), history, StageConfig(app=ROLLOUT))
    return traffic.rendered_objects([d.manifest for d in stage.objects], "default")


def _answer(judge, objects: list[dict]) -> dict:
    return traffic.run(objects, "default", binary=judge.binary)


def _reviews(answer: dict) -> traffic.Call:
    (call,) = [c for c in traffic.calls(answer) if c.caller == "mesh" and c.host == "reviews"]
    return call


def test_the_split_the_file_gives(judge, canary):
    answer = _answer(judge, canary)
    assert traffic.problems(answer) == []
    call = _reviews(answer)
    assert call.split() == {"reviews-v1": 90, "reviews-v2": 10}
    assert call.virtual_service == "default/reviews"
    assert [c["ready"] for c in call.clusters] == [1, 1]
    gateway = [c for c in traffic.calls(answer) if c.caller == "gateway" and not c.probe]
    assert {c.path for c in gateway} == {"/productpage", "/static", "/login", "/api/v1/products"}
    assert all(c.split() == {"productpage": 100} for c in gateway)


def test_a_weight_on_pods_that_are_not_ready(judge, canary):
    # As a failing probe leaves them: the pod's Ready condition False, and its endpoint not ready in the slice.
    objects = [dict(o) for o in canary]
    unready = set()
    for i, o in enumerate(objects):
        if o["kind"] == "Pod" and o["metadata"]["labels"].get("app.oam.dev/revision") == "reviews-v2":
            objects[i] = {**o, "status": {**o["status"], "conditions": [{"type": "Ready", "status": "False"}]}}
            unready.add(o["metadata"]["name"])
    for i, o in enumerate(objects):
        if o["kind"] == "EndpointSlice":
            objects[i] = {**o, "endpoints": [{**e, "conditions": {"ready": e["targetRef"]["name"] not in unready}}
                                             for e in o["endpoints"]]}
    assert traffic.problems(_answer(judge, objects)) == [
        f"mesh reviews:9080/: weight 10 on {V2}, which has no Ready endpoint (503 UH)"]


def test_a_route_to_a_subset_no_rule_defines(judge, canary):
    objects = []
    for o in canary:
        if o["kind"] == "DestinationRule" and o["metadata"]["name"] == "reviews":
            o = {**o, "spec": {**o["spec"], "subsets": [s for s in o["spec"]["subsets"] if s["name"] != "reviews-v2"]}}
        objects.append(o)
    answer = _answer(judge, objects)
    assert _reviews(answer).outcome == "no-cluster"
    assert traffic.problems(answer) == [f"mesh reviews:9080/: weight 10 on {V2}, which does not exist (503 NC)"]


def test_a_gateway_route_whose_path_matches_nothing(judge, canary):
    objects = []
    for o in canary:
        if o["kind"] == "VirtualService" and o["metadata"]["name"] == "productpage-gateway":
            http = [{**h, "match": [{"uri": {"exact": "/elsewhere"}}]} for h in o["spec"]["http"]]
            o = {**o, "spec": {**o["spec"], "http": http}}
        objects.append(o)
    answer = _answer(judge, objects)
    # /elsewhere is routed; the old paths are no longer called (no route names them), "/" finds no route as
    # configured: nothing fails, and the report shows where the gateway sends what.
    assert traffic.problems(answer) == []
    assert any(line.startswith("anyhost.example:80 /elsewhere  gateway: productpage 100%")
               for line in traffic.report(answer))


def test_the_command_prints_who_gets_what(judge):
    env = {**os.environ, traffic.ORACLE_ENV: judge.binary}
    proc = subprocess.run([sys.executable, "-m", "oam", "traffic", ROLLOUT, "--after", FIRST], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "reviews.default:9080  mesh: reviews-v1 90% (1 Ready), reviews-v2 10% (1 Ready)" in proc.stdout.splitlines()
    approved = subprocess.run([sys.executable, "-m", "oam", "traffic", ROLLOUT, "--after", FIRST, "--approve",
                               "manual-approval"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "reviews.default:9080  mesh: reviews-v2 100% (2 Ready)" in approved.stdout.splitlines()


def test_without_the_oracle_the_command_says_how_to_build_it():
    env = {**os.environ, traffic.ORACLE_ENV: "/nonexistent/oam-traffic"}
    proc = subprocess.run([sys.executable, "-m", "oam", "traffic", FIRST], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "is not an executable file" in proc.stderr
    env.pop(traffic.ORACLE_ENV)
    env["OAM_TOOLS_CACHE"] = str(ROOT / "nonexistent-cache")
    proc = subprocess.run([sys.executable, "-m", "oam", "traffic", FIRST], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "bash tools/build-traffic.sh" in proc.stderr
