"""canary-deploy: a release in place, a share of the pods at a time, with no controller in the cluster.

The component's Deployment keeps the stable revision; the new one runs its share beside it
in a Deployment of its own, and at 100% the component's Deployment takes the new revision.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import StageRun, run_stage

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: web
spec:
  components:
    - name: frontend
      type: webservice
      properties:
        image: registry.example.com/frontend:{tag}
        ports:
          - port: 8080
            expose: true
      traits:
        - type: scaler
          properties:
            replicas: 5
{traits}    - name: cache
      type: worker
      properties:
        image: registry.example.com/cache:{tag}
  workflow:
    steps:
      - name: rollout-20
        type: canary-deploy
        properties:
          weight: 20
{components}      - name: approve-50
        type: suspend
      - name: rollout-50
        type: canary-deploy
        properties:
          weight: 50
{components}      - name: approve-rest
        type: suspend
      - name: rollout-100
        type: canary-deploy
        properties:
          weight: {last}
{components}"""
BOTH = ["approve-50", "approve-rest"]


def write(tmp: Path, tag: str, traits: str = "", components: str = "", last: int = 100, name: str = "") -> str:
    path = tmp / (name or f"app-{tag}.yaml")
    path.write_text(APP.format(tag=tag, traits=traits, components=components, last=last))
    return str(path)


def ok(config: dict, previous: StageRun | None = None) -> StageRun:
    run = run_stage(config, previous)
    assert run.error is None, run.error
    return run


def deployments(run: StageRun) -> dict[str, tuple]:
    """key -> (name, replicas, image tag, selector has the revision label)."""
    out = {}
    for key, r in run.of_kind("Deployment").items():
        spec = r.inputs["spec"]
        image = spec["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        out[key] = (r.inputs["metadata"]["name"], spec["replicas"], image,
                    "app.oam.dev/revision" in spec["selector"]["matchLabels"])
    return out


def released(tmp: Path) -> StageRun:
    """Version 1 deployed through its whole workflow (a first release goes to every pod at once)."""
    v1 = write(tmp, "1")
    first = ok({"app": v1})
    assert deployments(first)["web-frontend-deployment"] == ("frontend", 5, "1", False)
    return ok({"app": v1, "approve": BOTH}, first)


def test_a_release_walks_in_place_and_the_component_deployment_takes_the_new_revision(tmp_path):
    v2 = write(tmp_path, "2")
    start = released(tmp_path)
    at20 = ok({"app": v2}, start)
    assert deployments(at20) == {"web-frontend-deployment": ("frontend", 4, "1", False),
                                 "web-frontend-v2": ("frontend-v2", 1, "2", True),
                                 # 20% of one pod, rounded up, is all of it: cache's Deployment takes v2 now.
                                 "web-cache-deployment": ("cache", 1, "2", False)}
    # The new pods come up before the stable ones go; the Service selects both.
    assert at20.depends("web-frontend-deployment", "web-frontend-v2")
    selector = at20.manifest("web-frontend-service")["spec"]["selector"]
    assert "app.oam.dev/revision" not in selector
    at50 = ok({"app": v2, "approve": "approve-50"}, at20)
    assert deployments(at50)["web-frontend-deployment"] == ("frontend", 2, "1", False)
    assert deployments(at50)["web-frontend-v2"] == ("frontend-v2", 3, "2", True), "50% of 5 pods, rounded up"
    done = ok({"app": v2, "approve": BOTH}, at50)
    assert deployments(done) == {"web-frontend-deployment": ("frontend", 5, "2", False),
                                 "web-cache-deployment": ("cache", 1, "2", False)}
    assert "web-frontend-v2" not in done.resources, "the new revision's own Deployment goes once it has every pod"
    status = done.outputs["status"]["frontend"]
    assert status["revisions"] == {"frontend-v2": {"image": "registry.example.com/frontend:2", "replicas": 5}}
    assert status["phase"] == "succeeded"
    again = ok({"app": v2, "approve": BOTH}, done)
    assert deployments(again) == deployments(done)


def test_rollback_gives_the_component_deployment_every_pod_back(tmp_path):
    v2 = write(tmp_path, "2")
    at50 = ok({"app": v2, "approve": "approve-50"}, ok({"app": v2}, released(tmp_path)))
    back = ok({"app": v2, "approve": "approve-50", "rollback": True}, at50)
    assert deployments(back)["web-frontend-deployment"] == ("frontend", 5, "1", False)
    assert "web-frontend-v2" not in back.resources
    assert back.outputs["status"]["frontend"]["phase"] == "rolled back"


