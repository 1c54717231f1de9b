"""An application without a rolled-out component: a new revision of any component starts a new release, whose
gates wait again, and a component a step has not deployed again yet stays as the last update applied it.
Under Pulumi's mocks, stage by stage."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from tests.harness import ROOT, StageRun, run_stage

EXAMPLES = ROOT / "examples" / "definitions"
STORE = (EXAMPLES / "step-apply-component.yaml").read_text()  # db, suspend 'check', api
DEPLOY = (EXAMPLES / "step-deploy.yaml").read_text()  # staging, then production after 'to-production'


def stage(path: Path, previous: Optional[StageRun] = None, **config) -> StageRun:
    run = run_stage({"app": str(path), **config}, previous)
    assert run.error is None, run.error
    return run


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"the example no longer contains {old!r}"
    return text.replace(old, new)


def image(run: StageRun, name: str) -> str:
    return run.manifest(name)["spec"]["template"]["spec"]["containers"][0]["image"]


def workflow(run: StageRun) -> dict:
    return run.outputs["status"]["workflowStatus"]


def notes(run: StageRun) -> list[str]:
    return run.outputs["status"].get("notes", [])


def released(tmp_path: Path) -> tuple[StageRun, Path]:
    """The store example deployed and approved: release 1 done, the approval still set."""
    v1 = write(tmp_path, STORE, "v1.yaml")
    first = stage(v1)
    assert set(first.of_kind("Deployment")) == {"store-db-deployment"}
    done = stage(v1, first, approve="check")
    assert workflow(done)["phase"] == "succeeded" and workflow(done)["release"] == 1
    return done, v1


def test_a_new_image_starts_a_new_release_and_a_leftover_approval_is_refused(tmp_path):
    done, _ = released(tmp_path)
    v2 = write(tmp_path, edit(edit(STORE, "postgres:16", "postgres:17"), "api:7", "api:8"), "v2.yaml")
    refused = run_stage({"app": str(v2), "approve": "check"}, done)
    assert refused.error is not None
    assert "'check' approved release 1 and does not carry over to release 2 (api-v2, db-v2)" in refused.error
    assert "pulumi config rm approve" in refused.error
    assert refused.resources == {} and refused.outputs == done.outputs  # nothing registered, the record unchanged


def test_the_new_release_waits_at_its_gate_with_the_later_component_as_it_was(tmp_path):
    done, _ = released(tmp_path)
    v2 = write(tmp_path, edit(edit(STORE, "postgres:16", "postgres:17"), "api:7", "api:8"), "v2.yaml")
    waiting = stage(v2, done)
    assert image(waiting, "store-db-deployment") == "docker.io/library/postgres:17"
    # Not deleted, not changed: the api's objects exactly as release 1 applied them.
    assert waiting.manifest("store-api-deployment") == done.manifest("store-api-deployment")
    assert waiting.resources["store-api-deployment"].urn == done.resources["store-api-deployment"].urn
    assert workflow(waiting) | {"next": ""} == {"release": 2, "step": "2/3 check", "phase": "suspended",
                                                "waiting": "check (needs approval)", "next": ""}
    assert any("component 'api' stays as the last update applied it until a step of release 2 deploys it there; "
               "the workflow waits at 'check'" in n for n in notes(waiting))
    # A no-change run keeps it so.
    again = stage(v2, waiting)
    assert again.manifest("store-api-deployment") == done.manifest("store-api-deployment")
    approved = stage(v2, again, approve="check")
    assert image(approved, "store-api-deployment") == "registry.example.com/shop/api:8"
    assert workflow(approved)["phase"] == "succeeded" and not any("stays as" in n for n in notes(approved))


def test_a_trait_change_starts_a_new_release_too_and_waits_at_the_gate(tmp_path):
    # KubeVela runs the workflow again for any change of the spec: three replicas of the api need the approval too.
    done, _ = released(tmp_path)
    scaled = write(tmp_path, edit(STORE, "        port: 8080\n", "        port: 8080\n      traits:\n"
                                  "        - type: scaler\n          properties:\n            replicas: 3\n"), "v1b.yaml")
    refused = run_stage({"app": str(scaled), "approve": "check"}, done)
    assert "'check' approved release 1 and does not carry over to release 2 (api-v1, db-v1)" in refused.error
    waiting = stage(scaled, done)
    assert workflow(waiting)["release"] == 2 and workflow(waiting)["waiting"] == "check (needs approval)"
    assert waiting.manifest("store-api-deployment") == done.manifest("store-api-deployment")
    approved = stage(scaled, waiting, approve="check")
    assert approved.manifest("store-api-deployment")["spec"]["replicas"] == 3
    # So does a change of the workflow; a file that changes nothing does not.
    assert workflow(stage(scaled, approved, approve="check"))["release"] == 2
    timed = write(tmp_path, edit(scaled.read_text(), "        type: suspend\n",
                                 "        type: suspend\n        properties:\n          duration: 1h\n"), "v1c.yaml")
    assert workflow(stage(timed, approved))["release"] == 3


def test_a_component_left_out_of_the_file_goes_once_the_new_release_is_done(tmp_path):
    done, _ = released(tmp_path)
    text = edit(STORE, "postgres:16", "postgres:17")
    text = text[:text.index("    - name: api\n")] + text[text.index("  workflow:\n"):text.index("      - name: service")]
    v2 = write(tmp_path, text, "v2.yaml")
    waiting = stage(v2, done)
    assert workflow(waiting)["release"] == 2 and workflow(waiting)["phase"] == "suspended"
    assert waiting.manifest("store-api-deployment") == done.manifest("store-api-deployment")
    gone = stage(v2, waiting, approve="check")
    assert workflow(gone)["phase"] == "succeeded"
    assert set(gone.of_kind("Deployment")) == {"store-db-deployment"}


def test_going_back_a_stage_in_the_same_release_still_takes_the_later_component_away(tmp_path):
    done, v1 = released(tmp_path)
    back = stage(v1, done, approve="check", stage=1)
    assert set(back.of_kind("Deployment")) == {"store-db-deployment"}


def test_a_record_written_before_releases_followed_every_component_is_the_same_release(tmp_path):
    done, v1 = released(tmp_path)
    same = stage(v1, older(done), approve="check")
    assert workflow(same)["release"] == 1 and workflow(same)["phase"] == "succeeded"
    assert {n: r.inputs for n, r in same.resources.items()} == {n: r.inputs for n, r in done.resources.items()}
    assert json.loads(same.outputs["oamState"])["release"]["revisions"] == {"api": 1, "db": 1}
    assert json.loads(same.outputs["oamState"])["release"]["spec"] == json.loads(done.outputs["oamState"])["release"]["spec"]


def test_a_placement_after_a_gate_keeps_its_namespace_and_objects_as_they_were(tmp_path):
    v1 = write(tmp_path, DEPLOY, "v1.yaml")
    first = stage(v1)
    done = stage(v1, first, approve="to-production")
    assert workflow(done)["phase"] == "succeeded"
    v2 = write(tmp_path, edit(DEPLOY, "frontend:1.4.0", "frontend:1.5.0"), "v2.yaml")
    waiting = stage(v2, done)
    assert image(waiting, "web-staging-frontend-deployment").endswith(":1.5.0")
    assert waiting.manifest("web-production-frontend-deployment") == \
        done.manifest("web-production-frontend-deployment")
    assert waiting.manifest("web-production-frontend-deployment")["spec"]["replicas"] == 3  # its override kept
    assert any("component 'frontend' in namespace 'production' stays as" in n for n in notes(waiting))
    approved = stage(v2, waiting, approve="to-production")
    assert image(approved, "web-production-frontend-deployment").endswith(":1.5.0")


# --- one component in two placements ----------------------------------------------------------------

OBJECTS = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: objs
spec:
  components:
    - name: web
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
              namespace: default
            data:
              level: info
          - apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: objs-reader
            rules:
              - apiGroups: [""]
                resources: [configmaps]
                verbs: [get]
  policies:
    - name: staging
      type: topology
      properties:
        namespace: staging
    - name: production
      type: topology
      properties:
        namespace: production
  workflow:
    steps:
      - name: to-staging
        type: deploy
        properties:
          policies: [staging]
      - name: to-production
        type: deploy
        properties:
          policies: [production]
"""


