"""A Prometheus exporter whose numbers the test sets: Istio's standard request metrics.

    exp = MetricsExporter()
    exp.start()                      # 127.0.0.1, an ephemeral port, a daemon thread
    exp.set_traffic("reviews-v2", rps=10.0, error_ratio=0.1, latency_ms=20.0)
    ...                              # a Prometheus scrapes exp.address (exp.url + "/metrics")
    exp.stop()

For every workload it serves, in the text exposition format 0.0.4:

* ``istio_requests_total``: a counter per response code, ``200`` for the share
  ``1 - error_ratio`` of the requests and ``500`` for the rest;
* ``istio_request_duration_milliseconds``: a histogram (``_bucket`` with ``le``, ``_sum``,
  ``_count``) over the same requests, with the same labels, Envoy's default buckets.

The labels are those Istio's standard metrics carry (``reporter``, ``source_workload``,
``destination_workload``, ``destination_workload_namespace``, ``destination_service_name``,
``destination_app``, ``destination_version``, ``response_code``, ...). By default only
``reporter="destination"`` series are served; ``reporters=("destination", "source")`` adds
the client side's report of the same requests, as a mesh whose clients have sidecars has
it, so a query that forgets to filter on ``reporter`` counts every request twice.

Counters grow with wall-clock time: the value served is what was counted up to the last
change plus the configured rate times the seconds since, computed when Prometheus scrapes.
So ``rate(...[w])`` over a window after a change returns the configured numbers exactly,
and a change takes effect at the moment of the call. The values are fractional (real
Envoy counters are integers; fractions keep the rates exact). ``rps=0`` stops the growth
(the series stay, flat); ``remove()`` drops the workload's series, and Prometheus marks
them stale at its next scrape.

A series is served only once it has counted something, as Envoy creates a stat at the
first request with its labels: with ``error_ratio=0`` there is no ``response_code="500"``
series at all, and a workload set up with ``rps=0`` serves nothing. A query for the
errors of a healthy workload therefore returns an empty vector, not 0.

Latency: every request of a workload takes exactly ``latency_ms``, so all of them fall into
the first bucket whose ``le`` is >= ``latency_ms``. ``histogram_quantile`` interpolates
linearly inside that bucket: for 20 ms (bucket (10, 25]) the 0.99 quantile is
10 + (25 - 10) * 0.99 = 24.85, the median 17.5; it never returns 20. ``expected_quantile``
computes that number.
"""
from __future__ import annotations

import bisect
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Optional

# Envoy's default histogram buckets, which Istio's istio_request_duration_milliseconds uses.
BUCKETS_MS: tuple[float, ...] = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                                 30000, 60000, 300000, 600000, 1800000, 3600000)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds"
CODES = ("200", "500")


def expected_quantile(q: float, latency_ms: float, buckets: Iterable[float] = BUCKETS_MS) -> float:
    """What ``histogram_quantile(q, ...)`` returns when every request took latency_ms."""
    bounds = sorted(buckets)
    i = bisect.bisect_left(bounds, latency_ms)
    if i == len(bounds):
        return bounds[-1]  # all in +Inf: Prometheus answers the highest finite bound
    lower = bounds[i - 1] if i > 0 else 0.0
    return lower + (bounds[i] - lower) * q


@dataclass(frozen=True)
class Traffic:
    """What one workload receives from the moment it is set."""

    workload: str
    namespace: str = "default"
    rps: float = 0.0
    error_ratio: float = 0.0
    latency_ms: float = 0.0
    app: str = ""
    version: str = ""
    service: str = ""
    source_workload: str = "istio-ingressgateway"
    source_namespace: str = "istio-system"
    reporters: tuple[str, ...] = ("destination",)

    def labels(self, reporter: str, code: str) -> dict[str, str]:
        return {
            "reporter": reporter,
            "source_workload": self.source_workload,
            "source_workload_namespace": self.source_namespace,
            "source_app": self.source_workload,
            "destination_workload": self.workload,
            "destination_workload_namespace": self.namespace,
            "destination_app": self.app,
            "destination_version": self.version,
            "destination_service": f"{self.service}.{self.namespace}.svc.cluster.local",
            "destination_service_name": self.service,
            "destination_service_namespace": self.namespace,
            "destination_cluster": "Kubernetes",
            "request_protocol": "http",
            "response_code": code,
            "response_flags": "-",
            "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown",
        }


@dataclass
class _Workload:
    traffic: Traffic
    since: float  # monotonic time of the last change
    counted: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CODES})  # requests up to `since`
    buckets: dict[str, list[float]] = field(default_factory=lambda: {c: [0.0] * len(BUCKETS_MS) for c in CODES})
    sums: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CODES})

    def rates(self) -> dict[str, float]:
        t = self.traffic
        return {"200": t.rps * (1.0 - t.error_ratio), "500": t.rps * t.error_ratio}

    def totals(self, now: float) -> tuple[dict[str, float], dict[str, list[float]], dict[str, float]]:
        """(requests, cumulative bucket counts, latency sums) per code at `now`."""
        dt = max(0.0, now - self.since)
        first = bisect.bisect_left(BUCKETS_MS, self.traffic.latency_ms)  # the first le >= latency
        counts, buckets, sums = {}, {}, {}
        for code, rate in self.rates().items():
            new = rate * dt
            counts[code] = self.counted[code] + new
            buckets[code] = [b + (new if i >= first else 0.0) for i, b in enumerate(self.buckets[code])]
            sums[code] = self.sums[code] + new * self.traffic.latency_ms
        return counts, buckets, sums

    def fold(self, now: float) -> None:
        """Bank what the current traffic counted up to now (before it changes)."""
        self.counted, self.buckets, self.sums = self.totals(now)
        self.since = now


