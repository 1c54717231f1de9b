"""The pre-flight check of what the credentials may do: before anything is registered, each cluster's API server
is asked (once per namespace) what the credentials may do there, and a stage that needs more is refused, naming the
verb, the resource, the namespace (and the cluster) and what needs it."""
from __future__ import annotations

import re

import pytest

from oam import access, preflight
from oam.cluster import ProbeError, permits
from tests.harness import ROOT, StageRun, run_stage
from tests.unit.test_clusters import APP as CLUSTERS_APP, CLUSTERS

FIRST = "examples/bookinfo/first-deploy.yaml"
ROLLOUT = "examples/bookinfo/rollout-v2.yaml"
ROLLBACK = "examples/bookinfo/rollback.yaml"
ISTIO = "networking.istio.io"


def role_of_kubeconfig_for() -> list[dict]:
    """The rules of the Role that tools/cluster.sh kubeconfig-for grants in each namespace."""
    import yaml

    script = (ROOT / "tools" / "cluster.sh").read_text()
    body = re.search(r"deployer_role_rules\(\) \{\n  cat <<'EOF'\n(.*?)\nEOF\n", script, re.S).group(1)
    return yaml.safe_load(body)["rules"]


def without(rules: list[dict], verb: str, group: str, resource: str) -> list[dict]:
    """``rules`` less one verb on one resource (the other resources of its rule keep it)."""
    out = []
    for rule in rules:
        if verb in rule["verbs"] and group in rule["apiGroups"] and resource in rule["resources"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                out.append({**rule, "resources": others})
            out.append({**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]})
        else:
            out.append(rule)
    return out


@pytest.fixture(scope="module")
def tutorial() -> dict[str, StageRun]:
    """The tutorial's stages, each with exactly the Role kubeconfig-for grants in namespace default."""
    role = {"default": role_of_kubeconfig_for()}
    runs = {"first": run_stage({"app": FIRST}, access=role)}
    runs["canary"] = run_stage({"app": ROLLOUT}, runs["first"], access=role)
    runs["approved"] = run_stage({"app": ROLLOUT, "approve": "manual-approval"}, runs["canary"], access=role)
    runs["rollback"] = run_stage({"app": ROLLBACK, "approve": "manual-approval"}, runs["approved"], access=role)
    return runs


def test_the_role_kubeconfig_for_grants_is_enough_for_every_tutorial_stage(tutorial):
    for name, run in tutorial.items():
        assert run.error is None, f"{name}: {run.error}"
        assert run.asked_access == [(None, "default")], name  # one review, for the one namespace
        assert not [m for level, m in run.logs if level == "warn" and "credentials" in m], name


def test_a_missing_verb_refuses_the_stage_before_anything_is_registered(tutorial):
    rules = without(role_of_kubeconfig_for(), "patch", ISTIO, "virtualservices")
    run = run_stage({"app": ROLLOUT, "approve": "manual-approval"}, tutorial["canary"], access={"default": rules})
    assert run.error is not None
    assert run.error.startswith("the credentials may not patch virtualservices.networking.istio.io in namespace "
                                "'default' (needed to apply VirtualService reviews): nothing was changed"), run.error
    assert "docs/least-privilege.md" in run.error
    assert run.resources == {} and run.registered == []  # no resource, not even the failed status
    assert run.tried == [] and run.read == []  # nor asked the API server anything else
    assert run.outputs == tutorial["canary"].outputs  # the stack keeps its record


def test_a_new_object_needs_create_and_the_provider_s_await_needs_watch():
    rules = without(without(role_of_kubeconfig_for(), "create", "apps", "deployments"), "watch", "apps",
                    "deployments")
    run = run_stage({"app": FIRST}, access={"default": rules})
    assert run.error.startswith("the credentials may not create or watch deployments.apps in namespace 'default' "
                                "(needed to create Deployment reviews-v1, wait for Deployment reviews-v1 to be ready "
                                "and 6 more): nothing was changed"), run.error
    assert run.resources == {}


