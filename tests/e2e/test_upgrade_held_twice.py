"""A stack in which the version before held one object as two Pulumi resources (a ClusterRole of a component that
two placements deploy) upgrades without deleting it: the new program makes it once, refuses the stage that would
drop the other resource, and the pulumi state delete it names lets the stack forget that one; the object stays."""
from __future__ import annotations

import json
import re
from typing import Iterator

import pytest

from tests.e2e.conftest import Kube, Project, ROOT
from tests.e2e.test_upgrade import install_program, old_project

OLD_VERSION = "12a4e87"  # made an object without a namespace once per placement

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: twice
spec:
  components:
    - name: web
      type: k8s-objects
      properties:
        objects:
          - apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: twice-reader
            rules:
              - apiGroups: [""]
                resources: [configmaps]
                verbs: [get]
  policies:
    - name: staging
      type: topology
      properties:
        namespace: twice-staging
    - name: production
      type: topology
      properties:
        namespace: twice-production
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


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Iterator[Project]:
    yield from old_project(OLD_VERSION, "upgradetwice", pulumi_env, tmp_path_factory)


def cluster_role(kube: Kube) -> dict:
    return json.loads(kube.kubectl("get", "clusterrole", "twice-reader", "-o", "json").stdout)


def test_1_old_program_holds_the_cluster_role_twice(project: Project, pulumi_env):
    (project.dir / "examples" / "twice.yaml").write_text(APP)
    project.config(app="examples/twice.yaml")
    up = project.up("old")
    assert up.ok, up.output
    roles = [line for line in project.pulumi("stack", "--show-urns").stdout.splitlines()
             if "ClusterRole::" in line]
    assert len(roles) == 2, roles


def test_2_new_program_refuses_to_delete_it_and_names_the_command(project: Project, pulumi_env):
    kube = Kube(pulumi_env)
    uid = cluster_role(kube)["metadata"]["uid"]
    install_program(ROOT, project.dir)
    (project.dir / "examples" / "twice.yaml").write_text(APP)
    refused = project.up("new, refused")
    assert not refused.ok
    assert "ClusterRole 'twice-reader' is held by 2 Pulumi resources of this stack" in refused.output, \
        refused.output
    command = re.search(r"pulumi state delete '([^']+)'", refused.output)
    assert command, refused.output
    assert cluster_role(kube)["metadata"]["uid"] == uid
    project.pulumi("state", "delete", command.group(1), "--yes")
    up = project.up("new, after forgetting one")
    assert up.ok, up.output
    assert cluster_role(kube)["metadata"]["uid"] == uid, "the same object: never deleted"
    assert project.preview_no_changes().returncode == 0
