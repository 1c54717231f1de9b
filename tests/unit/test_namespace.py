"""The application's namespace: created when missing, kept when ours, left alone (with a warning) when not."""
from __future__ import annotations

import pytest

from oam import cluster
from tests.harness import run_stage

FIRST = "examples/bookinfo/first-deploy.yaml"
NS_KEY = "book-info-namespace"


def test_an_existing_namespace_is_left_alone():
    run = run_stage({"app": FIRST}, namespaces={"default": {"istio-injection": "enabled"}})
    assert run.error is None and NS_KEY not in run.resources


def test_a_missing_namespace_is_created_first_with_sidecar_injection():
    run = run_stage({"app": FIRST}, namespaces={"default": None})
    assert run.error is None
    ns = run.resources[NS_KEY]
    assert ns.inputs["metadata"]["name"] == "default"
    assert ns.inputs["metadata"]["labels"] == {"istio-injection": "enabled"}
    for name, res in run.resources.items():
        if res.type.startswith("kubernetes:") and name != NS_KEY:
            assert run.depends(name, NS_KEY), f"{name} is created before its namespace"
    # Ours from then on: kept (and never deleted by pulumi destroy: retainOnDelete), whatever the cluster says.
    again = run_stage({"app": FIRST}, run, namespaces={"default": {"istio-injection": "enabled"}})
    assert again.resources[NS_KEY].inputs == ns.inputs


def test_sidecar_injection_can_be_turned_off():
    run = run_stage({"app": FIRST, "sidecarInjection": "false"}, namespaces={"default": None})
    assert run.resources[NS_KEY].inputs["metadata"]["labels"] == {}


def test_sidecar_injection_must_be_a_boolean():
    run = run_stage({"app": FIRST, "sidecarInjection": "yes please"})
    assert "oam-delivery:sidecarInjection: must be true or false (got 'yes please')" in run.error


def test_kubeconfig_merging_and_exec_credentials(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("current-context: one\ncontexts: [{name: one, context: {cluster: c1, user: u1}}]\n"
                     "clusters: [{name: c1, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
                     "users: [{name: u1, user: {token: first}}]\n")
    second.write_text("current-context: two\ncontexts: [{name: two, context: {cluster: c1, user: u2}}]\n"
                      "users: [{name: u1, user: {token: shadowed}}, {name: u2, user: {exec: {command: "
                      "/bin/echo, args: ['{\"status\": {\"token\": \"from-exec\"}}']}}}]\n")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    server, _, headers = cluster._connection(None, None)
    assert server == "https://127.0.0.1:1" and headers["Authorization"] == "Bearer first"
    _, _, headers = cluster._connection(None, "two")
    assert headers["Authorization"] == "Bearer from-exec"
    with pytest.raises(cluster.ProbeError, match="no context 'three'"):
        cluster._connection(None, "three")
    # A closed port: the probe says it could not ask, it does not guess.
    with pytest.raises(cluster.ProbeError, match="cannot reach the API server"):
        cluster.namespace_labels("default", None, None, timeout=2)


def test_no_configuration_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(cluster.ProbeError, match="no kubeconfig"):
        cluster.namespace_labels("default")


def test_describe_names_the_context_and_server(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("current-context: prod\ncontexts: [{name: prod, context: {cluster: big, user: me}}]\n"
                      "clusters: [{name: big, cluster: {server: 'https://prod.example.com:6443'}}]\n"
                      "users: [{name: me, user: {token: t}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert cluster.describe() == "context 'prod' (server https://prod.example.com:6443)"