def test_a_stage_that_deletes_needs_delete(tutorial):
    rules = without(role_of_kubeconfig_for(), "delete", ISTIO, "destinationrules")
    run = run_stage({"app": ROLLBACK, "approve": "manual-approval"}, tutorial["approved"], access={"default": rules})
    assert "may not delete destinationrules.networking.istio.io in namespace 'default' (needed to delete " \
           "DestinationRule reviews" in run.error, run.error
    assert run.resources == {}


def test_the_namespace_probe_is_checked_first():
    rules = without(role_of_kubeconfig_for(), "get", "", "namespaces")
    run = run_stage({"app": FIRST}, access={"default": rules})
    assert run.error.startswith("the credentials may not get namespaces named 'default' (needed to read whether "
                                "namespace default exists)"), run.error
    assert run.resources == {}


def test_a_namespace_the_stack_creates_needs_rules_that_hold_there(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text((ROOT / FIRST).read_text().replace("  namespace: default\n", "  namespace: shop\n", 1))
    # The namespace does not exist: no Role can be bound there yet, only cluster-wide rules hold.
    run = run_stage({"app": str(app)}, namespaces={"shop": None},
                    access={"shop": [{"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces"]}]})
    assert "the credentials may not create or patch namespaces named 'shop' (needed to create Namespace shop)" \
           in run.error, run.error
    assert "may not list, create, patch or watch deployments.apps in namespace 'shop'" in run.error
    assert run.resources == {}


def test_everything_allowed_goes_on_as_before(tutorial):
    run = run_stage({"app": ROLLOUT}, tutorial["first"])
    assert run.error is None
    assert run.resources.keys() == tutorial["canary"].resources.keys()


def test_a_check_that_cannot_be_asked_warns_and_goes_on():
    for answer, why in ((None, "the API server does not serve SelfSubjectRulesReview"),
                        (ProbeError("the API server answered 500"), "the API server answered 500")):
        run = run_stage({"app": FIRST}, access={"default": answer})
        assert run.error is None
        assert ("warn", f"could not ask the API server what its credentials may do ({why}); the stage goes on "
                        "without that check") in run.logs
        assert run.resources


def test_rules_the_server_cannot_list_in_full_are_asked_one_by_one(monkeypatch):
    monkeypatch.setattr(access.Access, "ask", _incomplete_ask)
    rules = without(role_of_kubeconfig_for(), "patch", "", "services")
    run = run_stage({"app": FIRST}, access={"default": rules})
    assert run.error.startswith("the credentials may not patch services in namespace 'default' (needed to create "
                                "Service "), run.error
    assert len(run.asked_may) == len(set(run.asked_may))  # each asked once
    assert (None, "create", "apps", "deployments", "default", "reviews-v1") in run.asked_may
    assert run.resources == {}


def _incomplete_ask(self, wheres) -> None:
    """As an API server whose authorizers cannot list every rule (a webhook) answers: nothing listed, incomplete."""
    for where in wheres:
        if where[1]:
            self.rules[where] = ([], True)