_APP_VERSION = re.compile(r"^(?P<app>.+)-(?P<version>v\d+)$")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _le(bound: float) -> str:
    return repr(float(bound)).removesuffix(".0") if bound != math.inf else "+Inf"


class MetricsExporter:
    """Serves /metrics on 127.0.0.1 from a daemon thread; the test sets the traffic."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        """port 0: an ephemeral one. clock: seconds, for counting (a test may step it by hand)."""
        self._host, self._port = host, port
        self._clock = clock
        self._lock = threading.Lock()
        self._workloads: dict[tuple[str, str], _Workload] = {}
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._scrapes = 0
        self._scraped = threading.Condition(self._lock)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "MetricsExporter":
        if self._server is not None:
            return self
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with exporter._scraped:
                    exporter._scrapes += 1
                    exporter._scraped.notify_all()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: one line a second per scrape otherwise

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "MetricsExporter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """host:port, the scrape target."""
        if self._server is None:
            raise RuntimeError("the exporter is not started")
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # --- traffic -----------------------------------------------------------------------------

    def set_traffic(self, workload: str, namespace: str = "default", *, rps: float, error_ratio: float = 0.0,
                    latency_ms: float = 10.0, app: Optional[str] = None, version: Optional[str] = None,
                    service: Optional[str] = None, reporters: Iterable[str] = ("destination",)) -> Traffic:
        """From now on `workload` in `namespace` receives `rps` requests a second.

        A share `error_ratio` of them answer 500, the rest 200; each takes `latency_ms`.
        app and version default from a name like ``reviews-v2`` (app ``reviews``, version
        ``v2``; otherwise the whole name and ``""``), service defaults to the app.
        What was counted so far stays: the counters go on from their current values.
        """
        if rps < 0 or not 0.0 <= error_ratio <= 1.0 or latency_ms < 0:
            raise ValueError(f"rps must be >= 0, error_ratio in [0, 1], latency_ms >= 0: {rps}, {error_ratio}, {latency_ms}")
        reporters = tuple(reporters)
        if not reporters or set(reporters) - {"destination", "source"}:
            raise ValueError(f"reporters must be some of destination, source: {reporters}")
        m = _APP_VERSION.match(workload)
        app = app if app is not None else (m["app"] if m else workload)
        version = version if version is not None else (m["version"] if m else "")
        traffic = Traffic(workload, namespace, float(rps), float(error_ratio), float(latency_ms), app, version,
                          service if service is not None else app, reporters=reporters)
        now = self._clock()
        with self._lock:
            current = self._workloads.get((namespace, workload))
            if current is None:
                self._workloads[(namespace, workload)] = _Workload(traffic, now)
            else:
                current.fold(now)
                current.traffic = traffic
        return traffic

    def remove(self, workload: str, namespace: str = "default") -> None:
        """Drop the workload's series (its counters start from 0 if it is set again)."""
        with self._lock:
            self._workloads.pop((namespace, workload), None)

    def totals(self, workload: str, namespace: str = "default") -> dict[str, float]:
        """Requests counted so far by response code (what a scrape now would serve)."""
        with self._lock:
            return dict(self._workloads[(namespace, workload)].totals(self._clock())[0])

    # --- scrapes -----------------------------------------------------------------------------

    @property
    def scrapes(self) -> int:
        """How many times /metrics has been served."""
        with self._lock:
            return self._scrapes

    def wait_scrapes(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until /metrics has been served `count` more times (raises TimeoutError)."""
        with self._scraped:
            start = self._scrapes
            if not self._scraped.wait_for(lambda: self._scrapes >= start + count, timeout):
                raise TimeoutError(f"/metrics served {self._scrapes - start} of {count} times in {timeout} s")

    def render(self) -> str:
        """The exposition text a scrape gets now."""
        now = self._clock()
        requests: list[str] = []
        durations: list[str] = []
        with self._lock:
            workloads = sorted(self._workloads.items())
            snapshots = [(w.traffic, w.totals(now)) for _, w in workloads]
        for traffic, (counts, buckets, sums) in snapshots:
            for reporter in traffic.reporters:
                for code in CODES:
                    if counts[code] <= 0.0:
                        continue  # no request with this code yet: no series, as in Envoy
                    labels = traffic.labels(reporter, code)
                    requests.append(f"{REQUESTS}{_labels(labels)} {_number(counts[code])}")
                    for bound, value in zip(BUCKETS_MS + (math.inf,), buckets[code] + [counts[code]]):
                        durations.append(f"{DURATION}_bucket{_labels({**labels, 'le': _le(bound)})} {_number(value)}")
                    durations.append(f"{DURATION}_sum{_labels(labels)} {_number(sums[code])}")
                    durations.append(f"{DURATION}_count{_labels(labels)} {_number(counts[code])}")
        out: list[str] = []
        if requests:
            out += [f"# HELP {REQUESTS} Requests, as Istio's standard metrics count them.",
                    f"# TYPE {REQUESTS} counter", *requests]
        if durations:
            out += [f"# HELP {DURATION} Request durations, as Istio's standard metrics record them.",
                    f"# TYPE {DURATION} histogram", *durations]
        return "\n".join(out) + "\n" if out else ""
