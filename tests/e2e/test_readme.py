"""The README as a newcomer runs it, on the real engine and cluster: the quickstart (with --use-kubeconfig: the
suite's cluster), then the tutorial's walk command by command as written, each status compared with the one the
README shows, each `pulumi up` judged like every other (tests/e2e/conftest.py: Istio's config generation at every
instant). The commands of docs/ that need a cluster or the traffic oracle (tests/docs.cluster_commands) run at the
stage of the walk that suits them."""
from __future__ import annotations

import json
import shutil
import subprocess
from typing import Iterator

import pytest

from tests.docs import ROOT, Block, Command, blocks, cluster_commands, commands
from tests.e2e.conftest import Kube, Project
from tests.e2e.test_tutorial import assert_converged

STACK = "readme"


README = ROOT / "README.md"


def line_of(heading: str) -> int:
    text = README.read_text(encoding="utf-8")
    return text[:text.index(heading)].count("\n") + 1


def walk() -> list[Block]:
    """The blocks of the README's section "The tutorial, stage by stage", in order."""
    first, last = line_of("## The tutorial, stage by stage"), line_of("## Read on")
    return [b for b in blocks(README) if first < b.line < last]


def shown_after_quickstart() -> dict:
    """The status the README shows at the end of the quickstart: its last JSON block before the walk."""
    first = line_of("## The tutorial, stage by stage")
    return json.loads([b for b in blocks(README) if b.lang == "json" and b.line < first][-1].text)


@pytest.fixture(scope="module")
def newcomer(pulumi_env, tmp_path_factory) -> Iterator[Project]:
    """A checkout of the project as a newcomer has it (the venv made already: tools/setup-python.sh keeps it)."""
    base = tmp_path_factory.mktemp("readme") / "oam-delivery"
    base.mkdir()
    for name in ("oam", "examples", "tools"):
        shutil.copytree(ROOT / name, base / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "Pulumi.yaml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, base / name)
    (base / "stacks").mkdir()
    (base / "venv").symlink_to(ROOT / "venv")
    project = Project(base, dict(pulumi_env), STACK)
    yield project
    project.pulumi("destroy", "--yes", check=False)


def run(project: Project, command: Command, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command.words, cwd=project.dir, env=env, capture_output=True, text=True, timeout=600)


def test_the_quickstart_deploys_the_first_stage_and_shows_its_status(newcomer: Project):
    env = {**newcomer.env, "OAM_STACK": STACK}
    proc = subprocess.run(["bash", "tools/quickstart.sh", "--use-kubeconfig"], cwd=newcomer.dir, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "+ 18 created" in proc.stdout, proc.stdout[-3000:]
    assert "[quickstart] deploying to" in proc.stderr, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == shown_after_quickstart()


def test_the_walk_runs_as_written_and_shows_the_status_the_readme_shows(newcomer: Project, pulumi_env, kube: Kube):
    env = dict(newcomer.env)
    shown = [b for b in walk() if b.lang in ("json", "text")]
    ran = 0
    for block in [b for b in walk() if b.lang == "shell"]:
        for command in commands(block):
            words = command.words
            ran += 1
            if words[0] in ("source", "eval"):
                # The environment the walk's shell gets: the CLI on PATH and the suite's cluster (OAM_CLUSTER_DIR).
                proc = subprocess.run(["bash", "-c", f"{command.line_text} >&2 && env -0"], cwd=newcomer.dir, env=env,
                                      capture_output=True, text=True, timeout=600)
                assert proc.returncode == 0, proc.stderr
                env = dict(item.split("=", 1) for item in proc.stdout.split("\0") if "=" in item)
                assert env["KUBECONFIG"] == pulumi_env["KUBECONFIG"]
                continue
            if words[:2] == ["pulumi", "up"]:
                # As the README says, pulumi up asks first; --yes answers (Project.up adds it, and judges the
                # traffic at every instant of the update).
                assert words == ["pulumi", "up"], command
                up = Project(newcomer.dir, env, STACK).up(f"readme {block.line}")
                assert_converged(newcomer, up, kube)
                continue
            if words[:2] == ["pulumi", "destroy"]:
                proc = run(newcomer, Command(command.page, command.line, "pulumi destroy --yes"), env)
                assert proc.returncode == 0, proc.stdout + proc.stderr
                assert kube.get("deployment", "reviews-v1") is None and kube.get("service", "reviews") is None
                continue
            proc = run(newcomer, command, env)
            assert proc.returncode == 0, f"{command}:\n{proc.stdout}{proc.stderr}"
            if words[:4] == ["pulumi", "stack", "output", "status"]:
                expected = shown.pop(0)
                assert expected.lang == "json", f"{command}: the README shows no status after it"
                assert json.loads(proc.stdout) == json.loads(expected.text), f"{command} (README.md:{expected.line})"
                if json.loads(proc.stdout)["reviews"]["phase"] == "suspended":
                    run_cluster_commands(newcomer, env)
            elif words[3:4] == ["traffic"]:
                expected = shown.pop(0)
                assert expected.lang == "text"
                for line in expected.text.strip().splitlines():
                    assert line in proc.stdout.splitlines(), f"{command}: no line {line!r} in:\n{proc.stdout}"
    assert not shown, f"the README shows output no command of the walk gives: {shown}"
    assert ran >= 14, ran


def run_cluster_commands(project: Project, env: dict[str, str]) -> None:
    """The commands of docs/ that need a cluster or the oracle, at the canary's approval gate: the driver stops there
    (exit 2: a gate that needs a person), and a stage's traffic is computed from the files."""
    done = 0
    for command in cluster_commands():
        proc = run(project, command, env)
        if command.words[3] == "advance":
            assert proc.returncode == 2, f"{command}:\n{proc.stdout}{proc.stderr}"
            assert "manual-approval" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        else:
            assert proc.returncode == 0, f"{command}:\n{proc.stdout}{proc.stderr}"
            assert "reviews-v1 90%" in proc.stdout and "reviews-v2 10%" in proc.stdout, proc.stdout
        done += 1
    assert done >= 2