def test_another_cluster_is_named(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text(CLUSTERS_APP.format(tag="v1", staging="        clusters: [staging]", canary=""))
    rules = [{"verbs": ["get", "list", "watch", "create", "delete"], "apiGroups": ["*"], "resources": ["*"]}]
    run = run_stage({"app": str(app), "clusters": CLUSTERS, "approve": "deploy-prod"},
                    access={("prod", "shop"): rules})
    assert run.error.startswith("the credentials of cluster 'prod' may not patch "), run.error
    assert ("the credentials of cluster 'prod' may not patch deployments.apps in namespace 'shop' (needed to create "
            "Deployment web-v1); ") in run.error
    assert "cluster 'staging'" not in run.error
    assert sorted(run.asked_access) == [("prod", "shop"), ("staging", "shop")]
    assert run.resources == {}


@pytest.mark.parametrize("rule, request_, allowed", [
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, ("delete", "apps", "deployments", "x"), True),
    ({"verbs": ["patch"], "apiGroups": [ISTIO], "resources": ["virtualservices"]}, ("patch", ISTIO,
                                                                                    "virtualservices", "r"), True),
    ({"verbs": ["patch"], "apiGroups": [ISTIO], "resources": ["virtualservices"]}, ("patch", "", "services", "r"),
     False),
    ({"verbs": ["patch"], "apiGroups": [""], "resources": ["services"]}, ("patch", "apps", "services", "r"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["shop"]},
     ("get", "", "namespaces", "shop"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["shop"]},
     ("get", "", "namespaces", "default"), False),
    ({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
     ("list", "", "pods", None), False),
])
def test_rules_match_as_rbac_matches_them(rule, request_, allowed):
    assert permits([rule], *request_) is allowed


def test_the_documented_role_is_the_one_kubeconfig_for_grants():
    doc = (ROOT / "docs" / "least-privilege.md").read_text()
    import yaml

    block = re.search(r"```yaml\n(kind: Role\n.*?)```", doc, re.S).group(1)
    assert yaml.safe_load(block)["rules"] == role_of_kubeconfig_for()


def test_needs_of_the_ten_percent_stage(tutorial):
    from oam.kit.applied import Applied
    from oam.config import StageConfig
    from oam.model import read_application
    from oam.render import plan
    from oam.revisions import History

    history = History.from_json(tutorial["first"].state)
    applied = Applied()
    for name, r in tutorial["first"].resources.items():
        if r.inputs.get("kind"):
            applied.add(name, r.inputs)
    app = read_application(ROOT / ROLLOUT, ROLLOUT)
    stage = plan(app, history, StageConfig(app=ROLLOUT), applied=applied)
    preflight.mark_owner(stage, applied, history.owner)  # as run() marks them before it asks
    needs = {(n.verb, n.what, n.name) for n in access.needed_access(stage, applied, history.tried)}
    assert ("create", "deployments.apps", "reviews-v2") in needs and ("patch", "deployments.apps", "reviews-v1") in needs
    assert ("patch", "virtualservices.networking.istio.io", "reviews") in needs
    assert ("list", "pods", None) in needs and ("list", "endpointslices.discovery.k8s.io", None) in needs
    assert not {n for n in needs if n[1] == "services"}  # the Services stay as they are: nothing asked
    assert not {n for n in needs if n[0] == "delete"}


def test_the_tutorial_needs_only_the_rules_of_its_kinds_and_of_its_waits():
    """As docs/least-privilege.md says: the first four rules, list on pods and on endpointslices."""
    rules = role_of_kubeconfig_for()[:4] + [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]}]
    run = run_stage({"app": FIRST}, access={"default": rules})
    for config in ({"app": ROLLOUT}, {"app": ROLLOUT, "approve": "manual-approval"},
                   {"app": ROLLBACK, "approve": "manual-approval"}):
        assert run.error is None, run.error
        run = run_stage(config, run, access={"default": rules})
    assert run.error is None, run.error


def test_a_role_and_its_binding_made_together_need_bind(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text((ROOT / "examples" / "definitions" / "trait-service-account.yaml").read_text())
    rbac = [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings", "clusterroles",
                                                                        "clusterrolebindings"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]}]
    run = run_stage({"app": str(app)}, access={"default": role_of_kubeconfig_for() + rbac, "": rbac})
    assert "may not bind roles.rbac.authorization.k8s.io in namespace 'default' (needed to try RoleBinding " \
           "frontend before its Role frontend exists)" in run.error, run.error
    run = run_stage({"app": str(app)}, access={"default": role_of_kubeconfig_for() + rbac + [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]}], "": []})
    assert run.error.startswith("the credentials may not list, create or patch clusterroles.rbac.authorization.k8s.io "
                                "(needed to check that no one else holds ClusterRole "), run.error  # scope: cluster
    assert ("may not list, create or patch clusterrolebindings.rbac.authorization.k8s.io (needed to check that no one "
            "else holds ClusterRoleBinding ") in run.error
    assert {(verb, resource) for _, verb, _, resource, namespace, _ in run.asked_may} == {
        (verb, resource) for verb in ("list", "create", "patch") for resource in ("clusterroles", "clusterrolebindings")}
