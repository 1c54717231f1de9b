"""Workflow steps run in order: the pods of what a later step deploys are created or changed once the pods of what
earlier steps deployed are Ready (KubeVela's apply-component and deploy wait for the component to be healthy before
the next step starts). Under Pulumi's mocks."""
from __future__ import annotations

from pathlib import Path

from tests.harness import ROOT, StageRun, run_stage

TWO_STEPS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: store
spec:
  components:
    - name: db
      type: webservice{db_depends}
      properties:
        image: registry.example.com/store/db:1
        port: 5432
    - name: api
      type: webservice
      properties:
        image: registry.example.com/store/api:{api}
        port: 8080
  workflow:
    steps:
      - name: database
        type: apply-component
        properties:
          component: db
      - name: service
        type: apply-component
        properties:
          component: api
"""
DB, API = "store-db-deployment", "store-api-deployment"


def two_steps(tmp_path: Path, api: int = 1, db_depends: str = "") -> str:
    path = tmp_path / f"store-{api}.yaml"
    path.write_text(TWO_STEPS.format(api=api, db_depends=db_depends))
    return str(path)


def ok(run: StageRun) -> StageRun:
    assert run.error is None, run.error
    return run


def test_a_later_step_waits_for_the_pods_of_an_earlier_one(tmp_path):
    run = ok(run_stage({"app": two_steps(tmp_path)}))
    assert run.depends(API, DB)
    assert not run.depends(DB, API)


def test_when_an_earlier_step_fails_a_later_one_changes_nothing(tmp_path):
    run = run_stage({"app": two_steps(tmp_path)}, fail=(DB,))
    assert run.error is not None and DB in run.failed
    assert API not in run.resources, "the later step's Deployment was never applied"


def test_an_earlier_step_that_does_not_change_is_read_when_a_later_one_does(tmp_path):
    first = ok(run_stage({"app": two_steps(tmp_path)}))
    same = ok(run_stage({"app": two_steps(tmp_path)}, first, pods={("Deployment", "db"): (0, 1, False)}))
    assert same.read == [], "nothing changes: nothing waits"
    changed = run_stage({"app": two_steps(tmp_path, api=2), "readyTimeout": "1s"}, first,
                        pods={("Deployment", "db"): (0, 1, False)})
    assert changed.error is not None and set(changed.read) == {("Deployment", "db")}
    assert "db: 0/1 pods Ready" in changed.error and changed.resources == {}


def test_the_sub_steps_of_a_step_group_run_together():
    run = ok(run_stage({"app": str(ROOT / "examples/definitions/step-step-group.yaml")}))
    assert not run.depends("store-mailer-deployment", "store-api-deployment")
    assert not run.depends("store-api-deployment", "store-mailer-deployment")


def test_production_waits_for_staging():
    app = str(ROOT / "examples/definitions/step-deploy.yaml")
    staged = ok(run_stage({"app": app}))
    both = ok(run_stage({"app": app, "approve": "to-production"}, staged))
    assert both.depends("web-production-frontend-deployment", "web-staging-frontend-deployment")
    assert both.read == [("Deployment", "frontend")], "staging does not change: its pods are read"


def test_a_dependency_on_a_later_step_decides_over_the_order_of_the_steps(tmp_path):
    """db dependsOn api, which a later step deploys: the pods cannot wait for each other; dependsOn decides."""
    run = ok(run_stage({"app": two_steps(tmp_path, db_depends="\n      dependsOn: [api]")}))
    assert run.depends(DB, API) and not run.depends(API, DB)


def test_without_steps_that_deploy_components_go_together():
    run = ok(run_stage({"app": str(ROOT / "examples/shop/v1.yaml")}))
    deployments = [n for n, r in run.resources.items() if r.inputs.get("kind") == "Deployment"]
    assert len(deployments) >= 3
    for a in deployments:
        for b in deployments:
            assert a == b or not run.depends(a, b), (a, b)


def test_the_message_says_an_earlier_step_deployed_what_it_waits_for(tmp_path):
    first = ok(run_stage({"app": two_steps(tmp_path)}))
    changed = run_stage({"app": two_steps(tmp_path, api=2), "readyTimeout": "1s"}, first,
                        pods={("Deployment", "db"): (0, 1, False)})
    assert "db: 0/1 pods Ready, and an earlier workflow step deployed 'db', and this stage changes Deployment api " \
           "of 'api', which a later step deploys" in changed.error, changed.error


def test_what_waits_for_an_object_made_once_waits_for_the_one_kept():
    """Two placements that make one object (one naming its own namespace, where neither moves it) keep the first
    rendering: edges and readings that named the other go to it."""
    from oam.render import _once
    from oam.kit.stage import Desired

    def deployment(key: str) -> Desired:
        return Desired(key, "agent", "deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                    "metadata": {"name": "agent", "namespace": "shared"}})

    first, second = deployment("a-staging-agent"), deployment("a-production-agent")
    api = Desired("a-canary-api", "api", "deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                       "metadata": {"name": "api", "namespace": "canary"}},
                  depends_on=[first.key, second.key], ready_first=(first.key, second.key))
    second.ready_first = (first.key,)
    kept = _once([first, second, api])
    assert [d.key for d in kept] == [first.key, api.key]
    assert api.depends_on == [first.key] and api.ready_first == (first.key,)


def test_the_message_names_the_namespaces_of_staging_and_production():
    app = str(ROOT / "examples/definitions/step-deploy.yaml")
    staged = ok(run_stage({"app": app}))
    both = run_stage({"app": app, "approve": "to-production", "readyTimeout": "1s"}, staged,
                     pods={("Deployment", "frontend"): (0, 1, False)})
    assert "frontend in namespace staging: 0/1 pods Ready, and an earlier workflow step deployed 'frontend', and " \
           "this stage changes Deployment frontend in namespace production of 'frontend'" in both.error, both.error


MIGRATE = TWO_STEPS.format(api=1, db_depends="").replace("      - name: service\n", """      - name: migrate
        type: apply-object
        properties:
          value:
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: migrate
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers:
                    - name: migrate
                      image: registry.example.com/store/migrate:1
      - name: service
""")


def test_an_object_a_step_applies_itself_takes_its_place_in_the_order(tmp_path):
    """A migration Job written in full between the database and the service: it starts once the database's pods
    are Ready, and the service's pods once it is complete (the provider waits for a Job to complete)."""
    path = tmp_path / "migrate.yaml"
    path.write_text(MIGRATE)
    run = ok(run_stage({"app": str(path)}))
    assert run.depends("store-job-migrate", DB)
    assert run.depends(API, "store-job-migrate") and run.depends(API, DB)
    assert not run.depends(DB, "store-job-migrate")
