"""Metric gates (check-metrics): the verdict of a window, the Prometheus client, and the stages under mocks.

The stages run the program under Pulumi's mocks with a metric source the test controls;
tests/e2e/test_metric_gates.py runs the same against a real Prometheus and cluster.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Callable, Optional

import pytest

from oam.kit.metrics import Condition
from oam.metrics import FAILED, PASSED, PENDING, MetricsError, Prometheus, judge
from tests.harness import Clock, StageRun, run_stage

EXAMPLE = "examples/definitions/step-check-metrics.yaml"
T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)
GE99 = Condition.parse(">=99")


# --- the verdict of a window ---------------------------------------------------------------------


def points(*values: Optional[float], step: float = 10, start: float = 1000) -> list[tuple[float, Optional[float]]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def test_a_condition_held_for_its_duration_passes_at_that_point():
    v = judge(points(100, 99.5, 99, 100, 100, 98), GE99, duration=30, fail_duration=60)
    assert (v.state, v.since, v.at, v.low, v.high) == (PASSED, 1000, 1030, 99, 100)


def test_a_condition_broken_for_fail_duration_fails_with_its_values():
    v = judge(points(100, 80, 70, 75, 100), GE99, duration=60, fail_duration=20)
    assert (v.state, v.since, v.at, v.value, v.low, v.high) == (FAILED, 1010, 1030, 75, 70, 80)


def test_the_first_run_long_enough_decides():
    # broken 1010..1030 (20 s, enough to fail) before it ever holds 30 s
    assert judge(points(100, 50, 50, 50, 100, 100, 100, 100), GE99, duration=30, fail_duration=20).state == FAILED
    # a break shorter than failDuration restarts the passing run, it does not fail
    v = judge(points(100, 100, 50, 100, 100, 100), GE99, duration=30, fail_duration=20)
    assert (v.state, v.holds, v.since, v.at) == (PENDING, True, 1030, 1060)


def test_no_data_is_neither_pass_nor_fail_and_breaks_a_run():
    assert judge([], GE99, 30, 20) .state == PENDING
    v = judge(points(50, 50, None, 50, 50), GE99, duration=30, fail_duration=30)
    assert (v.state, v.holds, v.since) == (PENDING, False, 1030), "the break of data restarted the failing run"
    v = judge(points(100, None), GE99, 30, 30)
    assert (v.state, v.holds, v.value) == (PENDING, None, None)


@pytest.mark.parametrize("text, value, holds", [(">=0.95", 0.95, True), ("<500", 500, False), ("==1", 1.0, True),
                                                ("!= 0", 0, False), ("> -1e3", -999, True), ("<=2.5", 2.6, False)])
def test_conditions_as_kubevela_writes_them(text, value, holds):
    assert Condition.parse(text).holds(value) is holds


@pytest.mark.parametrize("text", ["0.95", ">= ", "=>1", ">=0.9 && <1", "> one", ""])
def test_what_is_not_a_condition(text):
    assert Condition.parse(text) is None


# --- the Prometheus client, against an HTTP server of the test ------------------------------------


class _Answer(BaseHTTPRequestHandler):
    reply: Callable[[dict], tuple[int, object]] = staticmethod(lambda form: (200, {}))
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - the standard library's name
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        type(self).seen.append({"path": self.path, **form})
        code, body = type(self).reply(form)
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def prometheus_api():
    handler = type("Handler", (_Answer,), {"seen": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def matrix(*series: list) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"pod": f"p{i}"}, "values": [[t, str(v)] for t, v in s]} for i, s in enumerate(series)]}}


def test_the_client_reads_one_series_over_the_window(prometheus_api):
    handler, url = prometheus_api
    handler.reply = staticmethod(lambda form: (200, matrix([(100, 99.5), (110, "NaN"), (120, 100)])))
    got = Prometheus().series(url + "/", "up", 100, 120, 5)
    assert got == [(100.0, 99.5), (110.0, None), (120.0, 100.0)]
    sent = handler.seen[-1]
    assert (sent["path"], sent["query"], sent["start"], sent["end"], sent["step"]) == (
        "/api/v1/query_range", "up", "100.000", "120.000", "5.000")


def test_the_client_says_what_is_wrong(prometheus_api):
    handler, url = prometheus_api
    handler.reply = staticmethod(lambda form: (200, matrix([(1, 1)], [(1, 2)])))
    with pytest.raises(MetricsError, match="returns 2 series .*it must return one: aggregate it"):
        Prometheus().series(url, "up", 0, 1, 1)
    handler.reply = staticmethod(lambda form: (400, {"status": "error", "errorType": "bad_data",
                                                     "error": "parse error at char 4"}))
    with pytest.raises(MetricsError, match=r"refused the query \(400\): parse error at char 4"):
        Prometheus().series(url, "up{", 0, 1, 1)
    handler.reply = staticmethod(lambda form: (200, "<html>proxy</html>"))
    with pytest.raises(MetricsError, match="did not answer as Prometheus does"):
        Prometheus().series(url, "up", 0, 1, 1)
    handler.reply = staticmethod(lambda form: (200, matrix()))
    assert Prometheus().series(url, "up", 0, 1, 1) == []


def test_an_unreachable_prometheus_is_an_error_not_an_answer():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(MetricsError, match=f"Prometheus at http://127.0.0.1:{port} cannot be reached"):
        Prometheus(timeout=2).series(f"http://127.0.0.1:{port}", "up", 0, 1, 1)


# --- the stages, under mocks ---------------------------------------------------------------------


class FakeMetrics:
    """Prometheus as the test wants it: ``values(t)`` gives the value at unix time t (None: no data)."""

    def __init__(self):
        self.values: Callable[[float], Optional[float]] = lambda t: 100.0
        self.error: Optional[str] = None
        self.queries: list[tuple[str, str, float, float, float]] = []

    def series(self, endpoint, query, start, end, step):
        self.queries.append((endpoint, query, start, end, step))
        if self.error:
            raise MetricsError(self.error)
        out, t = [], start
        while t <= end:
            out.append((t, self.values(t)))
            t += step
        return out


@pytest.fixture
def metrics():
    return FakeMetrics()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: int) -> float:
    return at(seconds).timestamp()


def first_deploy(tmp_path) -> StageRun:
    text = open(EXAMPLE).read().replace(":1.5.0", ":1.4.0").split("  workflow:")[0]
    (tmp_path / "first.yaml").write_text(text)
    run = run_stage({"app": str(tmp_path / "first.yaml")})
    assert run.error is None, run.error
    return run


def numbers(run: StageRun) -> tuple[dict, dict]:
    deployments = {n.removeprefix("web-"): r.inputs["spec"]["replicas"]
                   for n, r in run.of_kind("Deployment").items()}
    route = run.manifest("web-frontend-virtualservice")["spec"]["http"][0]["route"]
    return deployments, {d["destination"]["subset"]: d["weight"] for d in route}


def inputs(run: StageRun) -> dict:
    return {n: r.inputs for n, r in run.resources.items()}


def canary(tmp_path, clock, **config) -> StageRun:
    clock.at = T0
    run = run_stage({"app": EXAMPLE, **config}, first_deploy(tmp_path), clock=clock)
    assert run.error is None, run.error
    assert numbers(run) == ({"frontend-v1": 3, "frontend-v2": 1}, {"frontend-v1": 90, "frontend-v2": 10})
    return run


def test_the_stage_before_the_gate_starts_the_analysis_without_a_query(tmp_path, clock, metrics):
    run = canary(tmp_path, clock)
    status = run.outputs["status"]["frontend"]
    assert status["phase"] == "suspended" and status["step"] == "2/4 success-rate"
    assert status["waiting"] == "success-rate (metric analysis)"
    assert status["analysis"]["state"] == "pending" and status["analysis"]["started"] == "2026-11-29T12:00:00Z"
    assert "starts with this stage" in status["analysis"]["summary"]
    assert "python -m oam advance" in status["next"] and "approve success-rate" in status["next"]
    assert metrics.queries == [], "nothing to query before the stage has run"
    assert json.loads(run.state)["gates"] == {"success-rate": "2026-11-29T12:00:00Z"}


def test_a_healthy_canary_waits_its_duration_then_goes_on_in_that_same_up(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    clock.at = at(60)
    waiting = run_stage({"app": EXAMPLE}, gate, clock=clock, metrics=metrics)
    assert waiting.error is None, waiting.error
    assert inputs(waiting) == inputs(gate), "nothing changes while the analysis runs"
    assert waiting.state == gate.state
    analysis = waiting.outputs["status"]["frontend"]["analysis"]
    assert analysis["state"] == "pending" and analysis["value"] == "100"
    assert analysis["decidesAt"] == "2026-11-29T12:02:00Z"
    assert "passes at 12:02:00 (in 1m) if it holds" in analysis["summary"]
    endpoint, query, start, end, step = metrics.queries[-1]
    assert (start, end) == (ts(0), ts(60)) and step == 3.0
    assert endpoint == "http://prometheus-server.o11y-system.svc:9090", "KubeVela's default without prometheusUrl"
    assert 'destination_workload="frontend-v2"' in query and 'destination_workload_namespace=~"default"' in query
    assert 'response_code!~"5.*"' in query and "[1m]" in query

    clock.at = at(121)
    passed = run_stage({"app": EXAMPLE}, waiting, clock=clock, metrics=metrics)
    status = passed.outputs["status"]["frontend"]
    # the next gate (a query of its own) starts in the same up; the canary stays as it was
    assert status["step"] == "3/4 latency" and status["analysis"]["step"] == "latency"
    assert inputs(passed) == inputs(gate)
    assert json.loads(passed.state)["gates"] == {"success-rate": "2026-11-29T12:00:00Z",
                                                 "latency": "2026-11-29T12:02:01Z"}

    metrics.values = lambda t: 120.0  # ms, against <500
    clock.at = at(121 + 300)
    done = run_stage({"app": EXAMPLE}, passed, clock=clock, metrics=metrics)
    assert done.outputs["status"]["frontend"]["phase"] == "succeeded"
    assert numbers(done)[0]["frontend-v2"] == 4 and numbers(done)[1] == {"frontend-v2": 100}
    assert metrics.queries[-1][1].startswith("histogram_quantile(0.99, sum(rate(")
    assert [q[1][:5] for q in metrics.queries] == ["sum(r", "sum(r", "histo"], "a gate that passed is not asked again"
    assert json.loads(done.state)["passed"] == {"success-rate": "2026-11-29T12:02:00Z",
                                                "latency": "2026-11-29T12:04:01Z"}


def test_an_unhealthy_canary_rolls_back_by_itself_and_stays_rolled_back(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    metrics.values = lambda t: 100.0 if t < ts(30) else 82.5
    clock.at = at(60)
    failing = run_stage({"app": EXAMPLE}, gate, clock=clock, metrics=metrics)
    assert inputs(failing) == inputs(gate)
    assert "not >=99, since 12:00:30; the release rolls back at 12:01:30 (in 30s)" in \
        failing.outputs["status"]["frontend"]["analysis"]["summary"]

    clock.at = at(95)
    back = run_stage({"app": EXAMPLE}, failing, clock=clock, metrics=metrics)
    assert back.error is None, back.error
    assert numbers(back) == ({"frontend-v1": 4}, {"frontend-v1": 100})
    status = back.outputs["status"]["frontend"]
    assert status["phase"] == "rolled back"
    assert status["rolledBackBy"].startswith("check-metrics 'success-rate' failed: request-success-rate of frontend-v2 "
                                             "was 82.5, not >=99, from 12:00:30 to 12:01:30")
    assert status["next"].startswith("pulumi config set retry 2 && pulumi up")
    # the stable revision's pods are Ready before the route leaves the canary; the canary's Deployment
    # is no longer registered, so Pulumi deletes it after every update of the run
    assert back.depends("web-frontend-virtualservice", "web-frontend-v1")
    assert "web-frontend-v2" not in back.resources

    queried = len(metrics.queries)
    metrics.values = lambda t: 100.0
    clock.at = at(900)
    again = run_stage({"app": EXAMPLE}, back, clock=clock, metrics=metrics)
    assert inputs(again) == inputs(back) and again.state == back.state
    assert again.outputs["status"]["frontend"]["phase"] == "rolled back"
    assert len(metrics.queries) == queried, "a rolled-back release is not analysed again"

    retried = run_stage({"app": EXAMPLE, "retry": 2}, again, clock=clock, metrics=metrics)
    assert retried.error is None, retried.error
    status = retried.outputs["status"]["frontend"]
    assert status["release"] == 3 and status["step"] == "2/4 success-rate"
    assert numbers(retried)[1] == {"frontend-v1": 90, "frontend-v2": 10}
    assert json.loads(retried.state)["gates"] == {"success-rate": "2026-11-29T12:15:00Z"}, "a new analysis"

    # the leftover retry does not let release 3 start again once it is rolled back too
    metrics.values = lambda t: 0.0
    clock.at = at(900 + 130)
    back2 = run_stage({"app": EXAMPLE, "retry": 2}, retried, clock=clock, metrics=metrics)
    assert back2.outputs["status"]["frontend"]["phase"] == "rolled back"
    clock.at = at(2000)
    stays = run_stage({"app": EXAMPLE, "retry": 2}, back2, clock=clock, metrics=metrics)
    assert stays.outputs["status"]["frontend"]["release"] == 3
    assert stays.outputs["status"]["frontend"]["phase"] == "rolled back"
    assert any("retry 2 does nothing here" in n for n in stays.outputs["status"]["notes"])


def test_prometheus_not_answering_changes_nothing(tmp_path, clock, metrics, capsys):
    gate = canary(tmp_path, clock, prometheusUrl="http://127.0.0.1:9")
    metrics.error = "Prometheus at http://127.0.0.1:9 cannot be reached (Connection refused)"
    clock.at = at(600)
    down = run_stage({"app": EXAMPLE, "prometheusUrl": "http://127.0.0.1:9"}, gate, clock=clock, metrics=metrics)
    assert down.error is None
    assert inputs(down) == inputs(gate) and down.state == gate.state
    analysis = down.outputs["status"]["frontend"]["analysis"]
    assert analysis["state"] == "error" and "decidesAt" not in analysis
    assert "cannot be reached (Connection refused); that is neither a pass nor a failure" in analysis["summary"]
    assert metrics.queries[-1][0] == "http://127.0.0.1:9", "the stack's prometheusUrl"


def test_no_traffic_is_no_decision(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    metrics.values = lambda t: None
    clock.at = at(3600)
    idle = run_stage({"app": EXAMPLE}, gate, clock=clock, metrics=metrics)
    assert inputs(idle) == inputs(gate)
    assert "no data yet for request-success-rate of frontend-v2" in \
        idle.outputs["status"]["frontend"]["analysis"]["summary"]


def test_a_person_can_promote_past_the_analysis(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    promoted = run_stage({"app": EXAMPLE, "approve": "success-rate,latency"}, gate, clock=clock, metrics=metrics)
    assert promoted.outputs["status"]["frontend"]["phase"] == "succeeded"
    assert metrics.queries == []


def test_a_step_endpoint_wins_over_the_stack_default(tmp_path, clock, metrics):
    text = open(EXAMPLE).read().replace("          duration: 2m\n          failDuration: 1m\n",
                                        "          duration: 2m\n          failDuration: 1m\n"
                                        "          metricEndpoint: http://prom.example.com:9090\n")
    (tmp_path / "own.yaml").write_text(text)
    first = first_deploy(tmp_path)
    clock.at = T0
    gate = run_stage({"app": str(tmp_path / "own.yaml"), "prometheusUrl": "http://127.0.0.1:9090"}, first, clock=clock, metrics=metrics)
    clock.at = at(30)
    run_stage({"app": str(tmp_path / "own.yaml"), "prometheusUrl": "http://127.0.0.1:9090"}, gate, clock=clock, metrics=metrics)
    assert metrics.queries[-1][0] == "http://prom.example.com:9090"


def test_pinning_the_stage_past_a_closed_metric_gate_is_refused(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    clock.at = at(30)
    run = run_stage({"app": EXAMPLE, "stage": 4}, gate, clock=clock, metrics=metrics)
    assert "stage 4 skips the metric gate 'success-rate' (step 2) that has not passed yet" in run.error


@pytest.mark.parametrize("props, message", [
    ("query: up\n          metric: request-duration", "give either query (with condition) or metric"),
    ("duration: 1m", "give either query (with condition) or metric"),
    ("query: up", "condition is required with query"),
    ("query: up\n          condition: '=>1'", "'=>1' is not a condition"),
    ("metric: request-rate", "request-success-rate"),
    ("metric: request-duration\n          failDuration: soon", "'soon' is not a duration"),
    ("metric: request-duration\n          metricEndpoint: prometheus:9090", "not an http:// or https:// address"),
    ("metric: request-duration\n          component: backend", "'backend' is not a component of the file"),
])
def test_bad_check_metrics_steps_are_refused_with_their_place(tmp_path, props, message):
    text = open(EXAMPLE).read()
    head, _, _ = text.partition("  workflow:")
    (tmp_path / "bad.yaml").write_text(head + "  workflow:\n    steps:\n      - name: gate\n        type: check-metrics\n"
                                       "        properties:\n          " + props + "\n")
    run = run_stage({"app": str(tmp_path / "bad.yaml")})
    assert run.error is not None and message in run.error, run.error
    assert "bad.yaml:" in run.error and "spec.workflow.steps[0]" in run.error
    assert run.resources == {}


def test_a_metric_gate_needs_a_component_to_roll_back(tmp_path):
    (tmp_path / "plain.yaml").write_text("""apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: web
