"""A stack whose objects written out in full the version before named by their place in the list (object-0, ...)
upgrades in place: the new program names them by kind and name, each resource carries its old URN as an alias,
and no object is applied anew or deleted. Then an object put first in the list leaves the others alone."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.conftest import Kube, Project, ROOT
from tests.e2e.test_objects_order import listed as in_its_namespace
from tests.e2e.test_upgrade import install_program, old_project, preview_steps

OLD_VERSION = "e3301a8"  # named objects written out in full by their place in the list


def listed(*names: str) -> str:
    return in_its_namespace(*names, app="renamed")


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Iterator[Project]:
    yield from old_project(OLD_VERSION, "upgradenames", pulumi_env, tmp_path_factory)


def uids(kube: Kube) -> dict[str, str]:
    return {n: kube.get("configmap", n)["metadata"]["uid"] for n in ("a", "b")}


def test_1_old_program_names_objects_by_place(project: Project, pulumi_env):
    (project.dir / "examples" / "listed.yaml").write_text(listed("a", "b"))
    project.config(app="examples/listed.yaml")
    up = project.up("old")
    assert up.ok, up.output
    assert {"renamed-config-object-0", "renamed-config-object-1"} <= set(up.ops()), up.ops()


def test_2_new_program_moves_them_in_place(project: Project, pulumi_env):
    kube = Kube(pulumi_env, namespace="renamed")
    before = uids(kube)
    install_program(ROOT, project.dir)
    (project.dir / "examples" / "listed.yaml").write_text(listed("a", "b"))  # the user's file, kept
    steps = preview_steps(project)
    assert not [s for s in steps if "replace" in s[0] or "delete" in s[0] or "create" in s[0]], steps
    up = project.up("new")
    assert up.ok, up.output
    assert uids(kube) == before
    assert project.preview_no_changes().returncode == 0

    (project.dir / "examples" / "listed.yaml").write_text(listed("new", "a", "b"))
    up = project.up("one put first")
    assert up.ok, up.output
    assert set(up.ops().values()) == {"create"}, up.ops()
    assert uids(kube) == before
