"""A user's stack survives an upgrade of the program.

The stack is made by an earlier release of the program (OLD_VERSION, from this repository's
history) and left where users leave it: the bookinfo rollout waiting at its approval gate,
90/10. Then the program files are replaced by the current checkout's, the stack (state and
config) kept as it is. The new program must find nothing to change (no update, no
replacement, no delete), then finish the release and roll it back as the old one would.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import ROOT, Kube, Project
from tests.e2e.test_tutorial import FIRST, ROLLOUT, assert_converged, state

OLD_VERSION = "f491520"  # the release a user's stack was last updated with
PROGRAM_DIRS = ("oam", "examples")
PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "requirements.txt")


def checkout(commit: str, dest: Path) -> Path:
    """The program's files as they were at commit (git archive of this repository), in dest."""
    if shutil.which("git") is None:
        pytest.fail("git is not on PATH: the upgrade test needs this repository's history")
    known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True, text=True)
    if known.returncode != 0:
        pytest.fail(f"commit {commit} is not in {ROOT} (a shallow clone?): {known.stderr.strip()}")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit,
                              *PROGRAM_DIRS, *PROGRAM_FILES], capture_output=True)
    if archive.returncode != 0:
        pytest.fail(f"git archive {commit} failed: {archive.stderr.decode(errors='replace')}")
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def install_program(src: Path, base: Path) -> None:
    """Put src's program files in base, replacing any there; stacks/ and the state are left alone."""
    for name in PROGRAM_DIRS:
        shutil.rmtree(base / name, ignore_errors=True)
        shutil.copytree(src / name, base / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in PROGRAM_FILES:
        shutil.copy(src / name, base / name)


def make_project_from(src: Path, base: Path, env: dict[str, str], stack: str) -> Project:
    """make_project (conftest) with the program taken from src instead of ROOT."""
    base.mkdir(parents=True)
    install_program(src, base)
    (base / "stacks").mkdir()
    (base / "venv").symlink_to(ROOT / "venv")
    project = Project(base, env, stack)
    project.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    return project


def preview_steps(project: Project) -> list[tuple[str, str]]:
    """(op, resource name) of every step of `pulumi preview --json` that is not 'same'."""
    proc = project.pulumi("preview", "--json", check=False)
    try:
        steps = json.loads(proc.stdout).get("steps", [])
    except ValueError:
        raise AssertionError(f"pulumi preview --json gave no JSON ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}") from None
    assert proc.returncode == 0, f"pulumi preview --json failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
    return [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in steps if s["op"] != "same"]


def old_project(version: str, stack: str, env: dict[str, str], tmp_path_factory) -> Iterator[Project]:
    """A stack of its own run by the program as it was at ``version``; destroyed at the end (a module fixture's)."""
    base = tmp_path_factory.mktemp(stack)
    p = make_project_from(checkout(version, base / "old"), base / "project", env, stack)
    yield p
    p.pulumi("destroy", "--yes", check=False)


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Iterator[Project]:
    yield from old_project(OLD_VERSION, "upgrade", pulumi_env, tmp_path_factory)


def test_1_old_program_stops_at_the_gate(project: Project, kube: Kube):
    project.config(app=FIRST)
    assert_converged(project, project.up("old-first-deploy"), kube)
    project.config(app=ROLLOUT)
    assert_converged(project, project.up("old-rollout-10-percent"), kube)
    assert state(kube) == {"reviews-v1": (1, 1), "reviews-v2": (1, 1),
                           "routes": {"reviews-v1": 90, "reviews-v2": 10}, "subsets": ["reviews-v1", "reviews-v2"]}


def test_2_new_program_changes_nothing(project: Project, kube: Kube):
    before = kube.snapshot("book-info")
    install_program(ROOT, project.dir)
    steps = preview_steps(project)
    risky = [name for op, name in steps if "replace" in op or "delete" in op]
    assert not risky, (f"the new program would replace or delete {', '.join(risky)}; its steps: "
                       + ", ".join(f"{op} {name}" for op, name in steps))
    preview = project.preview_no_changes()
    assert preview.returncode == 0, f"steps: {steps}\n{preview.stdout}{preview.stderr}"
    assert kube.snapshot("book-info") == before


def test_3_new_program_finishes_the_release(project: Project, kube: Kube):
    project.config(approve="manual-approval")
    assert_converged(project, project.up("new-approved"), kube)
    assert state(kube) == {"reviews-v1": (0, 0), "reviews-v2": (2, 2), "routes": {"reviews-v2": 100},
                           "subsets": ["reviews-v2"]}
    assert project.status()["reviews"]["phase"] == "succeeded"


def test_4_new_program_rolls_back(project: Project, kube: Kube):
    project.config(rollback="true")
    assert_converged(project, project.up("new-rollback"), kube)
    after = state(kube)
    assert after["routes"] == {"reviews-v1": 100}, after
    assert after["reviews-v1"] == (2, 2), after
