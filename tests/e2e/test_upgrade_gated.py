"""A stack of an application without a rollout, whose workflow deploys a component after a gate, survives the
upgrade to the version that starts a release with each change: made by the version before (OLD_VERSION), then
updated by the current checkout. Nothing changes on the upgrade itself; the first new image is refused until the
stack has recorded what it keeps (one pulumi up with the file as it was), and never deletes the component after
the gate."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.conftest import Kube, Project, ROOT
from tests.e2e.test_new_release import APP, image
from tests.e2e.test_upgrade import install_program, old_project, preview_steps

OLD_VERSION = "12a4e87"  # the version before releases followed every change of such an application


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Iterator[Project]:
    yield from old_project(OLD_VERSION, "upgradegated", pulumi_env, tmp_path_factory)


def write_app(project: Project, tag: str) -> None:
    (project.dir / "examples" / "gated.yaml").write_text(APP.format(tag=tag))


def test_1_old_program_deploys_both_components(project: Project, pulumi_env):
    kube = Kube(pulumi_env)
    write_app(project, "1")
    project.config(app="examples/gated.yaml")
    assert project.up("old first").ok
    project.config(approve="check")
    up = project.up("old approved")
    assert up.ok, up.output
    assert image(kube, "api") == "registry.example.com/gated/api:1"


def test_2_new_program_changes_nothing(project: Project, pulumi_env):
    kube = Kube(pulumi_env)
    before = kube.snapshot("gated")
    install_program(ROOT, project.dir)
    write_app(project, "1")  # the program's examples were replaced: the file as the stack was last updated with
    steps = preview_steps(project)
    assert not steps, steps
    assert project.preview_no_changes().returncode == 0
    assert kube.snapshot("gated") == before


def test_3_a_new_image_never_deletes_the_component_after_the_gate(project: Project, pulumi_env):
    kube = Kube(pulumi_env)
    before = kube.generations("gated")
    write_app(project, "2")
    refused = project.up("new image, approval left")
    assert not refused.ok and "does not carry over to release 2" in refused.output, refused.output
    project.config(approve=None)
    refused = project.up("new image, nothing recorded")
    assert not refused.ok
    assert "this stage would delete gated-api-deployment" in refused.output, refused.output
    assert kube.generations("gated") == before, "refused stages change nothing"

    write_app(project, "1")
    project.config(approve="check")
    up = project.up("the file and approval as they were")
    assert up.ok, up.output
    assert up.ops() == {}, up.ops()
    project.config(approve=None)
    write_app(project, "2")
    up = project.up("new image")
    assert up.ok, up.output
    assert image(kube, "db") == "registry.example.com/gated/db:2"
    assert image(kube, "api") == "registry.example.com/gated/api:1"
    assert kube.generations("gated")["Deployment/api"] == before["Deployment/api"]
    assert project.status()["workflowStatus"]["waiting"] == "check (needs approval)"
    project.config(approve="check")
    up = project.up("approved")
    assert up.ok, up.output
    assert image(kube, "api") == "registry.example.com/gated/api:2"
