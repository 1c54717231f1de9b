"""A pipeline with least privilege, end to end: the bookinfo tutorial deployed with the credentials of a service
account that `tools/cluster.sh kubeconfig-for default` makes (a Role in namespace default, no more), by the real
pulumi CLI against a real kube-apiserver whose RBAC decides. Then one verb goes from the Role: the next stage is
refused before anything changes, naming it, and pulumi destroy still works with those credentials."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Kube, Project, kubeconfig_for, make_project
from tests.e2e.test_tutorial import FIRST, ROLLOUT, assert_converged, state

DEPLOYER = "system:serviceaccount:oam-deployer:oam-deployer"
KINDS = "deployments,services,virtualservices.networking.istio.io,destinationrules.networking.istio.io," \
        "gateways.networking.istio.io"


@pytest.fixture(scope="module")
def deployer(pulumi_env, tmp_path_factory) -> Path:
    """The service account's kubeconfig (a file of its own, as a pipeline would keep it)."""
    path = tmp_path_factory.mktemp("deployer") / "kubeconfig"
    path.write_text(kubeconfig_for(pulumi_env, "default"))
    os.chmod(path, 0o600)
    yield path
    kubeconfig_for(pulumi_env, "default")  # the Role in full again, for whatever runs next


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory, deployer) -> Project:
    p = make_project(tmp_path_factory.mktemp("least-privilege") / "project", pulumi_env, "least-privilege")
    # The stack's provider and the program both connect with the service account; kubectl in the tests (and the
    # recording of every routing state) keep the cluster's admin credentials.
    p.pulumi("config", "set", "kubernetes:kubeconfig", str(deployer))
    yield p
    p.pulumi("destroy", "--yes", check=False)


def as_deployer(kube: Kube, deployer: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", str(deployer), *args], env=kube.env, capture_output=True,
                          text=True, timeout=60)


def resource_versions(kube: Kube) -> dict[str, str]:
    """kind/name -> resourceVersion of every object of the tutorial (any change moves it)."""
    items = kube.list(KINDS, "app.oam.dev/name=book-info")
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


def test_the_deployer_may_act_in_its_namespace_only(kube: Kube, deployer: Path):
    assert DEPLOYER in as_deployer(kube, deployer, "auth", "whoami").stdout
    for args, answer in ((("patch", "deployments", "-n", "default"), "yes"),
                         (("patch", "virtualservices.networking.istio.io", "-n", "default"), "yes"),
                         (("patch", "deployments", "-n", "kube-system"), "no"),
                         (("create", "namespaces"), "no"),
                         (("create", "clusterroles"), "no"),
                         (("*", "*", "--all-namespaces"), "no")):
        got = as_deployer(kube, deployer, "auth", "can-i", *args).stdout.strip()
        assert got == answer, f"can-i {' '.join(args)}: {got}"


def test_1_first_deploy_converges_with_the_deployer(project: Project, kube: Kube):
    project.config(app=FIRST)
    up = project.up("first-deploy as the deployer")
    assert_converged(project, up, kube)
    assert state(kube) == {"reviews-v1": (2, 2), "reviews-v2": None, "routes": {"reviews-v1": 100},
                           "subsets": ["reviews-v1"]}
    assert "may not" not in up.output and "could not" not in up.output, up.output


def test_2_ten_percent_converges_with_the_deployer(project: Project, kube: Kube):
    project.config(app=ROLLOUT)
    up = project.up("10% as the deployer")
    assert_converged(project, up, kube)
    assert state(kube) == {"reviews-v1": (1, 1), "reviews-v2": (1, 1),
                           "routes": {"reviews-v1": 90, "reviews-v2": 10}, "subsets": ["reviews-v1", "reviews-v2"]}
    assert "may not" not in up.output and "could not" not in up.output, up.output


def test_3_without_patch_on_virtualservices_the_next_stage_is_refused(project: Project, kube: Kube):
    role = json.loads(kube.kubectl("get", "role", "oam-deployer", "-n", "default", "-o", "json").stdout)
    rules = []
    for rule in role["rules"]:
        if "virtualservices" in rule.get("resources", ()):
            others = [r for r in rule["resources"] if r != "virtualservices"]
            if others:
                rules.append({**rule, "resources": others})
            rule = {**rule, "resources": ["virtualservices"], "verbs": [v for v in rule["verbs"] if v != "patch"]}
        rules.append(rule)
    kube.kubectl("patch", "role", "oam-deployer", "-n", "default", "--type=json", "-p",
                 json.dumps([{"op": "replace", "path": "/rules", "value": rules}]))
    assert as_deployer(kube, kube_deployer(project), "auth", "can-i", "patch", "virtualservices.networking.istio.io",
                       "-n", "default").stdout.strip() == "no"
    before = resource_versions(kube)
    project.config(approve="manual-approval")
    wanted = ("the credentials may not patch virtualservices.networking.istio.io in namespace 'default' (needed to "
              "apply VirtualService reviews")
    preview = project.pulumi("preview", check=False)
    assert preview.returncode != 0 and wanted in preview.stdout + preview.stderr, preview.stdout[-3000:]
    up = project.up("approval without patch on virtualservices")
    assert not up.ok
    assert wanted in up.output and "nothing was changed" in up.output, up.output
    assert not up.ops(), up.ops()  # the engine was given nothing to do
    assert resource_versions(kube) == before
    assert state(kube)["routes"] == {"reviews-v1": 90, "reviews-v2": 10}


def test_4_destroy_works_with_the_deployer(project: Project, kube: Kube):
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert kube.list(KINDS, "app.oam.dev/name=book-info") == []


def kube_deployer(project: Project) -> Path:
    return Path(project.pulumi("config", "get", "kubernetes:kubeconfig").stdout.strip())
