"""Workflow steps run in order on the real engine and cluster: a step's pods are applied once the pods of the steps
before it are Ready. Before, both apply-component steps of a stage were applied at once: the later component was
created although the earlier one's pods never got Ready."""
from __future__ import annotations

from tests.e2e.conftest import Kube, make_project
from tests.unit import test_step_order as unit

NS = "ordered"


def test_a_later_step_is_applied_once_the_earlier_one_is_ready(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace=NS)
    project = make_project(tmp_path / "project", pulumi_env, "ordered")
    app = project.dir / "examples" / "store.yaml"
    text = unit.TWO_STEPS.replace("  name: store\n", f"  name: store\n  namespace: {NS}\n", 1)
    app.write_text(text.format(api=1, db_depends=""))
    project.config(app="examples/store.yaml", readyTimeout="5s")
    kube.hold_new_pods()
    try:
        up = project.up("db never Ready")
    finally:
        kube.release_new_pods()
    assert not up.ok
    assert "store-db-deployment" in up.output, up.output
    assert kube.get("deployment", "db") is not None
    assert kube.get("deployment", "api") is None, "the later step was not applied"

    up = project.up("db Ready")
    assert up.ok, up.output
    assert kube.ready("api") == (1, 1)
    assert up.ops() == {"store-db-deployment": "update", "store-api-deployment": "create"}, up.ops()
    assert up.finished_before_started("store-db-deployment", "store-api-deployment")
    project.pulumi("destroy", "--yes")


def test_a_migration_job_between_two_steps_runs_once_the_first_is_ready(pulumi_env, tmp_path):
    project = make_project(tmp_path / "project", pulumi_env, "ordered-job")
    app = project.dir / "examples" / "store.yaml"
    app.write_text(unit.MIGRATE.replace("  name: store\n", f"  name: store\n  namespace: {NS}-job\n", 1))
    project.config(app="examples/store.yaml")
    up = project.up("database, migration, service")
    assert up.ok, up.output
    assert up.finished_before_started("store-db-deployment", "store-job-migrate")
    assert up.finished_before_started("store-job-migrate", "store-api-deployment")
    kube = Kube(pulumi_env, namespace=NS + "-job")
    assert kube.get("job", "migrate")["status"].get("succeeded") == 1
    project.pulumi("destroy", "--yes")