def where(run: StageRun, kind: str) -> dict[str, object]:
    """Pulumi name -> namespace of each object of ``kind``."""
    return {n: r.inputs["metadata"].get("namespace") for n, r in run.of_kind(kind).items()}


def test_a_topology_namespace_takes_every_object_there_and_an_object_without_one_is_made_once(tmp_path):
    app = write(tmp_path, OBJECTS, "objs.yaml")
    both = stage(app)
    # As KubeVela does: the namespace a topology names overrides the one an object names.
    assert where(both, "ConfigMap") == {"objs-staging-web-configmap-default-settings": "staging",
                                        "objs-production-web-configmap-default-settings": "production"}
    # One ClusterRole, one Pulumi resource: two would each apply it, and the first to go would delete it.
    assert where(both, "ClusterRole") == {"objs-staging-web-clusterrole-objs-reader": None}


def test_a_namespace_an_object_names_stays_without_a_topology_namespace(tmp_path):
    text = edit(OBJECTS, "      properties:\n        namespace: staging\n", "      properties:\n        clusters: [local]\n")
    app = write(tmp_path, text, "objs.yaml")
    run = stage(app)
    assert where(run, "ConfigMap") == {"objs-web-configmap-default-settings": "default",
                                       "objs-production-web-configmap-default-settings": "production"}


