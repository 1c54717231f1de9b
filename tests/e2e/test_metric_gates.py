"""Metric gates end to end: the real pulumi CLI and cluster, a real Prometheus scraping Istio's metrics.

The exporter (tests/metrics_exporter.py) serves istio_requests_total and
istio_request_duration_milliseconds for the workloads the test names, at the rates and
error ratios it sets; Prometheus scrapes it every second. Every assertion on the cluster
reads the live API or the engine's event log; the status output is read where it is the
thing under test. The driver (`python -m oam advance`) runs as a user runs it.
"""
from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Kube, Metrics, Project, make_project
from tests.e2e.test_tutorial import assert_converged

NS = "analysed"
DURATION, FAIL = 12, 20  # seconds: the gate passes after 12 s met, rolls back after 20 s broken (a loaded
# machine takes more than 8 s between a stage and the next pulumi up that must find the gate undecided)

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: web
  namespace: analysed
spec:
  components:
    - name: frontend
      type: webservice
      properties:
        image: registry.example.com/shop/frontend:{version}
        port: 8080
      traits:
        - type: canary-traffic
          properties:
            port: [8080]
        - type: rollout
          properties:
            targetSize: 4
            rolloutBatches:
              - replicas: 1
              - replicas: 3
{workflow}"""

WORKFLOW = """  workflow:
    steps:
      - name: canary
        type: canary-rollout
        properties:
          batchPartition: 0
          traffic:
            weightedTargets:
              - revision: frontend-v{old}
                weight: 90
              - revision: frontend-v{new}
                weight: 10
      - name: success-rate
        type: check-metrics
        properties:
          metric: request-success-rate
          interval: 5s
          duration: {duration}s
          failDuration: {fail}s
      - name: rest
        type: canary-rollout
        properties:
          batchPartition: 1
"""


def write_app(project: Project, name: str, version: str, old: int = 0, new: int = 0) -> str:
    workflow = WORKFLOW.format(old=old, new=new, duration=DURATION, fail=FAIL) if new else ""
    path = project.dir / "apps" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(APP.format(version=version, workflow=workflow))
    return f"apps/{name}"


def frontend(kube: Kube) -> dict:
    """What the cluster runs: (replicas, Ready) per revision and the route's weights."""
    out = {}
    for rev in ("frontend-v1", "frontend-v2", "frontend-v3"):
        d = kube.get("deployment", rev)
        if d is not None:
            out[rev] = (d["spec"]["replicas"], d["status"].get("readyReplicas", 0))
    vs = kube.get("virtualservices.networking.istio.io", "frontend")
    out["routes"] = {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}
    return out


@pytest.fixture(scope="module")
def web(pulumi_env, tmp_path_factory, kube: Kube) -> Project:
    kube.release_new_pods()
    p = make_project(tmp_path_factory.mktemp("metric-gates") / "project", pulumi_env, "gates")
    p.config(app=write_app(p, "v1.yaml", "1.0.0"))
    assert_converged(p, p.up("v1"))
    kube_ns = Kube(p.env, namespace=NS, istioctl=kube.istioctl)
    yield p, kube_ns
    p.pulumi("destroy", "--yes", check=False)


def advance(project: Project, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "venv" / "bin" / "python"), "-m", "oam", "advance", "--stack", project.stack,
                           *args], cwd=project.dir, env=project.env, capture_output=True, text=True, timeout=timeout)


