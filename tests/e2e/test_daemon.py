"""The daemon example deployed for real: pulumi up returns once the DaemonSet's pod on the node is Ready."""
from __future__ import annotations

import json

from tests.e2e.conftest import Kube, make_project

EXAMPLE = "examples/definitions/component-daemon.yaml"


def test_the_daemon_example_is_ready_when_pulumi_up_returns(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    project = make_project(tmp_path / "project", pulumi_env, "daemon")
    project.config(app=EXAMPLE)
    up = project.up()
    assert up.ok, up.output
    # What the provider awaited, read back at once: every scheduled pod of the current template Ready.
    ds = kube.get("daemonset", "log-agent")
    status = ds["status"]
    assert status["desiredNumberScheduled"] == 1, json.dumps(status)
    assert status["numberReady"] == status["updatedNumberScheduled"] == status["desiredNumberScheduled"]
    assert status["observedGeneration"] == ds["metadata"]["generation"]
    (pod,) = kube.list("pods", "app.oam.dev/component=log-agent")
    assert pod["metadata"]["labels"]["app.oam.dev/revision"] == "log-agent-v1"
    assert kube.get("service", "log-agent")["spec"]["selector"] == {"app.oam.dev/name": "logging",
                                                                     "app.oam.dev/component": "log-agent"}
    assert project.preview_no_changes().returncode == 0, "a second run changes nothing"
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert kube.get("daemonset", "log-agent") is None