def test_the_next_release_starts_from_the_revision_the_last_one_finished_with(tmp_path):
    v2, v3 = write(tmp_path, "2"), write(tmp_path, "3")
    done = ok({"app": v2, "approve": BOTH}, ok({"app": v2}, released(tmp_path)))
    at20 = ok({"app": v3}, done)
    assert deployments(at20)["web-frontend-deployment"] == ("frontend", 4, "2", False)
    assert deployments(at20)["web-frontend-v3"] == ("frontend-v3", 1, "3", True)


def test_components_limits_the_release_to_the_components_named(tmp_path):
    only = "          components: [frontend]\n"
    v1, v2 = write(tmp_path, "1", components=only), write(tmp_path, "2", components=only)
    start = ok({"app": v1, "approve": BOTH}, ok({"app": v1}))
    at20 = deployments(ok({"app": v2}, start))
    assert at20["web-frontend-v2"] == ("frontend-v2", 1, "2", True)
    assert at20["web-cache-deployment"] == ("cache", 1, "2", False), "cache is deployed as it is, at once"
    assert "web-cache-v2" not in at20


def test_with_canary_traffic_istio_weighs_the_traffic_exactly(tmp_path):
    traits = "        - type: canary-traffic\n          properties:\n            port: [8080]\n"
    only = "          components: [frontend]\n"
    v1 = write(tmp_path, "1", traits=traits, components=only)
    v2 = write(tmp_path, "2", traits=traits, components=only)
    at20 = ok({"app": v2}, ok({"app": v1, "approve": BOTH}, ok({"app": v1})))
    vs = at20.manifest("web-frontend-virtualservice")
    weights = {r["destination"]["subset"]: r["weight"] for r in vs["spec"]["http"][0]["route"]}
    assert weights == {"frontend-v1": 80, "frontend-v2": 20}
    subsets = at20.manifest("web-frontend-destinationrule")["spec"]["subsets"]
    assert {s["name"]: s["labels"]["app.oam.dev/revision"] for s in subsets} == {"frontend-v1": "frontend-v1",
                                                                                 "frontend-v2": "frontend-v2"}
    pod = at20.manifest("web-frontend-deployment")["spec"]["template"]["metadata"]["labels"]
    assert pod["app.oam.dev/revision"] == "frontend-v1", "the stable pods are in the stable subset"
    assert at20.depends("web-frontend-virtualservice", "web-frontend-v2")


def test_a_plain_component_that_gains_canary_deploy_keeps_its_deployment(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(APP.format(tag="1", traits="", components="", last=100).split("  workflow:")[0])
    before = ok({"app": str(plain)})
    after = ok({"app": write(tmp_path, "1")}, before)
    old, new = before.manifest("web-frontend-deployment"), after.manifest("web-frontend-deployment")
    assert old["spec"]["selector"] == new["spec"]["selector"], "an immutable selector change would replace it"
    assert old == new


def test_rolling_release_on_its_own_stops_at_its_weight(tmp_path):
    traits = "        - type: rolling-release\n          properties:\n            weight: 40\n"
    v1 = tmp_path / "v1.yaml"
    v1.write_text(APP.format(tag="1", traits=traits, components="", last=100).split("  workflow:")[0])
    v2 = tmp_path / "v2.yaml"
    v2.write_text(v1.read_text().replace(":1", ":2"))
    run = ok({"app": str(v2)}, ok({"app": str(v1)}))
    assert deployments(run)["web-frontend-deployment"] == ("frontend", 3, "1", False)
    assert deployments(run)["web-frontend-v2"] == ("frontend-v2", 2, "2", True)


@pytest.mark.parametrize("change, message, line", [
    (dict(last=50), "the workflow ends its release of 'frontend' at 50%, with two revisions running", 39),
    (dict(components="          components: [frontnd]\n"), "'frontnd' is not a component of", 42),
    (dict(traits="        - type: rollout\n          properties:\n            targetSize: 5\n"
                 "            rolloutBatches: [{replicas: 5}]\n"), "has a rollout trait", 18),
    (dict(last=120), "weight", None),
])
def test_bad_input_names_the_file_line_and_field(tmp_path, change, message, line):
    path = write(tmp_path, "1", **change)
    run = run_stage({"app": path})
    assert run.error is not None and message in run.error, run.error
    if line is not None:
        assert f"app-1.yaml:{line}:" in run.error, run.error
    assert not run.resources, "nothing is changed"
