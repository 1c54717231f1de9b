"""One table of where the time goes, everything measured side by side in one run.

    venv/bin/python tools/bench.py [--walks 3] [--scale 10,100] [--write docs/performance.md]

* Stages of the bookinfo tutorial: `pulumi up` against `kubectl apply --server-side` of the
  same manifests (`python -m oam render`) plus `kubectl rollout status` of their Deployments
  (the same readiness wait), in a namespace of its own; the ratio. Then a no-change
  `pulumi up` and `pulumi preview`, and the driver (`python -m oam advance`) on the same
  no-change stage against a plain `pulumi up`: its overhead per stage.
* Program evaluation under Pulumi's mocks against the bare import floor (importing pulumi
  and the pulumi_kubernetes modules the program uses), each in a fresh interpreter.
* Waves: the first deploy of an application of N components to one cluster, and to two clusters in
  one wave (a topology naming both; a second local cluster started beside the first), alternating.
* Scale: applications of N components (webservice + expose), evaluated under mocks, then
  `pulumi preview` (also with PULUMI_SKIP_CHECKPOINTS) and `pulumi up` of a new stack on the
  local cluster, with peak memory.

Real CLI, provider and local kube-apiserver, as in the end-to-end suite (tools/cluster.sh).
Medians of --walks runs; the machines are shared, so only numbers of one run are compared.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CACHE, Kube, make_project, start_cluster, stop_cluster, with_pulumi  # noqa: E402

PY = str(ROOT / "venv" / "bin" / "python")
FIRST, ROLLOUT, ROLLBACK = ("examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml",
                            "examples/bookinfo/rollback.yaml")
# stage name, config for pulumi, (file, --after files, --approve) for the kubectl baseline
STAGES = [
    ("first deploy", {"app": FIRST}, (FIRST, [], [])),
    ("rollout 10%", {"app": ROLLOUT}, (ROLLOUT, [FIRST], [])),
    ("approved 100%", {"approve": "manual-approval"}, (ROLLOUT, [FIRST], ["manual-approval"])),
    ("rollback", {"app": ROLLBACK}, (ROLLBACK, [FIRST, ROLLOUT], ["manual-approval"])),
]
KUBECTL_NS = "bench-kubectl"


def timed(args: list[str], env: dict, cwd: Path = ROOT, stdin: str = "") -> tuple[float, int, str]:
    """(seconds, peak RSS in MB of the process and what it waited for, stdout)."""
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = int(proc.stderr.strip().splitlines()[-1]) // 1024
    return seconds, peak, proc.stdout


def rendered(file: str, after: list[str], approve: list[str], env: dict) -> list[dict]:
    args = [PY, "-m", "oam", "render", file] + [a for f in after for a in ("--after", f)] + \
        [a for s in approve for a in ("--approve", s)]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    import yaml
    docs = [d for d in yaml.safe_load_all(out) if d]
    for d in docs:
        d["metadata"]["namespace"] = KUBECTL_NS
    return docs


def kubectl_stage(docs: list[dict], previous: list[dict], env: dict) -> float:
    """apply --server-side, delete what the stage no longer has, wait for every Deployment's rollout."""
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    gone = [d for d in previous if key(d) not in {key(x) for x in docs}]
    start = time.monotonic()
    subprocess.run(["kubectl", "apply", "--server-side", "--force-conflicts", "-f", "-"], input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": docs}), env=env, capture_output=True, text=True, check=True)
    for d in docs:
        if d["kind"] == "Deployment":
            subprocess.run(["kubectl", "rollout", "status", "-n", KUBECTL_NS, f"deployment/{d['metadata']['name']}",
                            "--timeout=300s"], env=env, capture_output=True, check=True)
    for d in gone:
        subprocess.run(["kubectl", "delete", "-n", KUBECTL_NS, _resource(d), d["metadata"]["name"], "--wait=false"],
                       env=env, capture_output=True, check=True)
    return time.monotonic() - start


def _resource(d: dict) -> str:
    group = d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else ""
    plural = d["kind"].lower() + "s"
    return f"{plural}.{group}" if group and group != "apps" else plural


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def stages(penv: dict, base: Path, walks: int) -> list[str]:
    pulumi_t: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    kubectl_t: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    nochange, preview, driver = [], [], []
    kube = Kube(penv)
    for walk in range(walks):
        kube.kubectl("create", "namespace", KUBECTL_NS, check=False)
        project = make_project(base / f"walk{walk}", penv, f"bench{walk}")
        previous: list[dict] = []
        for name, config, (file, after, approve) in STAGES:
            project.config(**config)
            up = project.up(name)
            if not up.ok:
                raise SystemExit(f"{name} failed:\n{up.output}")
            pulumi_t[name].append(up.seconds)
            docs = rendered(file, after, approve, penv)
            kubectl_t[name].append(kubectl_stage(docs, previous, penv))
            previous = docs
            print(f"walk {walk + 1} {name}: pulumi {up.seconds:.1f}s, kubectl {kubectl_t[name][-1]:.2f}s", flush=True)
        nochange.append(project.up("no change").seconds)
        start = time.monotonic()
        project.pulumi("preview")
        preview.append(time.monotonic() - start)
        # The driver on the same no-change stage: one pulumi up through the Automation API, and the status read.
        start = time.monotonic()
        run = subprocess.run([PY, "-m", "oam", "advance", "--stack", project.stack], cwd=project.dir, env=penv,
                             capture_output=True, text=True, timeout=900)
        if run.returncode != 3:  # the walk ends rolled back: the driver stops there
            raise SystemExit(f"python -m oam advance: exit {run.returncode}\n{run.stdout}\n{run.stderr}")
        driver.append(time.monotonic() - start)
        project.pulumi("destroy", "--yes")
        kube.kubectl("delete", "namespace", KUBECTL_NS, "--wait=true", "--timeout=120s", check=False)
    rows = ["| stage | pulumi up | kubectl apply + rollout status | ratio |", "| --- | --- | --- | --- |"]
    for name, _, _ in STAGES:
        p, k = median(pulumi_t[name]), median(kubectl_t[name])
        rows.append(f"| {name} | {p:.1f} s | {k:.2f} s | {p / k:.1f}x |")
    k_nochange = median(kubectl_t[STAGES[-1][0]])
    rows.append(f"| no change: pulumi up | {median(nochange):.1f} s | {k_nochange:.2f} s (the last stage again) | "
                f"{median(nochange) / k_nochange:.1f}x |")
    rows.append(f"| no change: pulumi preview | {median(preview):.1f} s | | |")
    rows.append(f"| no change: python -m oam advance (one pulumi up) | {median(driver):.1f} s | "
                f"{median(nochange):.1f} s (pulumi up) | {median(driver) / median(nochange):.2f}x |")
    return rows


def evaluation(walks: int) -> list[str]:
    # The floor: what the program cannot run without, pulumi and the provider package (for its version).
    # The program no longer imports the provider's typed classes; importing them is shown for comparison.
    floor_code = "import pulumi, pulumi_kubernetes._utilities"
    typed_code = "import pulumi, pulumi_kubernetes.apps.v1, pulumi_kubernetes.core.v1, pulumi_kubernetes.apiextensions"
    eval_code = ("from tests.harness import run_stage; r = run_stage({'app': 'examples/bookinfo/first-deploy.yaml'}); "
                 "assert r.error is None, r.error")
    env = dict(os.environ)
    floor, typed, program = [], [], []
    for _ in range(walks):  # alternating, so that the machine's load falls on all three alike
        floor.append(timed([PY, "-c", floor_code], env)[0])
        typed.append(timed([PY, "-c", typed_code], env)[0])
        program.append(timed([PY, "-c", eval_code], env)[0])
    return ["| program evaluation (bookinfo, under mocks) | import floor (pulumi, pulumi_kubernetes) | ratio | "
            "importing the provider's typed classes too |", "| --- | --- | --- | --- |",
            f"| {median(program):.2f} s | {median(floor):.2f} s | {median(program) / median(floor):.2f}x | "
            f"{median(typed):.2f} s |"]


def user_app(n: int, own: bool) -> str:
    """N components of a user's component type with a user's trait (examples/user-definitions), or (``own``
    False) of the program's webservice with the same trait."""
    kind = "site" if own else "webservice"
    port = "port: 8080" if not own else "replicas: 1"
    comps = "".join(f"""    - name: c{i}
      type: {kind}
      properties:
        image: registry.example.com/defs/c{i}:1
        {port}
      traits:
        - type: log-shipper
          properties:
            destination: logs.example.com:{514 + i}
""" for i in range(n))
    return f"apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: defs\nspec:\n  components:\n{comps}"


def definitions(walks: int, n: int = 20) -> list[str]:
    """A stage of N components that use users' definitions (a component type and a trait in CUE), against N of the
    program's own type with the same CUE trait and against N with built-in definitions alone (webservice and
    sidecar): the program's whole evaluation under mocks, each in a fresh interpreter, alternating."""
    defs = "examples/user-definitions/definitions"
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, text in (("user", user_app(n, True)), ("trait", user_app(n, False)),
                            ("builtin", user_app(n, False).replace("type: log-shipper", "type: sidecar").replace(
                                "destination: logs.example.com:", "name: shipper\n            image: "
                                                                 "registry.example.com/shipper:"))):
            files[label] = Path(tmp) / f"{label}.yaml"
            files[label].write_text(text)
        code = ("from tests.harness import run_stage; r = run_stage({{'app': {app!r}, 'definitions': [{defs!r}]}}); "
                "assert r.error is None, r.error")
        times: dict[str, list[float]] = {k: [] for k in files}
        env = dict(os.environ)
        subprocess.run(["bash", str(ROOT / "tools" / "build-cue.sh")], check=True, stdout=subprocess.DEVNULL)
        for _ in range(walks):
            for label, path in files.items():
                times[label].append(timed([PY, "-c", code.format(app=str(path), defs=defs)], env)[0])
    user, trait, builtin = (median(times[k]) for k in ("user", "trait", "builtin"))
    return [f"| {n} components: users' type + users' trait (CUE) | webservice + users' trait | webservice + sidecar "
            "(built-in) | added per component (users' type and trait) |", "| --- | --- | --- | --- |",
            f"| {user:.2f} s | {trait:.2f} s | {builtin:.2f} s | {(user - builtin) / n * 1000:.0f} ms |"]


def scale_app(n: int) -> str:
    comps = "".join(f"""    - name: c{i}
      type: webservice
      properties:
        image: registry.example.com/scale/c{i}:1
        port: 8080
      traits:
        - type: expose
          properties:
            port: [8080]
""" for i in range(n))
    return f"apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: scale\n  namespace: scale\nspec:\n  components:\n{comps}"


def wave_app(n: int, clusters: list[str]) -> str:
    """scale_app's components, sent by one topology to ``clusters``."""
    return scale_app(n).replace("name: scale\n", "name: wave\n", 1).replace("namespace: scale", "namespace: wave") + (
        f"  policies:\n    - name: where\n      type: topology\n      properties:\n"
        f"        clusters: [{', '.join(clusters)}]\n")


def waves(penv: dict, base: Path, walks: int, n: int) -> list[str]:
    """pulumi up of a first deploy to one cluster against the same to two clusters in one wave."""
    second = start_cluster(CACHE / "bench-cluster-b")
    one, two = [], []
    try:
        for walk in range(walks):
            for label, clusters, times in (("one", ["a"], one), ("two", ["a", "b"], two)):
                project = make_project(base / f"wave-{label}-{walk}", penv, f"wave{label}{walk}")
                for name, kubeconfig in (("a", penv["KUBECONFIG"]), ("b", second["KUBECONFIG"])):
                    project.pulumi("config", "set", "--path", f"clusters.{name}.kubeconfig", kubeconfig)
                (project.dir / "examples" / "wave.yaml").write_text(wave_app(n, clusters))
                project.config(app="examples/wave.yaml", readyTimeout="20m")
                seconds, _, _ = timed(["pulumi", "up", "--yes", "--skip-preview", "--stack", project.stack,
                                       "--non-interactive"], penv, project.dir)
                times.append(seconds)
                print(f"walk {walk + 1} wave to {label} cluster(s): {seconds:.1f}s", flush=True)
                project.pulumi("destroy", "--yes", timeout=3600)
    finally:
        stop_cluster(second)
    return [f"| first deploy of {n} components | one cluster | two clusters, one wave | ratio |",
            "| --- | --- | --- | --- |",
            f"| pulumi up | {median(one):.1f} s | {median(two):.1f} s | {median(two) / median(one):.2f}x |"]


def scale(penv: dict, base: Path, sizes: list[int]) -> list[str]:
    rows = ["| components (resources) | evaluation under mocks | peak MB | pulumi preview | peak MB | "
            "pulumi preview, PULUMI_SKIP_CHECKPOINTS | pulumi up | peak MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        project = make_project(base / f"scale{n}", penv, f"scale{n}")
        (project.dir / "examples" / "scale.yaml").write_text(scale_app(n))
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.harness import run_stage; "
                f"r = run_stage({{'app': {str(project.dir / 'examples' / 'scale.yaml')!r}}}); "
                "assert r.error is None, r.error; print(len(r.resources))")
        e_s, e_mb, out = timed([PY, "-c", code], dict(os.environ))
        resources = int(out.strip().splitlines()[-1])
        project.config(app="examples/scale.yaml", readyTimeout="20m")
        p_s, p_mb, _ = timed(["pulumi", "preview", "--stack", project.stack, "--non-interactive"], penv, project.dir)
        # The same preview without the engine's snapshot after every step (see docs/performance.md).
        s_s, _, _ = timed(["pulumi", "preview", "--stack", project.stack, "--non-interactive"],
                          {**penv, "PULUMI_SKIP_CHECKPOINTS": "true"}, project.dir)
        u_s, u_mb, _ = timed(["pulumi", "up", "--yes", "--skip-preview", "--stack", project.stack, "--non-interactive"],
                             penv, project.dir)
        rows.append(f"| {n} ({resources}) | {e_s:.1f} s | {e_mb} | {p_s:.1f} s | {p_mb} | {s_s:.1f} s | {u_s:.1f} s | "
                    f"{u_mb} |")
        print(rows[-1], flush=True)
        project.pulumi("destroy", "--yes", timeout=3600)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=3)
    parser.add_argument("--scale", default="10,100", help="component counts, comma-separated (1000 takes minutes)")
    parser.add_argument("--waves", type=int, default=10, help="components of the waves' application (0: skip)")
    parser.add_argument("--only", choices=("waves", "definitions"), help="only this part")
    parser.add_argument("--write", metavar="FILE", help="also write the table there, dated (docs/performance.md)")
    args = parser.parse_args()
    # The program's bytecode, as tools/setup-python.sh writes it: the SDKs it is measured against are compiled.
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "oam")], check=True, stdout=subprocess.DEVNULL)
    if args.only == "definitions":  # no cluster: the program's evaluation alone
        print("\n".join(definitions(args.walks)))
        return
    env = start_cluster(CACHE / "bench-cluster")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "home").mkdir()
            (base / "state").mkdir()
            penv = with_pulumi(env, base / "home", base / "state")
            out = [f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
                   f"median of {args.walks} (`tools/bench.py --walks {args.walks} --scale {args.scale}`).", ""]
            if args.only != "waves":
                out += stages(penv, base, args.walks) + [""]
                out += evaluation(args.walks) + [""]
                out += definitions(args.walks) + [""]
            if args.waves:
                out += waves(penv, base, args.walks, args.waves) + [""]
            if args.scale and args.only != "waves":
                out += scale(penv, base, [int(n) for n in args.scale.split(",")])
    finally:
        stop_cluster(env)
    table = "\n".join(out) + "\n"
    print("\n" + table)
    if args.write:
        path = ROOT / args.write
        path.parent.mkdir(parents=True, exist_ok=True)
        start, end = "<!-- bench table -->\n", "<!-- end of bench table -->\n"
        text = path.read_text() if path.exists() else ""
        if start in text and end in text:  # the table is replaced; what the page says around it stays
            head, rest = text.split(start, 1)
            path.write_text(head + start + table + end + rest.split(end, 1)[1])
        else:
            path.write_text("# Performance\n\nThe latest table of `tools/bench.py`; earlier ones are in git "
                            "history.\n\n" + start + table + end)


if __name__ == "__main__":
    main()
