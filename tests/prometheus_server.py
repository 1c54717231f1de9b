"""A real Prometheus on loopback for the tests, scraping the targets it is given.

    prom = PrometheusServer(binary, targets=[exporter.address])
    prom.start()                     # returns once /-/ready answers 200
    prom.value('sum(rate(istio_requests_total[5s]))')
    prom.stop(); prom.start()        # down and back, same port, same data
    prom.close()                     # stop and remove its directory

It writes its own configuration (one job, ``mesh``, scraping every target at
``scrape_interval``; rules are evaluated at the same interval) and keeps its TSDB, the
configuration and its log (``prometheus.log``) in one directory, by default a new
temporary one that ``close()`` removes. The port is chosen once, so a restart listens
where the product under test was told to look.
"""
from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar

T = TypeVar("T")

# Loopback only: an http_proxy in the environment must not see these requests.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusError(RuntimeError):
    """The HTTP API answered with status "error" (a bad query, a timeout)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PrometheusServer:
    """One Prometheus process (at a time) with its config, data and log in `directory`."""

    def __init__(self, binary: str | Path, targets: Sequence[str], scrape_interval: str = "1s",
                 directory: Optional[Path] = None, port: Optional[int] = None,
                 extra_flags: Iterable[str] = ()) -> None:
        self.binary = Path(binary)
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self._own_dir = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="prometheus-")) if directory is None else Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_flags = list(extra_flags)
        self.config_file = self.directory / "prometheus.yml"
        self.data_dir = self.directory / "data"
        self.log_file = self.directory / "prometheus.log"
        self._proc: Optional[subprocess.Popen] = None
        self.write_config()

    # --- configuration -----------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        interval = self.scrape_interval
        return {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "scrape_configs": [{"job_name": "mesh", "metrics_path": "/metrics",
                                "static_configs": [{"targets": self.targets}]}],
        }

    def write_config(self) -> None:
        # JSON is YAML: no YAML writer needed. Takes effect at the next start().
        self.config_file.write_text(json.dumps(self.config(), indent=2) + "\n")

    def command(self) -> list[str]:
        web = self.binary.resolve().parent.parent / "share" / "prometheus" / "web"  # the package's UI assets
        cmd = [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
            # Debian's defaults point into /etc and /usr/share, absent when unpacked by hand.
            f"--web.console.templates={self.directory}",
            f"--web.console.libraries={self.directory}",
        ]
        if web.is_dir():
            cmd.append(f"--web.local-assets={web}")
        return cmd + self.extra_flags

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> "PrometheusServer":
        """Start the process and wait until /-/ready answers 200."""
        if self.running:
            return self
        with open(self.log_file, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.directory)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise RuntimeError(f"prometheus exited with {code} before it was ready:\n{self.log_tail()}")
            try:
                with _http.open(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass  # not listening yet, or 503 while the TSDB loads
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"prometheus not ready at {self.url} after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`); the data stays for the next start()."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """stop() and remove the directory if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- HTTP API ----------------------------------------------------------------------------

    def api(self, path: str, timeout: float = 10.0, **params: Any) -> Any:
        """GET /api/v1/<path>?params and return its "data"; PrometheusError on status "error".

        Connection errors (Prometheus down) propagate as urllib.error.URLError."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        try:
            with _http.open(f"{self.url}/api/v1/{path}?{query}", timeout=timeout) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:  # 400/422/503 carry the same JSON envelope
            try:
                body = json.load(e)
            except ValueError:
                raise e from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, q: str, at: Optional[float] = None) -> list[dict]:
        """Instant query: the vector's samples ({"metric": {...}, "value": [t, "v"]}); a scalar as one sample."""
        data = self.api("query", query=q, time=at)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def value(self, q: str, at: Optional[float] = None) -> Optional[float]:
        """The single number an instant query returns, None for an empty vector (no data)."""
        return single(self.query(q, at))

    def query_range(self, q: str, start: float, end: float, step: float | str) -> list[dict]:
        """Range query (/api/v1/query_range): the matrix ({"metric": {...}, "values": [[t, "v"], ...]})."""
        data = self.api("query_range", query=q, start=start, end=end, step=step)
        if data["resultType"] != "matrix":
            raise PrometheusError(f"query_range returned a {data['resultType']}")
        return data["result"]

    def wait_for(self, q: str, predicate: Callable[[list[dict]], bool], timeout: float = 15.0,
                 interval: float = 0.25) -> list[dict]:
        """Repeat the instant query until predicate(samples) holds; return those samples."""
        return _poll(lambda: self.query(q), predicate, timeout, interval, q)

    def wait_for_value(self, q: str, predicate: Callable[[Optional[float]], bool], timeout: float = 15.0,
                       interval: float = 0.25) -> Optional[float]:
        """Repeat the instant query until predicate(value(q)) holds; return that value."""
        return _poll(lambda: self.value(q), predicate, timeout, interval, q)


def single(samples: list[dict]) -> Optional[float]:
    """The value of a one-sample result, None when empty; an error for several series."""
    if not samples:
        return None
    if len(samples) > 1:
        raise PrometheusError(f"expected one series, got {len(samples)}: {[s['metric'] for s in samples]}")
    return float(samples[0]["value"][1])  # "NaN", "+Inf" parse too


def _poll(get: Callable[[], T], predicate: Callable[[T], bool], timeout: float, interval: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = get()
        if predicate(last):
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout} s, {what!r} still gives {last!r}")
        time.sleep(interval)


def is_close(expected: float, tolerance: float) -> Callable[[Optional[float]], bool]:
    """A wait_for_value predicate: a number within `tolerance` of `expected`."""
    return lambda v: v is not None and not math.isnan(v) and abs(v - expected) <= tolerance
