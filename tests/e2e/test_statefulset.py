"""The statefulset example deployed for real: pulumi up returns once every pod of the current template is Ready,
and a new image updates the same StatefulSet (its pods replaced one by one), never replaces it."""
from __future__ import annotations

import json

from tests.e2e.conftest import Kube, make_project

EXAMPLE = "examples/definitions/component-statefulset.yaml"


def settled(sts: dict) -> None:
    """What pulumi up awaited, read back at once: every wanted pod on the current template and Ready."""
    status = sts["status"]
    assert status["observedGeneration"] == sts["metadata"]["generation"], json.dumps(status)
    assert status["replicas"] == status["readyReplicas"] == status["updatedReplicas"] == 2, json.dumps(status)
    assert status["currentRevision"] == status["updateRevision"], json.dumps(status)


def test_the_statefulset_example_is_ready_and_a_new_image_updates_it_in_place(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "statefulset")
    project.config(app=EXAMPLE)
    up = project.up()
    assert up.ok, up.output
    sts = kube.get("statefulset", "cache")
    settled(sts)
    assert not sts["spec"].get("serviceName"), "KubeVela's statefulset names no governing Service"
    pods = kube.list("pods", "app.oam.dev/component=cache")
    assert sorted(p["metadata"]["name"] for p in pods) == ["cache-0", "cache-1"]
    assert kube.get("service", "cache")["spec"]["selector"] == {"app.oam.dev/name": "session-store",
                                                                "app.oam.dev/component": "cache"}
    assert project.preview_no_changes().returncode == 0, "a second run changes nothing"

    newer = project.dir / "examples" / "definitions" / "statefulset-newer.yaml"
    newer.write_text((project.dir / EXAMPLE).read_text().replace("redis:7.4", "redis:7.4.1"))
    project.config(app="examples/definitions/statefulset-newer.yaml")
    up = project.up("new image")
    assert up.ok, up.output
    assert up.ops()["session-store-cache-statefulset"] == "update", up.ops()
    after = kube.get("statefulset", "cache")
    assert after["metadata"]["uid"] == sts["metadata"]["uid"], "the same StatefulSet, not a new one"
    settled(after)
    pods = kube.list("pods", "app.oam.dev/component=cache")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"docker.io/library/redis:7.4.1"}
    assert {p["metadata"]["labels"]["app.oam.dev/revision"] for p in pods} == {"cache-v2"}
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert kube.get("statefulset", "cache") is None
