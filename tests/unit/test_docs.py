"""Every command the README and docs/ give is checked against the program, so none goes stale: the offline commands
run here as written; each `pulumi config set` is read by the program's own config reader; scripts, their
subcommands and the flags given to our tools exist. What needs a cluster (pulumi up, the README's walk, traffic) is
run by tests/e2e/test_readme.py. A command of a kind this test does not know fails it, so a new one gets a check."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Optional

import pulumi_kubernetes.provider
import pytest

from oam.__main__ import main
from oam.config import KEYS, read_stage_config
from oam.errors import OamError
from tests.docs import NEEDS_A_CLUSTER, PAGES, ROOT, Command, blocks, cluster_commands, shell_commands

COMMANDS = [c for page in PAGES for c in shell_commands(page)]
# Pulumi's own commands the pages use; each is Pulumi's documented CLI, run on the real engine by the e2e suite.
PULUMI = {("up",), ("destroy",), ("preview",), ("stack", "output"), ("stack", "init"), ("cancel",),
          ("state", "delete"), ("config", "set")}


def test_the_pages_give_commands():
    assert len(COMMANDS) > 40, [str(c) for c in COMMANDS]
    assert {c.page for c in COMMANDS} >= {"README.md", "docs/offline.md", "docs/clusters.md", "docs/team.md"}


def kind(c: Command) -> str:
    w = c.words
    if w[0] == "pulumi":
        return "pulumi"
    if w[:3] == ["venv/bin/python", "-m", "oam"]:
        return "oam"
    if w[0] in ("bash", "source") and w[1].startswith("tools/") or w[0].startswith("tools/"):
        return "script"
    if w[0] == "eval" or re.fullmatch(r"\w+=\$\(tools/[\w.-]+\.sh\)", w[0]):
        return "script"
    if w[0] == "export" and all(re.fullmatch(r"[A-Z_]+=.*", a) for a in w[1:]):
        return "export"
    if w[0] == "kubectl":
        return "kubectl"
    if w[:3] == ["venv/bin/python", "-m", "pytest"] or w[:2] == ["venv/bin/python", "tools/bench.py"]:
        return "python"
    if w[0] == "$bin":
        return "s3-server"
    return "unknown"


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_each_command_is_of_a_kind_that_is_checked(command):
    assert kind(command) != "unknown", f"{command}: no check for this kind of command in tests/unit/test_docs.py"


def scripts_named(c: Command) -> list[tuple[str, list[str]]]:
    """(script, its arguments) for each of our scripts a command runs, also inside $(...)."""
    found = []
    for text in [c.text, *re.findall(r"\$\(([^)]*)\)", c.text)]:
        words = text.replace("'", " ").replace('"', " ").split()
        for i, word in enumerate(words):
            if word.startswith("tools/") and word.endswith(".sh"):
                found.append((word, [a for a in words[i + 1:] if a not in (">", "|")][:1]))
    return found


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) == "script"], ids=str)
def test_a_script_exists_and_takes_the_subcommand_given(command):
    named = scripts_named(command)
    assert named, command
    for script, args in named:
        path = ROOT / script
        assert path.is_file(), f"{command}: no {script}"
        if args and not args[0].startswith("-") and script == "tools/cluster.sh":
            cases = re.findall(r"^\s+([a-z][\w-]*)\)", path.read_text(), re.M)
            assert args[0] in cases, f"{command}: tools/cluster.sh has no subcommand {args[0]} ({cases})"


PYTEST_PLUGINS = {"-n": "pytest-xdist"}  # flags of pytest's plugins the pages use, and the pinned plugin


def argparse_flags(script: Path) -> set[str]:
    """The flags a script's argparse parser takes, read from its source (running it would import what it tests)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    return {a.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "add_argument" for a in node.args
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")}


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) == "python"], ids=str)
def test_a_python_command_takes_the_flags_given(command):
    words = command.words
    if words[:3] == ["venv/bin/python", "-m", "pytest"]:
        assert (ROOT / words[3]).is_dir()
        pinned = (ROOT / "requirements.txt").read_text()
        for flag in [w for w in words[4:] if w.startswith("-")]:
            assert flag in PYTEST_PLUGINS, f"{command}: {flag} is not a flag these tests know pytest takes"
            assert f"{PYTEST_PLUGINS[flag]}==" in pinned, f"{command}: {PYTEST_PLUGINS[flag]} is not pinned"
    else:
        known = argparse_flags(ROOT / words[1])
        for flag in [w for w in words[2:] if w.startswith("--")]:
            assert flag in known, f"{command}: {words[1]} takes no {flag} (it takes {sorted(known)})"


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) == "s3-server"], ids=str)
def test_the_s3_server_is_started_as_the_tests_start_it(command):
    source = (ROOT / "tests" / "e2e" / "s3.py").read_text()
    for flag in [w for w in command.words if w.startswith("--")] + ["posix"]:
        assert f'"{flag}"' in source, f"{command}: the tests never give versitygw {flag}"