spec:
  components:
    - name: frontend
      type: webservice
      properties:
        image: registry.example.com/shop/frontend:1.5.0
  workflow:
    steps:
      - name: gate
        type: check-metrics
        properties:
          query: up
          condition: ==1
""")
    run = run_stage({"app": str(tmp_path / "plain.yaml")})
    assert "plain.yaml:14: spec.workflow.steps[0].type: this step rolls the release back" in run.error


@pytest.mark.parametrize("key, value, message", [
    ("prometheusUrl", "prometheus:9090", "must be an http:// or https:// address"),
    ("retry", "last", "must be the number of a release a metric gate rolled back"),
])
def test_bad_metric_config_is_refused(key, value, message):
    run = run_stage({"app": EXAMPLE, key: value})
    assert f"oam-delivery:{key}: {message}" in run.error


def test_the_bookinfo_release_with_a_metric_gate_in_place_of_the_approval(clock, metrics):
    first = run_stage({"app": "examples/bookinfo/first-deploy.yaml"}, clock=clock, metrics=metrics)
    assert first.error is None, first.error
    clock.at = T0
    canary_stage = run_stage({"app": "examples/bookinfo/rollout-v2-analysed.yaml"}, first, clock=clock, metrics=metrics)
    assert canary_stage.error is None, canary_stage.error
    status = canary_stage.outputs["status"]["reviews"]
    assert status["step"] == "2/3 success-rate" and status["revisions"]["reviews-v2"]["weight"] == 10
    clock.at = at(301)
    done = run_stage({"app": "examples/bookinfo/rollout-v2-analysed.yaml"}, canary_stage, clock=clock, metrics=metrics)
    status = done.outputs["status"]["reviews"]
    assert status["phase"] == "succeeded" and status["revisions"]["reviews-v2"] == {
        "image": "docker.io/istio/examples-bookinfo-reviews-v3:1.16.2", "replicas": 2, "weight": 100}
    assert 'destination_workload="reviews-v2"' in metrics.queries[-1][1]


def test_the_decision_is_previewable_before_it_is_taken(tmp_path, clock, metrics):
    gate = canary(tmp_path, clock)
    metrics.values = lambda t: 10.0
    clock.at = at(61)
    preview = run_stage({"app": EXAMPLE}, gate, preview=True, clock=clock, metrics=metrics)
    assert preview.error is None, preview.error
    assert numbers(preview) == ({"frontend-v1": 4}, {"frontend-v1": 100}), "the preview shows the rollback"
    assert preview.outputs["status"]["frontend"]["phase"] == "rolled back"
