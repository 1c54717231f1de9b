"""Checks without a cluster: `python -m oam validate FILE...`, `render FILE`, `schema`, `reference`;
`traffic`, who gets what traffic as Istio computes it (a live namespace, or a stage's render); and
`advance`, which drives a stack's stages with pulumi up while its gates open by themselves.

validate and render use the same code as `pulumi preview` (reading, the definitions'
checks, the stage and its objects), so they find the same problems, with the same messages
(those about `stage` and `approve` name the flags that stand for those config keys); what
only a stack can say (whether a revision a step weighs exists, what its history allows) is
left to it.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional

import yaml

from oam.config import StageConfig, read_clusters
from oam.errors import ConfigError, OamError, Problem, ReleaseError
from oam.kit.placements import LOCAL
from oam.model import read_application
from oam.render import plan
from oam.revisions import History
from oam.schema import application_schema
from oam.workflow.release import ROLLED_BACK, SUCCEEDED, SUSPENDED


PROJECT = "oam-delivery"


def stack_clusters(stack: Optional[str], root: Path = Path(".")) -> Optional[dict]:
    """The clusters config of a stack, from its file (stacks/Pulumi.STACK.yaml): names and labels, for checks
    without a cluster (a secret setting is not read). None without a stack: any cluster name is taken as given."""
    if stack is None:
        return None
    display = f"stacks/Pulumi.{stack}.yaml"
    try:
        config = (yaml.safe_load((root / display).read_text(encoding="utf-8")) or {}).get("config") or {}
    except OSError as err:
        raise ConfigError([StageConfig(app="", stack_file=display).problem(
            "clusters", f"cannot read the stack's config ({err.strerror})", "give --stack the name of a stack "
                                                                            "of this project")]) from None
    raw = config.get(f"{PROJECT}:clusters")
    if isinstance(raw, dict):  # drop the secrets: they cannot be read here, and names and labels are not secret
        raw = {name: {k: v for k, v in (entry or {}).items() if not (isinstance(v, dict) and "secure" in v)}
               if isinstance(entry, dict) else entry for name, entry in raw.items()}
    problems: list = []
    clusters = read_clusters(raw, StageConfig(app="", project=PROJECT, stack_file=display), problems)
    if problems:
        raise ConfigError(problems)
    return clusters


FLAGS = {"stage": "--stage", "approve": "--approve"}  # the config keys the offline commands take as flags
OFFLINE = "(flags)"  # the StageConfig.stack_file of an offline command: its problems speak of its flags


def in_flags(err: OamError, command: str) -> str:
    """An offline command's problems, told in the terms of its flags: ``render: --stage: must be from 1 to 4 (got
    9); --stage 4, or leave out --stage``, not the stack config key and pulumi config commands."""
    out = []
    for p in err.problems:
        key = p.path.split(":", 1)[-1]
        if p.file != OFFLINE or key not in FLAGS:
            out.append(str(p))
            continue
        hint = re.sub(r" && pulumi up\b", "", p.hint)
        hint = re.sub(r"pulumi config rm (\w+)", lambda m: f"leave out {FLAGS.get(m[1], m[1])}", hint)
        hint = re.sub(r"pulumi config set stage (\d+)", r"--stage \1", hint)
        hint = re.sub(r"pulumi config set approve ([\w.,-]+)",
                      lambda m: " ".join(f"--approve {n}" for n in m[1].split(",")), hint)
        out.append(str(Problem(command, None, FLAGS[key], p.message, hint)))
    return "\n".join(out)


def use_definitions(paths: list[str]) -> bool:
    """Read and register the users' definitions --definitions names (files or folders, relative to the current
    folder); False, after printing the problems, when they cannot be read."""
    from oam import userdefs

    try:
        users = userdefs.load(paths, Path("."), lambda path: Problem(
            "--definitions", None, "--definitions", f"'{path}' is not a file or folder",
            "give a file or folder of ComponentDefinition, TraitDefinition and PolicyDefinition objects"))
    except OamError as err:
        print(err, file=sys.stderr)
        return False
    for note in users.notes:
        print(f"note: {note}", file=sys.stderr)
    return True


def validate(files: list[str], stack: Optional[str] = None) -> int:
    """Every problem of every file, as pulumi preview reports them; 1 if any."""
    bad = 0
    try:
        clusters = stack_clusters(stack)
    except OamError as err:
        print(err, file=sys.stderr)
        return 1
    for file in files:
        try:
            app = read_application(Path(file), file)
            plan(app, History(), StageConfig(app=file, clusters=clusters), stack_known=False)
        except ReleaseError:
            pass  # a move only a stack's history decides (a rollback with nothing to roll back to)
        except OamError as err:
            print(err, file=sys.stderr)
            bad += 1
            continue
        print(f"{file}: ok")
    return 1 if bad else 0


def render(file: str, after: list[str], stage: Optional[int], approve: list[str], stack: Optional[str] = None,
           cluster: Optional[str] = None) -> int:
    """The manifests a stage applies, as YAML, for a stack that applied ``after`` (in full) before; with
    ``cluster``, only those of that cluster."""
    history = History()
    try:
        clusters = stack_clusters(stack)
        for earlier in after:
            history = plan(read_application(Path(earlier), earlier), history,
                           StageConfig(app=earlier, clusters=clusters)).resolution.history
        cfg = StageConfig(app=file, stage=stage, approve=tuple(approve), clusters=clusters, stack_file=OFFLINE)
        p = plan(read_application(Path(file), file), history, cfg)
    except OamError as err:
        print(in_flags(err, "render"), file=sys.stderr)
        return 1
    objects = [d for d in p.objects if cluster is None or (d.cluster or LOCAL) == cluster]
    if cluster is not None and not objects:
        known = sorted({d.cluster or LOCAL for d in p.objects})
        print(f"{file}: this stage deploys nothing to cluster '{cluster}' (it deploys to: {', '.join(known)})",
              file=sys.stderr)
        return 1
    print(where_it_stopped(p, file, stage), file=sys.stderr)
    yaml.safe_dump_all([d.manifest for d in objects], sys.stdout, sort_keys=False, allow_unicode=True)
    return 0


def where_it_stopped(p, file: str, stage: Optional[int]) -> str:
    """Which step a rendered stage stopped at, and why (on standard error: the manifests go to standard output)."""
    res = p.resolution
    head = f"render: {file}, release {res.release.n}"
    if not res.total:
        return f"{head}: no workflow, every component is deployed"
    ran = f"{res.executed} of {res.total} steps run"
    if res.phase == SUSPENDED and res.gate:
        if res.analysis is not None and res.analysis.step == res.gate:
            why = "a metric gate, which only a stack's pulumi up asks"
        elif res.data_wait:
            why = f"a step output ({res.data_wait})"
        elif res.gate_opens_at:
            why = f"a timed suspend (opens at {res.gate_opens_at}); --approve {res.gate} to render past it"
        else:
            why = f"it needs approval; --approve {res.gate} to render past it"
        return f"{head}: {ran}; stopped at step {res.executed + 1} '{res.gate}': {why}"
    if res.phase == SUCCEEDED:
        return f"{head}: all {res.total} steps run; the workflow is done"
    if res.phase == ROLLED_BACK:
        return f"{head}: {ran}; the release is rolled back"
    if stage is not None and res.executed >= stage:
        return f"{head}: {ran}; stopped by --stage {stage}"
    return f"{head}: {ran} ({res.phase})"


def traffic(file: Optional[str], after: list[str], stage: Optional[int], approve: list[str],
            namespace: Optional[str], kubeconfig: Optional[str], context: Optional[str], as_json: bool) -> int:
    """Who gets what traffic, per host, as Istio computes it: for a live namespace, or for a stage's render (its
    Deployments' pods taken as Ready). Exit 1 when a call would fail (no route, no cluster, no Ready endpoint)."""
    from oam import traffic as oracle

    try:
        binary = oracle.oracle()
    except oracle.OracleMissing as err:
        print(err, file=sys.stderr)
        return 2
    if file is not None:
        history = History()
        try:
            for earlier in after:
                history = plan(read_application(Path(earlier), earlier), history,
                               StageConfig(app=earlier)).resolution.history
            app = read_application(Path(file), file)
            p = plan(app, history, StageConfig(app=file, stage=stage, approve=tuple(approve), stack_file=OFFLINE))
        except OamError as err:
            print(in_flags(err, "traffic"), file=sys.stderr)
            return 1
        namespace = namespace or app.namespace
        objects = oracle.rendered_objects([d.manifest for d in p.objects], namespace)
    else:
        from oam.cluster import ProbeError

        namespace = namespace or "default"
        try:
            objects = oracle.live_objects(namespace, kubeconfig, context)
        except ProbeError as err:
            print(f"cannot read namespace {namespace}: {err}", file=sys.stderr)
            return 1
    result = oracle.run(objects, namespace, binary=binary)
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for line in oracle.report(result):
            print(line)
    bad = oracle.problems(result)
    for line in bad:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if bad else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oam", description="Checks and views of OAM Application files without a cluster (validate, "
        "render, schema, reference), who gets what traffic as Istio computes it (traffic), and a driver that runs "
        "pulumi up stage after stage while a release's gates open by themselves (advance).",
        epilog="python -m oam COMMAND --help tells more of each command.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check Application files as pulumi preview would; exit 1 on any problem")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--stack", help="check the cluster names against this stack's clusters config "
                                   "(stacks/Pulumi.STACK.yaml)")
    r = sub.add_parser("render", help="print the manifests of a stage as YAML")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--after", action="append", default=[], metavar="EARLIER",
                   help="an Application file the stack applied before (in full); repeat in order")
    r.add_argument("--stage", type=int, help="run at most this many workflow steps")
    r.add_argument("--approve", action="append", default=[], metavar="STEP", help="a suspend step approved")
    r.add_argument("--stack", help="the stack whose clusters config names the clusters (stacks/Pulumi.STACK.yaml)")
    r.add_argument("--cluster", help="only the objects of this cluster (local: the stack's own)")
    a = sub.add_parser("advance", help="run pulumi up stage after stage while the gates open by themselves "
                                       "(timed suspends, metric gates); stop at an approval, the end or a rollback")
    a.add_argument("--stack", help="the stack to drive (default: the selected one)")
    a.add_argument("--until", metavar="STEP", help="stop once this workflow step has run (pins the stage there)")
    a.add_argument("--interval", default="10s", help="how often to ask again while a metric gate waits (default 10s)")
    a.add_argument("--cwd", default=".", help="the project directory (default: the current one)")
    a.add_argument("--verbose", action="store_true", help="show the output of every pulumi up")
    t = sub.add_parser("traffic", help="who gets what traffic, per host, as Istio computes it: a live namespace, "
                                       "or a stage's render (FILE, with --after, --stage, --approve as render takes them)")
    t.add_argument("file", nargs="?", metavar="FILE", help="an Application file: its stage's render instead of the "
                                                          "live namespace")
    t.add_argument("--after", action="append", default=[], metavar="EARLIER",
                   help="an Application file the stack applied before (in full); repeat in order")
    t.add_argument("--stage", type=int, help="run at most this many workflow steps")
    t.add_argument("--approve", action="append", default=[], metavar="STEP", help="a suspend step approved")
    t.add_argument("--namespace", "-n", help="the namespace (default: the application's, or default when live)")
    t.add_argument("--kubeconfig", help="for a live namespace: the kubeconfig (default: KUBECONFIG, ~/.kube/config)")
    t.add_argument("--context", help="for a live namespace: the kubeconfig context")
    t.add_argument("--json", action="store_true", help="the oracle's whole answer, as JSON")
    sc = sub.add_parser("schema", help="print the JSON Schema of the Application format (for editors and CI)")
    ref = sub.add_parser("reference", help="print the reference page of every definition (Markdown)")
    for command in (v, r, t, sc, ref):
        command.add_argument("--definitions", action="append", default=[], metavar="PATH",
                             help="a file or folder of users' definitions (ComponentDefinition, TraitDefinition, "
                                  "PolicyDefinition in CUE), as the stack's definitions key names them; repeat for "
                                  "more")
    args = parser.parse_args(argv)
    if hasattr(args, "definitions") and not use_definitions(args.definitions):
        return 1  # (none given: only the built-in ones, whatever this process used before)
    if args.command == "validate":
        return validate(args.files, args.stack)
    if args.command == "render":
        return render(args.file, args.after, args.stage, args.approve, args.stack, args.cluster)
    if args.command == "traffic":
        return traffic(args.file, args.after, args.stage, args.approve, args.namespace, args.kubeconfig,
                       args.context, args.json)
    if args.command == "advance":
        from oam.advance import main as advance

        return advance(Path(args.cwd).resolve(), args.stack, args.until, args.interval, args.verbose)
    if args.command == "reference":
        from oam.reference import reference

        sys.stdout.write(reference())
        return 0
    json.dump(application_schema(), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