def start_driver(project: Project, log: Path) -> subprocess.Popen:
    """`python -m oam advance` in the background, its output (not a terminal) going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen([str(ROOT / "venv" / "bin" / "python"), "-m", "oam", "advance", "--stack",
                                 project.stack], cwd=project.dir, env=project.env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_line(driver: subprocess.Popen, log: Path, text: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while text not in log.read_text():
        assert driver.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.1)


def gate_started(project: Project) -> float:
    analysis = project.status()["frontend"]["analysis"]
    return datetime.strptime(analysis["started"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_1_a_healthy_canary_passes_its_gate_and_completes_with_the_driver(web, metrics: Metrics):
    project, kube = web
    metrics.exporter.set_traffic("frontend-v2", NS, rps=20, error_ratio=0.0, latency_ms=30)
    project.config(app=write_app(project, "v2.yaml", "2.0.0", old=1, new=2), prometheusUrl=metrics.prometheus.url)
    up = project.up("v2-canary")
    assert_converged(project, up, kube)
    assert frontend(kube) == {"frontend-v1": (3, 3), "frontend-v2": (1, 1),
                              "routes": {"frontend-v1": 90, "frontend-v2": 10}}
    status = project.status()["frontend"]
    assert status["waiting"] == "success-rate (metric analysis)" and status["analysis"]["state"] == "pending"
    window_end = gate_started(project) + DURATION

    run = advance(project, "--interval", "3s")
    finished = time.time()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "release complete" in run.stdout
    assert "check-metrics 'success-rate' passed: request-success-rate of frontend-v2 met >=99" in run.stdout
    # the old revision keeps a Deployment at 0 pods until the next release (a rollback is one safe step)
    assert frontend(kube) == {"frontend-v1": (0, 0), "frontend-v2": (4, 4), "routes": {"frontend-v2": 100}}
    kube.assert_istio_agrees()
    assert project.preview_no_changes().returncode == 0
    status = project.status()["frontend"]
    assert status["phase"] == "succeeded"
    # measured for the closing note: from the end of the window to the driver's end (the deciding
    # pulumi up applies the rest of the rollout), and the driver's own time per pulumi up
    print(f"\n[measure] decision after window: {finished - window_end:.1f} s; driver log:\n{run.stdout}")
    assert finished - window_end < 60


def test_2_an_unhealthy_canary_rolls_back_by_itself_in_the_safe_order(web, metrics: Metrics):
    project, kube = web
    metrics.exporter.set_traffic("frontend-v3", NS, rps=20, error_ratio=0.4, latency_ms=30)
    project.config(app=write_app(project, "v3.yaml", "3.0.0", old=2, new=3), prometheusUrl=metrics.prometheus.url)
    assert_converged(project, project.up("v3-canary"), kube)
    assert frontend(kube) == {"frontend-v2": (3, 3), "frontend-v3": (1, 1),
                              "routes": {"frontend-v2": 90, "frontend-v3": 10}}
    # it cannot decide before failDuration: an up now changes nothing
    early = project.up("v3-early")
    assert early.ok and early.ops() == {}, early.ops()
    assert "rolls back at" in project.status()["frontend"]["analysis"]["summary"]

    time.sleep(max(0.0, gate_started(project) + FAIL + 3 - time.time()))
    back = project.up("v3-rolled-back")
    assert back.ok, back.output
    assert frontend(kube) == {"frontend-v2": (4, 4), "routes": {"frontend-v2": 100}}
    # the stable revision is Ready with all pods before the route leaves the canary; the canary goes after
    assert back.finished_before_started("web-frontend-v2", "web-frontend-virtualservice")
    assert back.finished_before_started("web-frontend-virtualservice", "web-frontend-v3")
    assert back.ops()["web-frontend-v3"] == "delete"
    status = project.status()["frontend"]
    assert status["phase"] == "rolled back"
    assert "request-success-rate of frontend-v3 was 60, not >=99" in status["rolledBackBy"], status
    assert status["next"].startswith("pulumi config set retry 3 && pulumi up")
    kube.assert_istio_agrees()

    # it stays rolled back: the canary healthy again does not restart it by itself
    metrics.exporter.set_traffic("frontend-v3", NS, rps=20, error_ratio=0.0, latency_ms=30)
    again = project.up("v3-stays")
    assert again.ok and again.ops() == {}, again.ops()
    assert project.preview_no_changes().returncode == 0


def test_3_prometheus_down_changes_nothing(web, metrics: Metrics):
    project, kube = web
    project.config(retry=3, prometheusUrl=metrics.prometheus.url)  # try release 3 (frontend-v3) again
    assert_converged(project, project.up("v3-retry"), kube)
    assert frontend(kube)["routes"] == {"frontend-v2": 90, "frontend-v3": 10}
    before = frontend(kube)
    metrics.prometheus.stop()
    time.sleep(DURATION + 2)
    down = project.up("prometheus-down")
    assert down.ok, down.output
    assert down.ops() == {}, down.ops()
    assert "cannot be reached" in down.output and "neither a pass nor a failure" in down.output
    assert project.status()["frontend"]["analysis"]["state"] == "error"
    assert frontend(kube) == before
    preview = project.preview_no_changes()
    assert preview.returncode == 0, preview.stdout[-3000:]

    metrics.prometheus.start()
    project.config(approve="success-rate", retry=None)  # a person promotes by hand
    assert_converged(project, project.up("promoted"), kube)
    assert frontend(kube) == {"frontend-v2": (0, 0), "frontend-v3": (4, 4), "routes": {"frontend-v3": 100}}


def test_4_the_driver_walks_the_shop_example_to_the_end(pulumi_env, tmp_path, kube: Kube):
    shop = make_project(tmp_path / "project", pulumi_env, "walk")
    try:
        shop.config(app="examples/shop/v1.yaml")
        first = advance(shop)
        assert first.returncode == 0 and "release complete" in first.stdout, first.stdout + first.stderr
        shop.config(app="examples/shop/v2.yaml")
        first_batch = advance(shop, "--until", "first-batch")
        assert first_batch.returncode == 0, first_batch.stdout + first_batch.stderr
        assert "reached step 1/6 first-batch; the stage stays pinned at 1" in first_batch.stdout
        assert shop.pulumi("config", "get", "stage").stdout.strip() == "1"
        shop.config(stage=None)
        at_gate = advance(shop)
        assert at_gate.returncode == 2, at_gate.stdout + at_gate.stderr
        assert "waiting for an approval at 'check-first-batch'" in at_gate.stdout
        shop.config(approve="check-first-batch")
        started = time.time()
        soaked = advance(shop)  # the second batch, then the 30 s timed gate, then the next approval
        assert soaked.returncode == 2, soaked.stdout + soaked.stderr
        assert time.time() - started >= 30 and "waiting for an approval at 'check-second-batch'" in soaked.stdout
        assert soaked.stdout.count("] pulumi up (") == 2, soaked.stdout  # to the timed gate, then past it
        shop.config(approve="check-first-batch,check-second-batch")
        end = advance(shop)
        assert end.returncode == 0 and "release complete" in end.stdout, end.stdout + end.stderr
        cart = kube.get("virtualservices.networking.istio.io", "cart")["spec"]["http"][0]["route"]
        assert [(r["destination"]["subset"], r.get("weight", 100)) for r in cart] == [("cart-v2", 100)]
        assert kube.ready("cart-v2") == (3, 3) and kube.ready("cart-v1") == (0, 0)
        assert shop.preview_no_changes().returncode == 0
    finally:
        shop.pulumi("destroy", "--yes", check=False)


def test_5_ctrl_c_while_the_driver_waits_stops_it_and_leaves_the_stack_as_it_was(pulumi_env, tmp_path, kube: Kube):
    shop = make_project(tmp_path / "project", pulumi_env, "interrupt")
    try:
        shop.config(app="examples/shop/v1.yaml")
        assert shop.up("v1").ok
        shop.config(app="examples/shop/v2.yaml", approve="check-first-batch")
        log = tmp_path / "advance.log"
        driver = start_driver(shop, log)
        wait_for_line(driver, log, "opens in")  # it has applied the stage and waits for the timed gate
        sent = time.time()
        driver.send_signal(signal.SIGINT)
        code = driver.wait(timeout=60)
        took = time.time() - sent
        text = log.read_text()
        assert code == 130, text
        assert took < 5, f"the driver took {took:.1f} s to stop while waiting"
        assert "stopped while waiting at 'soak'" in text, text
        status = shop.status()["cart"]
        assert status["step"] == "4/6 soak" and status["phase"] == "suspended"
        assert shop.preview_no_changes().returncode == 0
    finally:
        shop.pulumi("destroy", "--yes", check=False)


def test_6_ctrl_c_during_a_pulumi_up_lets_it_finish_then_stops(pulumi_env, tmp_path, kube: Kube):
    shop = make_project(tmp_path / "project", pulumi_env, "interrupt-up")
    try:
        shop.config(app="examples/shop/v1.yaml")
        log = tmp_path / "advance.log"
        driver = start_driver(shop, log)
        wait_for_line(driver, log, "advancing stack")
        time.sleep(1.0)  # the first deploy's pulumi up is running now (it takes seconds)
        driver.send_signal(signal.SIGINT)
        code = driver.wait(timeout=300)
        text = log.read_text()
        assert code == 130, text
        assert "the pulumi up in progress finishes first" in text and "] pulumi up (" in text, text
        assert "stopped after this pulumi up" in text
        assert shop.status()["cart"]["phase"] == "succeeded"
        assert kube.ready("cart-v1") == (3, 3)
        assert shop.preview_no_changes().returncode == 0
    finally:
        shop.pulumi("destroy", "--yes", check=False)
