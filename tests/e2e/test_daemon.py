"""The daemon example deployed for real: pulumi up returns once the DaemonSet's pod on the node is Ready.

This module runs a cluster of its own (not the session's shared one), stopped when it ends.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Kube, make_project, start_cluster, stop_cluster, with_pulumi

EXAMPLE = "examples/definitions/component-daemon.yaml"


@pytest.fixture(scope="module")
def cluster_env():
    state = Path(tempfile.mkdtemp(prefix="oam-daemon-cluster-"))
    env = start_cluster(state)
    yield env
    stop_cluster(env)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def pulumi_env(cluster_env, tmp_path_factory):
    return with_pulumi(cluster_env, tmp_path_factory.mktemp("pulumi-home"), tmp_path_factory.mktemp("pulumi-state"))


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