def test_pulumi_commands_are_those_the_tests_run():
    for c in COMMANDS:
        if kind(c) == "pulumi":
            assert tuple(c.words[1:3]) in PULUMI or tuple(c.words[1:2]) in PULUMI, f"{c}: not a command we run"


def config_of(page: str) -> list[tuple[Command, dict[str, Any]]]:
    """The stack config after each `pulumi config set` of a page, in order, as Pulumi would store it."""
    config: dict[str, Any] = {}
    out = []
    for c in COMMANDS:
        if c.page != page or c.words[:3] != ["pulumi", "config", "set"]:
            continue
        args = [a for a in c.words[3:] if a not in ("--secret",)]
        if args[0] == "--path":
            parts = args[1].split(".")
            node = config
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            indexed = re.fullmatch(r"(\w+)\[(\d+)\]", parts[-1])  # 'definitions[0]': an item of a list
            if indexed:
                items = node.setdefault(indexed[1], [])
                items[int(indexed[2]):int(indexed[2]) + 1] = [args[2]]
            else:
                node[parts[-1]] = args[2]
        else:
            key, value = args
            config[key] = value
        out.append((c, json.loads(json.dumps(config))))
    return out


@pytest.mark.parametrize("page", sorted({c.page for c in COMMANDS if c.words[:3] == ["pulumi", "config", "set"]}))
def test_each_config_set_is_read_by_the_program(page, tmp_path):
    for command, config in config_of(page):
        ours = {k: v for k, v in config.items() if ":" not in k}
        for key in [k for k in config if k.startswith("kubernetes:")]:
            field = re.sub(r"(?<!^)([A-Z])", r"_\1", key.split(":", 1)[1]).lower()
            assert hasattr(pulumi_kubernetes.provider.ProviderArgs, field), f"{command}: the provider has no {key}"
            if key == "kubernetes:kubeClientSettings":
                assert isinstance(json.loads(config[key]), dict)
        unknown = set(ours) - set(KEYS)
        assert not unknown, f"{command}: not config keys of the program: {unknown}"

        def get(key: str) -> Optional[Any]:
            value = ours.get(key)
            return json.dumps(value) if isinstance(value, (dict, list)) else value

        if "app" not in ours:
            ours["app"] = "examples/bookinfo/first-deploy.yaml"  # a page that sets other keys only
        try:
            read_stage_config(get, "oam-delivery", tmp_path / "Pulumi.dev.yaml", "Pulumi.dev.yaml", set(ours))
        except OamError as err:
            pytest.fail(f"{command}: the program refuses the config it makes:\n{err}")
        if "app" in config:
            assert (ROOT / config["app"]).is_file(), f"{command}: no file {config['app']}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if kind(c) == "oam" and c.words[3] not in NEEDS_A_CLUSTER],
                         ids=str)
def test_an_offline_command_runs_as_written(command, capsys, monkeypatch):
    words = command.words[3:]
    target = None
    if ">" in words:
        words, target = words[:words.index(">")], words[words.index(">") + 1]
    monkeypatch.chdir(ROOT)
    assert main(words) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    if target == "docs/definitions.md":
        assert out == (ROOT / target).read_text(encoding="utf-8"), "docs/definitions.md is stale"
    elif target is not None:
        assert json.loads(out)["title"], f"{command}: not a JSON Schema"


def test_commands_that_need_a_cluster_are_run_end_to_end():
    """The README's are its walk's; the others are those tests/e2e/test_readme.py runs at the walk's gate."""
    walked = (ROOT / "tests" / "e2e" / "test_readme.py").read_text()
    assert "cluster_commands()" in walked and "commands(block)" in walked
    others = cluster_commands()
    for c in COMMANDS:
        if kind(c) == "oam" and c.words[3] in NEEDS_A_CLUSTER:
            assert c.page == "README.md" or c in others, c
    assert {c.words[3] for c in others} == set(NEEDS_A_CLUSTER), others


def test_links_between_pages_lead_somewhere():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: link to {target}, which is not there"


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = [b for b in blocks(ROOT / "README.md") if b.lang == "shell"][0]
    assert first.text.split("\n")[:2] == ["bash tools/quickstart.sh", "bash tools/test.sh"]
    assert first.line < 40, "the two commands are on the first screen"
    assert "COLD_" not in readme and "COLD_" not in "".join(p.read_text() for p in PAGES)
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "exec bash tools/test.sh"
    assert len(readme.splitlines()) < 250


def test_the_readme_shows_the_status_the_program_gives_for_each_stage():
    """The README's JSON blocks are status outputs; their keys are those the program writes (the values are checked
    against a real walk by tests/e2e/test_readme.py)."""
    shown = [json.loads(b.text) for b in blocks(ROOT / "README.md") if b.lang == "json"]
    assert len(shown) == 4
    for status in shown:
        for name, item in status.items():
            if name == "notes":
                continue
            assert set(item) <= {"next", "phase", "release", "revisions", "step", "waiting"}, item