def test_one_object_two_placements_render_differently_is_refused(tmp_path):
    text = edit(OBJECTS, "          policies: [production]\n", "          policies: [production, verbs]\n")
    text = edit(text, "  workflow:\n", """    - name: verbs
      type: override
      properties:
        components:
          - name: web
            properties:
              objects:
                - apiVersion: rbac.authorization.k8s.io/v1
                  kind: ClusterRole
                  metadata:
                    name: objs-reader
                  rules:
                    - apiGroups: [""]
                      resources: [configmaps]
                      verbs: [get, list]
  workflow:
""")
    run = run_stage({"app": str(write(tmp_path, text, "objs.yaml"))})
    assert run.error is not None and run.resources == {}
    assert ("component 'web' is deployed to namespaces 'staging' and 'production', and both would make ClusterRole "
            "'objs-reader', each differently") in run.error, run.error
    assert "objs.yaml:7:" in run.error


def test_an_object_taken_over_as_it_is_needs_no_spec(tmp_path):
    text = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: adopt
spec:
  components:
    - name: legacy
      type: k8s-objects
      properties:
        objects:
          - apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: legacy-app
  policies:
    - name: adopt
      type: take-over
      properties:
        rules:
          - selector:
              resourceTypes: [Deployment]
"""
    run = stage(write(tmp_path, text, "adopt.yaml"))
    assert run.manifest("adopt-legacy-deployment-legacy-app")["metadata"]["name"] == "legacy-app"
    assert "spec" not in run.manifest("adopt-legacy-deployment-legacy-app")


def test_an_object_an_earlier_version_held_twice_is_not_deleted_under_the_one_that_stays(tmp_path):
    from oam import preflight
    from oam.kit.applied import Applied
    from oam.config import StageConfig
    from oam.model import read_application
    from oam.render import plan
    from oam.revisions import History

    path = write(tmp_path, OBJECTS, "objs.yaml")
    app = read_application(path, "objs.yaml")
    stage_plan = plan(app, History(), StageConfig(app="objs.yaml"))
    role = stage_plan.by_key()["objs-staging-web-clusterrole-objs-reader"].manifest
    urn = "urn:pulumi:dev::oam-delivery::kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::"
    # As the version before made it: once per placement, each named by its place in the list.
    for made in (("objs-staging-web-clusterrole-objs-reader", "objs-production-web-clusterrole-objs-reader"),
                 ("objs-staging-web-object-1", "objs-production-web-object-1")):
        before = Applied()
        for key in made:
            before.add(key, role)
            before.urns[key] = urn + key
        problems = [str(p) for p in preflight.held_twice(app, stage_plan, before)]
        assert len(problems) == 1, problems
        assert "ClusterRole 'objs-reader' is held by 2 Pulumi resources of this stack" in problems[0]
        stays = made[0] if made[0] in stage_plan.by_key() else sorted(made)[0]
        [going] = [k for k in made if k != stays]
        assert f"this stage makes it once, and would delete {going}, and the object with it" in problems[0], problems
        assert f"pulumi state delete '{urn}{going}'" in problems[0]
        assert problems[0].startswith("objs.yaml:7:")
    # Held once, or by resources that all go (the object is no longer made): nothing to say.
    once = Applied()
    once.add("objs-staging-web-clusterrole-objs-reader", role)
    assert preflight.held_twice(app, stage_plan, once) == []


def older(run: StageRun) -> StageRun:
    """``run`` as the version before recorded it: no revisions or spec in the release, no component objects."""
    record = json.loads(run.outputs["oamState"])
    del record["release"]["revisions"], record["release"]["spec"]
    record.pop("componentObjects", None)
    record.pop("approved", None)
    return StageRun(resources=run.resources, outputs={**run.outputs, "oamState": json.dumps(record)})


def test_after_an_upgrade_a_new_image_that_would_delete_an_unrecorded_component_is_refused_once(tmp_path):
    done, v1 = released(tmp_path)
    v2 = write(tmp_path, edit(STORE, "api:7", "api:8"), "v2.yaml")
    refused = run_stage({"app": str(v2)}, older(done))
    assert refused.error is not None and refused.resources == {}
    assert ("this stack was last updated by an earlier version of this program, which did not record the objects "
            "of the components the workflow deploys; this stage would delete store-api-deployment") in refused.error
    assert "(it waits at 'check')" in refused.error
    assert "run pulumi up once with the file and the approvals the stack was last updated with" in refused.error
    # As it says: once with the file as it was (no change, the objects recorded), then the new one.
    recorded = stage(v1, older(done), approve="check")
    assert json.loads(recorded.outputs["oamState"])["componentObjects"]
    waiting = stage(v2, recorded)
    assert workflow(waiting)["release"] == 2
    assert waiting.manifest("store-api-deployment") == done.manifest("store-api-deployment")


def test_after_an_upgrade_a_release_waiting_at_its_gate_goes_on_unchanged(tmp_path):
    v1 = write(tmp_path, STORE, "v1.yaml")
    first = stage(v1)
    again = stage(v1, older(first))
    assert {n: r.inputs for n, r in again.resources.items()} == {n: r.inputs for n, r in first.resources.items()}
    assert workflow(again)["release"] == 1 and workflow(again)["waiting"] == "check (needs approval)"
    assert image(stage(v1, again, approve="check"), "store-api-deployment").endswith("api:7")


def test_rollback_of_an_application_that_rolls_nothing_out_is_refused_instead_of_saying_rolled_back(tmp_path):
    done, _ = released(tmp_path)
    v2 = write(tmp_path, edit(STORE, "postgres:16", "postgres:17"), "v2.yaml")
    waiting = stage(v2, done)
    refused = run_stage({"app": str(v2), "rollback": "true"}, waiting)
    assert refused.error is not None and refused.resources == {}
    assert "v2.yaml rolls nothing out (no component has a rollout trait), so no component has a stable revision to " \
           "return to" in refused.error
    assert "set app to the file of the earlier version" in refused.error


# --- a release that rolls one component out, and a gate that holds another back ---------------------

MIXED = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: mixed
spec:
  components:
    - name: db
      type: webservice
      properties:
        image: docker.io/library/postgres:16
        port: 5432
    - name: api
      type: webservice
      properties:
        image: registry.example.com/shop/api:7
        port: 8080
      traits:
        - type: rollout
          properties:
            targetSize: 2
            rolloutBatches:
              - replicas: 1
              - replicas: 1
  workflow:
    steps:
      - name: service
        type: apply-component
        properties:
          component: api
      - name: check
        type: suspend
      - name: database
        type: apply-component
        properties:
          component: db
"""


