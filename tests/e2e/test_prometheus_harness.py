"""The metric-gate harness is real: Prometheus scrapes the exporter and answers PromQL over it."""
from __future__ import annotations

import time
import urllib.error

import pytest

from tests.e2e.conftest import Metrics
from tests.metrics_exporter import BUCKETS_MS, DURATION, REQUESTS, MetricsExporter, expected_quantile
from tests.prometheus_server import is_close

SEL = 'reporter="destination",destination_workload="reviews-v2"'
TOTAL = f"sum(rate(istio_requests_total{{{SEL}}}[5s]))"
SUCCESS = f'sum(rate(istio_requests_total{{{SEL},response_code!~"5.*"}}[5s])) / {TOTAL}'
V3_SERIES = 'count(istio_requests_total{destination_workload="reviews-v3"})'
P99 = f"histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{SEL}}}[5s])))"


def test_prometheus_answers_for_the_traffic_the_test_sets(metrics: Metrics):
    exp, prom = metrics.exporter, metrics.prometheus
    # The client side reports the same requests: only reporter="destination" may count.
    exp.set_traffic("reviews-v2", "default", rps=10.0, error_ratio=0.1, latency_ms=20.0,
                    reporters=("destination", "source"))
    exp.set_traffic("ratings-v1", "default", rps=50.0, error_ratio=0.5, latency_ms=300.0)
    exp.set_traffic("reviews-v3", "default", rps=4.0, latency_ms=3.0)

    # No error yet: no 500 series at all (Envoy creates a stat at its first request).
    prom.wait_for_value(V3_SERIES, lambda v: v == 1.0)
    assert prom.query(f'{REQUESTS}{{destination_workload="reviews-v3",response_code="500"}}') == []

    # rate() over [5s] reads low until the window holds 5 s of samples: wait for that.
    assert prom.wait_for_value(TOTAL, is_close(10.0, 0.3), timeout=15) == pytest.approx(10.0, abs=0.3)
    assert prom.value(SUCCESS) == pytest.approx(0.9, abs=0.01)
    assert prom.value(f'sum(rate({REQUESTS}{{destination_workload="reviews-v2"}}[5s]))') == \
        pytest.approx(20.0, abs=0.6)  # both reporters: twice

    p99 = prom.value(P99)
    assert 10.0 < p99 <= 25.0  # the bucket 20 ms falls in
    assert p99 == pytest.approx(expected_quantile(0.99, 20.0))  # 24.85, linear inside (10, 25]

    # A range query's early steps may be missing: the series is only a few seconds old and
    # rate() needs two samples inside a step's window. The last steps are there.
    end = time.time()
    matrix = prom.query_range(SUCCESS, start=end - 4, end=end, step="1s")
    assert len(matrix) == 1 and 2 <= len(matrix[0]["values"]) <= 5, matrix
    assert matrix[0]["values"][-1][0] == pytest.approx(end, abs=0.01), matrix
    assert all(float(v) == pytest.approx(0.9, abs=0.01) for _, v in matrix[0]["values"]), matrix

    # A change shows at the next scrape; a removed workload leaves instant queries at the
    # next scrape too (a staleness marker), not after the 5 m lookback.
    exp.set_traffic("reviews-v3", "default", rps=4.0, error_ratio=1.0, latency_ms=3.0)
    prom.wait_for_value(V3_SERIES, lambda v: v == 2.0, timeout=5)
    exp.remove("reviews-v3")
    prom.wait_for_value(V3_SERIES, lambda v: v is None, timeout=5)

    # Prometheus down: the HTTP API refuses connections; back up: it answers, data kept.
    prom.stop()
    with pytest.raises(urllib.error.URLError) as refused:
        prom.value(SUCCESS)
    assert isinstance(refused.value.reason, ConnectionRefusedError), refused.value
    prom.start()
    assert prom.value(f"count({REQUESTS}{{{SEL}}})") == 2.0  # 200 and 500, from before the stop


def test_exporter_counts_with_its_clock():
    now = [100.0]
    exp = MetricsExporter(clock=lambda: now[0])
    exp.set_traffic("reviews-v2", rps=10.0, error_ratio=0.25, latency_ms=20.0)
    now[0] += 4
    assert exp.totals("reviews-v2") == {"200": 30.0, "500": 10.0}
    exp.set_traffic("reviews-v2", rps=0.0, latency_ms=20.0)  # no growth from now on
    now[0] += 100
    assert exp.totals("reviews-v2") == {"200": 30.0, "500": 10.0}
    exp.set_traffic("reviews-v2", rps=2.0, latency_ms=600.0)
    now[0] += 5

    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
             for line in exp.render().splitlines() if not line.startswith("#")}
    ok = [k for k in lines if k.startswith(f"{DURATION}_bucket") and 'response_code="200"' in k]
    assert len(ok) == len(BUCKETS_MS) + 1 and 'le="+Inf"' in ok[-1]
    cumulative = [lines[k] for k in ok]
    assert cumulative == sorted(cumulative)  # buckets are cumulative
    by_le = {k.split('le="')[1].split('"')[0]: lines[k] for k in ok}
    assert (by_le["10"], by_le["25"], by_le["500"], by_le["1000"], by_le["+Inf"]) == (0, 30, 30, 40, 40)
    assert sum(v for k, v in lines.items() if k.startswith(f"{DURATION}_sum")) == 40 * 20 + 10 * 600
    assert sum(v for k, v in lines.items() if k.startswith(REQUESTS)) == 50

    exp.remove("reviews-v2")
    assert exp.render() == ""