def test_an_approval_does_not_carry_over_to_a_new_revision_of_a_component_its_gate_holds_back(tmp_path):
    v1 = write(tmp_path, MIXED, "v1.yaml")
    done = stage(v1, stage(v1), approve="check")
    assert done.outputs["status"]["api"]["phase"] == "succeeded"
    v2 = write(tmp_path, edit(MIXED, "postgres:16", "postgres:17"), "v2.yaml")
    refused = run_stage({"app": str(v2), "approve": "check"}, done)
    assert refused.error is not None and refused.resources == {}
    assert ("'check' was approved for the components it holds back as they were then, and does not carry over to the "
            "change of db (db-v1 to db-v2)") in refused.error
    waiting = stage(v2, done)
    assert waiting.outputs["status"]["api"]["waiting"] == "check (needs approval)"
    assert waiting.manifest("mixed-db-deployment") == done.manifest("mixed-db-deployment")
    assert waiting.manifest("mixed-api-v1") == done.manifest("mixed-api-v1")
    approved = stage(v2, waiting, approve="check")
    assert image(approved, "mixed-db-deployment") == "docker.io/library/postgres:17"
    assert stage(v2, approved, approve="check").manifest("mixed-db-deployment") == \
        approved.manifest("mixed-db-deployment")


def test_a_trait_change_of_a_component_a_gate_holds_back_needs_the_gate_approved_again(tmp_path):
    v1 = write(tmp_path, MIXED, "v1.yaml")
    done = stage(v1, stage(v1), approve="check")
    scaled = write(tmp_path, edit(MIXED, "        port: 5432\n", "        port: 5432\n      traits:\n"
                                  "        - type: scaler\n          properties:\n            replicas: 3\n"), "v2.yaml")
    refused = run_stage({"app": str(scaled), "approve": "check"}, done)
    assert "does not carry over to the change of db (db-v1, traits changed)" in refused.error, refused.error
    waiting = stage(scaled, done)
    assert waiting.manifest("mixed-db-deployment") == done.manifest("mixed-db-deployment")
    assert stage(scaled, waiting, approve="check").manifest("mixed-db-deployment")["spec"]["replicas"] == 3


def test_a_workflow_with_a_gate_added_later_keeps_what_the_file_without_it_deployed(tmp_path):
    without = write(tmp_path, STORE[:STORE.index("  workflow:\n")], "v1.yaml")
    first = stage(without)
    assert set(first.of_kind("Deployment")) == {"store-db-deployment", "store-api-deployment"}
    gated = write(tmp_path, edit(STORE, "api:7", "api:8"), "v2.yaml")
    waiting = stage(gated, first)
    assert workflow(waiting)["waiting"] == "check (needs approval)"
    assert waiting.manifest("store-api-deployment") == first.manifest("store-api-deployment")
    assert image(stage(gated, waiting, approve="check"), "store-api-deployment").endswith("api:8")


def test_after_an_upgrade_an_object_that_moves_to_a_new_name_is_not_counted_as_deleted(tmp_path):
    """A record of the version before objects were named by kind and name (object-0): the stage that an unrecorded
    record cannot keep names what it would delete, and the object that moves to its new name is not of them."""
    import dataclasses

    text = edit(STORE, """    - name: db
      type: webservice
      properties:
        image: docker.io/library/postgres:16
        port: 5432
""", """    - name: db
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: db-settings
            data:
              level: info
""").replace("      dependsOn: [db]\n", "")
    v1 = write(tmp_path, text, "v1.yaml")
    done = stage(v1, stage(v1), approve="check")
    new_key = "store-db-configmap-db-settings"
    old = {("store-db-object-0" if name == new_key else name):
           dataclasses.replace(r, urn=r.urn.replace(new_key, "store-db-object-0"), name="store-db-object-0")
           if name == new_key else r for name, r in done.resources.items()}
    v2 = write(tmp_path, edit(text, "api:7", "api:8"), "v2.yaml")
    refused = run_stage({"app": str(v2)}, StageRun(resources=old, outputs=older(done).outputs))
    assert refused.error is not None
    assert "this stage would delete store-api-deployment" in refused.error, refused.error
    assert "store-db-object-0" not in refused.error, refused.error
