"""A real Envoy on loopback that routes by the RouteConfigurations Istio generates.

    binary = envoy_binary()                           # tools/envoy.sh: installs once, then a no-op
    with Backends() as backends, Envoy(binary, ["9080", "http.80"], backends, base=tmp) as envoy:
        envoy.apply(route_configs, {"outbound|9080|reviews-v1|reviews.default.svc.cluster.local": 1})
        counts = envoy.send("9080", "reviews", "/", 2000)     # Counter({"reviews-v1": 2000})
        within_binomial(counts, {"reviews-v1": 90, "reviews-v2": 10}, 2000)   # [] or problems
        with envoy.under_load("9080", "reviews", "/") as load:
            envoy.apply(...); load.wait(); envoy.apply(...); load.wait()
        assert not load.errors

``Backends`` runs one small HTTP server per cluster name, each answering 200 with the
cluster's target (the subset of an Istio cluster name ``outbound|port|subset|fqdn``, or the
service's short name when there is no subset) in the header ``x-harness-target`` and the body.

``Envoy`` runs the upstream binary with one listener per route configuration name. Its
clusters (CDS) and each listener's routes (RDS) come from files in watched directories
(``path_config_source`` + ``watched_directory``), so ``apply()`` changes them while it runs:
it writes each file to a temporary name and renames it into its directory, and returns once
Envoy took the new version (admin ``/stats``: ``version_text``) and the worker serves it (a
probe virtual host answers with the generation). The order is make-before-break: clusters are
added (and their endpoints updated) first, then the routes change, then the clusters the new
state no longer has are removed.

A cluster with N > 0 Ready endpoints gets one endpoint, its backend; one with 0 is present
with no endpoint (Envoy answers 503 with flag UH, as istiod's empty EDS cluster would give);
a cluster absent from ``clusters_ready`` does not exist (503 NC). Local replies (NR, NC, UH,
fault aborts, ...) carry Envoy's response flags as their body, so ``send`` counts them as
``"<status> <flags>"``.

Istio's route configurations may hold things the upstream build cannot load (per-filter
configs or typed metadata of Istio's own types); ``for_upstream`` drops those and keeps
everything that decides matching and weighting. ``validate`` runs ``envoy --mode validate``
on route configurations without starting anything.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
ENVOY_SH = REPO / "tools" / "envoy.sh"

TARGET_HEADER = "x-harness-target"
PROBE_HOST = "harness-probe.invalid"
PROBE_HEADER = "x-harness-generation"

_TYPE = "type.googleapis.com/"
HCM_TYPE = _TYPE + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTE_CONFIG_TYPE = _TYPE + "envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = _TYPE + "envoy.config.cluster.v3.Cluster"
# What an Any may hold for the upstream build: Envoy's own types and the generic wrappers.
_UPSTREAM_TYPE_PREFIXES = ("envoy.", "google.protobuf.", "xds.", "udpa.")
_TYPED_STRUCTS = ("xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct")

# Loopback only: an http_proxy in the environment must not see the admin requests.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EnvoyError(RuntimeError):
    """Envoy did not start, rejected a configuration, or did not take it in time."""


def envoy_binary(timeout: float = 600) -> str:
    """The absolute path of the envoy binary, installed by tools/envoy.sh (a no-op once installed)."""
    proc = subprocess.run(["bash", str(ENVOY_SH)], capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise EnvoyError(f"tools/envoy.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return lines[-1]


# --- cluster names and targets -------------------------------------------------------------------


def target_of(cluster: str) -> str:
    """What a backend of `cluster` names itself: the subset of an Istio cluster name
    ``outbound|9080|reviews-v1|reviews.default.svc.cluster.local`` (``reviews-v1``), the
    service's short name when the subset is empty (``reviews``), else the name itself."""
    parts = cluster.split("|")
    if len(parts) == 4 and parts[0] in ("outbound", "inbound"):
        return parts[2] or parts[3].split(".")[0]
    return cluster


# --- what upstream Envoy can load ------------------------------------------------------------------


def _any_type(value: Any) -> Optional[str]:
    """The message type an Any (a dict with "@type") holds, looking into TypedStruct wrappers."""
    if not isinstance(value, dict) or "@type" not in value:
        return None
    name = str(value["@type"]).rpartition("/")[2]
    if name in _TYPED_STRUCTS:
        inner = value.get("typeUrl", value.get("type_url", ""))
        name = str(inner).rpartition("/")[2] or name
    return name


def _foreign(value: Any) -> bool:
    """Whether `value` is, or holds anywhere inside, an Any of a type the upstream build lacks."""
    name = _any_type(value)
    if name is not None and not name.startswith(_UPSTREAM_TYPE_PREFIXES):
        return True
    if isinstance(value, dict):
        return any(_foreign(v) for v in value.values())
    if isinstance(value, list):
        return any(_foreign(v) for v in value)
    return False


_TYPED_MAPS = ("typedPerFilterConfig", "typed_per_filter_config", "typedFilterMetadata", "typed_filter_metadata")


def _strip(value: Any, dropped: list[str], where: str) -> Any:
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            if _any_type(v) is not None and _foreign(v):
                dropped.append(f"{where}[{i}]: {v.get('@type')}")
                continue
            out.append(_strip(v, dropped, f"{where}[{i}]"))
        return out
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k in _TYPED_MAPS and isinstance(v, dict):
            kept = {}
            for name, cfg in v.items():
                if _foreign(cfg):
                    dropped.append(f"{where}.{k}[{name}]: {_any_type(cfg)}")
                else:
                    kept[name] = cfg
            if kept:
                out[k] = kept
            continue
        if _any_type(v) is not None and _foreign(v):
            dropped.append(f"{where}.{k}: {v.get('@type')}")
            continue
        out[k] = _strip(v, dropped, f"{where}.{k}")
    return out


def for_upstream(route_config: Mapping[str, Any], dropped: Optional[list[str]] = None) -> dict[str, Any]:
    """A copy of an Istio RouteConfiguration (protojson, camelCase or snake_case) that the
    upstream Envoy build loads: per-filter configs and typed metadata whose type (or any type
    nested in it) is not Envoy's are dropped, and so is any other Any of such a type (e.g. an
    entry of a list of retry predicates). ``filterMetadata`` (opaque), matches, weighted
    clusters, header matchers, timeouts and retry policies stay as they are. What was dropped
    is appended to `dropped` as "path: type"."""
    if "error" in route_config and "virtualHosts" not in route_config and "virtual_hosts" not in route_config:
        raise ValueError(f"route configuration {route_config.get('name')!r} could not be generated: "
                         f"{route_config['error']}")
    return _strip(copy.deepcopy(dict(route_config)), dropped if dropped is not None else [], "")


def _route_name(route_config: Mapping[str, Any]) -> str:
    name = route_config.get("name")
    if not name:
        raise ValueError("a RouteConfiguration without a name")
    return str(name)


def _with_probe(route_config: Mapping[str, Any], generation: int) -> dict[str, Any]:
    """`route_config` plus a virtual host for PROBE_HOST answering with the generation."""
    rc = dict(route_config)
    key = "virtualHosts" if "virtualHosts" in rc else "virtual_hosts"
    probe = {"name": "harness-probe", "domains": [PROBE_HOST],
             "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200},
                         "response_headers_to_add": [{"header": {"key": PROBE_HEADER, "value": str(generation)}}]}]}
    rc[key] = list(rc.get(key) or []) + [probe]
    return rc


# --- Envoy configuration pieces --------------------------------------------------------------------


def _hcm(stat_prefix: str, routes: dict[str, Any]) -> dict[str, Any]:
    """The HTTP connection manager of every listener: Istio's route-relevant filters (fault,
    CORS) before the router, and local replies whose body is Envoy's response flags."""
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE,
        "stat_prefix": stat_prefix,
        **routes,
        "local_reply_config": {"body_format": {"text_format_source": {"inline_string": "%RESPONSE_FLAGS%"},
                                               "content_type": "text/plain"}},
        "http_filters": [
            {"name": "envoy.filters.http.fault",
             "typed_config": {"@type": _TYPE + "envoy.extensions.filters.http.fault.v3.HTTPFault"}},
            {"name": "envoy.filters.http.cors",
             "typed_config": {"@type": _TYPE + "envoy.extensions.filters.http.cors.v3.Cors"}},
            {"name": "envoy.filters.http.router",
             "typed_config": {"@type": _TYPE + "envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }}


def _listener(name: str, stat_prefix: str, routes: dict[str, Any], port: int = 0) -> dict[str, Any]:
    return {"name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [_hcm(stat_prefix, routes)]}]}


def _cluster(name: str, address: Optional[tuple[str, int]]) -> dict[str, Any]:
    endpoints = [] if address is None else [{"lb_endpoints": [{"endpoint": {"address": {
        "socket_address": {"address": address[0], "port_value": address[1]}}}}]}]
    return {"@type": CLUSTER_TYPE, "name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": endpoints}}


def _file_source(path: Path) -> dict[str, Any]:
    return {"path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
            "resource_api_version": "V3"}


def _write_atomically(path: Path, data: Any) -> None:
    """Write next to the watched directory and rename into it: Envoy sees one move, never half a file."""
    tmp = path.parent.parent / f".{path.parent.name}.{path.name}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _errors(log: str, limit: int = 1500) -> str:
    """Envoy's error lines in a log, each cut to `limit` characters (a rejection quotes the
    whole configuration after the reason)."""
    lines = [ln for ln in log.splitlines() if "][critical][" in ln or "][error][" in ln or "rejected" in ln]
    lines = lines or log.splitlines()[:5]
    return "\n".join(ln if len(ln) <= limit else ln[:limit] + " [...]" for ln in lines[-10:])


def validate(binary: str | Path, route_configs: Iterable[Mapping[str, Any]], clusters: Iterable[str] = (),
             base: Optional[Path] = None, strip: bool = True, timeout: float = 60) -> None:
    """``envoy --mode validate`` of the route configurations (each on a listener of its own,
    with our listeners' HTTP filters) and STATIC clusters of the given names; after
    ``for_upstream`` unless `strip` is False. Raises EnvoyError with Envoy's message."""
    listeners = []
    for i, rc in enumerate(route_configs):
        rc = for_upstream(rc) if strip else dict(rc)
        listeners.append(_listener(f"l{i}", f"l{i}", {"route_config": rc}))
    static_clusters = [_cluster(c, ("127.0.0.1", 9)) for c in clusters]
    bootstrap = {"node": {"id": "harness-validate", "cluster": "harness"},
                 "static_resources": {"listeners": listeners, "clusters": static_clusters}}
    directory = Path(tempfile.mkdtemp(prefix="envoy-validate-", dir=base))
    try:
        config = directory / "bootstrap.json"
        config.write_text(json.dumps(bootstrap, indent=1))
        proc = subprocess.run([str(binary), "--mode", "validate", "-c", str(config), "--log-level", "error",
                               "--disable-hot-restart"], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise EnvoyError(f"envoy --mode validate failed ({proc.returncode}): {_errors(proc.stdout + proc.stderr)}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- backends --------------------------------------------------------------------------------------


def _read_head(rfile: Any) -> Optional[tuple[bytes, dict[str, str]]]:
    """An HTTP/1.1 message's first line and headers (names lower-cased); None at a clean EOF."""
    first = rfile.readline(65537)
    for _ in range(100):   # empty lines between messages are tolerated
        if first not in (b"\r\n", b"\n"):
            break
        first = rfile.readline(65537)
    if not first or first in (b"\r\n", b"\n"):
        return None
    headers: dict[str, str] = {}
    for _ in range(200):
        line = rfile.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            return first.rstrip(b"\r\n"), headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("more than 200 header lines")


def _read_body(rfile: Any, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        for _ in range(100_000):
            size = int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):   # trailers
                    pass
                return b"".join(chunks)
            chunks.append(rfile.read(size))
            rfile.readline(1024)
        raise ValueError("too many chunks")
    length = int(headers.get("content-length") or 0)
    return rfile.read(length) if length else b""


class _BackendHandler(socketserver.StreamRequestHandler):
    """A minimal HTTP/1.1 server side (keep-alive, Content-Length or chunked request bodies):
    http.server's header parsing costs more than everything else a request does here."""

    disable_nagle_algorithm = True
    timeout = 60   # an idle connection's thread ends after this

    def handle(self) -> None:
        server: "_BackendServer" = self.server  # type: ignore[assignment]
        for _ in range(10_000_000):
            try:
                head = _read_head(self.rfile)
                if head is None:
                    return
                first, headers = head
                _read_body(self.rfile, headers)
            except (OSError, ValueError):
                return
            with server.lock:
                server.requests += 1
            close = headers.get("connection", "").lower() == "close"
            body = b"" if first.startswith(b"HEAD ") else server.body
            # One write: headers and body in one segment (two small writes meet delayed ACKs).
            self.wfile.write(server.head + (b"connection: close\r\n" if close else b"") + b"\r\n" + body)
            if close:
                return


class _BackendServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, cluster: str) -> None:
        super().__init__(("127.0.0.1", 0), _BackendHandler)
        self.cluster = cluster
        self.target = target_of(cluster)
        self.body = (self.target + "\n").encode()
        self.head = (f"HTTP/1.1 200 OK\r\n{TARGET_HEADER}: {self.target}\r\nx-harness-cluster: {cluster}\r\n"
                     f"content-type: text/plain\r\ncontent-length: {len(self.body)}\r\n").encode()
        self.lock = threading.Lock()
        self.requests = 0


class Backends:
    """One HTTP/1.1 server per cluster name on 127.0.0.1 (an ephemeral port each, a thread per
    connection), started on first use, answering every request with 200, the header
    ``x-harness-target: <target_of(cluster)>`` and that name as the body."""

    def __init__(self) -> None:
        self._servers: dict[str, tuple[_BackendServer, threading.Thread]] = {}
        self._lock = threading.Lock()

    def address(self, cluster: str) -> tuple[str, int]:
        """("127.0.0.1", port) of the cluster's server, started if it is not yet."""
        with self._lock:
            if cluster not in self._servers:
                server = _BackendServer(cluster)
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                          name=f"backend {cluster}", daemon=True)
                thread.start()
                self._servers[cluster] = (server, thread)
            host, port = self._servers[cluster][0].server_address[:2]
            return str(host), int(port)

    def requests(self) -> dict[str, int]:
        """How many requests each started server has answered, by cluster name."""
        with self._lock:
            return {c: s.requests for c, (s, _) in self._servers.items()}

    def close(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, {}
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server, _ in servers.values()]
        for t in stoppers:   # each waits for its serve loop's next poll: all at once
            t.start()
        for t in stoppers:
            t.join(timeout=5)
        for server, thread in servers.values():
            server.server_close()
            thread.join(timeout=5)

    def __enter__(self) -> "Backends":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the client side -------------------------------------------------------------------------------


class Response:
    """What a listener answered: status, headers (names lower-cased), body, and its key (see `send`)."""

    __slots__ = ("status", "headers", "body", "key")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        target = headers.get(TARGET_HEADER)
        if 200 <= status < 300 and target:
            self.key = target
        else:   # a local reply's body is Envoy's response flags
            flags = "" if target else body.decode(errors="replace").strip()
            self.key = f"{status} {flags if flags and len(flags) < 40 and ' ' not in flags else '-'}"

    @property
    def ok(self) -> bool:
        """A backend's 2xx."""
        return 200 <= self.status < 300 and TARGET_HEADER in self.headers


class _Client:
    """One keep-alive HTTP/1.1 connection to a listener, reconnecting after an error or a
    close; a minimal client (http.client's parsing would halve the request rate)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port, self.timeout = port, timeout
        self.sock: Optional[socket.socket] = None
        self.rfile: Any = None

    def request(self, host: str, path: str, headers: Optional[Mapping[str, str]] = None,
                method: str = "GET") -> tuple[str, Optional[Response]]:
        """(key, response); ("conn <exception>", None) when the connection failed."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.rfile = self.sock.makefile("rb")
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            self.sock.sendall(f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n{extra}\r\n".encode())
            head = _read_head(self.rfile)
            if head is None:
                raise ConnectionResetError("connection closed before an answer")
            first, response_headers = head
            status = int(first.split(b" ", 2)[1])
            body = b"" if method == "HEAD" else _read_body(self.rfile, response_headers)
            if response_headers.get("connection", "").lower() == "close":
                self.close()
            response = Response(status, response_headers, body)
            return response.key, response
        except (OSError, ValueError, IndexError) as e:
            self.close()
            return f"conn {type(e).__name__}", None

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.rfile.close()
                self.sock.close()
            self.sock = self.rfile = None


class Load:
    """What ``Envoy.under_load`` saw: every answer's key counted, the non-2xx ones listed."""

    MAX_ERRORS = 1000   # listed; the count in `counts` stays complete

    def __init__(self, max_seconds: float, max_requests: int) -> None:
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.counts: Counter[str] = Counter()
        self.errors: list[tuple[float, str]] = []   # (seconds since the start, key), first MAX_ERRORS
        self.error_count = 0
        self.total = 0
        self.truncated = False   # stopped by max_seconds / max_requests before the block ended
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._start = time.monotonic()

    def _record(self, key: str, ok: bool) -> bool:
        """Count one answer; False once the load must stop."""
        with self._lock:
            self.total += 1
            self.counts[key] += 1
            if not ok:
                self.error_count += 1
                if len(self.errors) < self.MAX_ERRORS:
                    self.errors.append((round(time.monotonic() - self._start, 3), key))
            self._lock.notify_all()
            if self.total >= self.max_requests or time.monotonic() - self._start >= self.max_seconds:
                self.truncated = True
                self._stop.set()
            return not self._stop.is_set()

    def wait(self, requests: int = 200, timeout: float = 10.0) -> int:
        """Block until `requests` more answers arrived (so a change was under load); the total.
        TimeoutError when they do not come in `timeout` s or the load has stopped."""
        deadline = time.monotonic() + timeout
        with self._lock:
            goal = self.total + requests
            while self.total < goal:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    raise TimeoutError(f"{self.total} of {goal} requests after {timeout} s "
                                       f"(stopped: {self._stop.is_set()}, truncated: {self.truncated})")
                self._lock.wait(min(left, 0.5))
            return self.total

    def summary(self) -> str:
        return f"{self.total} requests, {self.error_count} not 2xx: {dict(self.counts)}"


def within_binomial(counts: Mapping[str, int], weights: Mapping[str, float], n: int,
                    z: float = 3.29) -> list[str]:
    """Problems with an observed split of `n` requests, [] when it fits the weights.

    `weights` maps targets (or cluster names, turned into targets) to weights in any unit
    (percent, as in Istio). A target of weight 0 must get nothing and one with all the weight
    everything; any other must be within `z` standard deviations (3.29: two-sided 99.9%) of
    n*p, plus 0.5 for continuity. Every answer counted must be for a weighted target (errors
    are problems) and the counts must add up to `n`."""
    expected: Counter[str] = Counter()
    for name, w in weights.items():
        if w < 0:
            return [f"negative weight {w} for {name}"]
        expected[target_of(name)] += w
    total_weight = sum(expected.values())
    problems = []
    if total_weight <= 0:
        return [f"no positive weight in {dict(weights)}"]
    seen = sum(counts.values())
    if seen != n:
        problems.append(f"{seen} answers counted, {n} requests sent")
    for target, w in sorted(expected.items()):
        p = w / total_weight
        got = counts.get(target, 0)
        if p == 0 or p == 1:
            want = round(n * p)
            if got != want:
                problems.append(f"{target}: {got} of {n}, expected exactly {want} (weight {w} of {total_weight})")
            continue
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        if abs(got - mean) > z * sd + 0.5:
            problems.append(f"{target}: {got} of {n}, expected {mean:.1f} ± {z * sd + 0.5:.1f} "
                            f"(weight {w} of {total_weight}, z={z})")
    for key, got in sorted(counts.items()):
        if key not in expected and got:
            problems.append(f"{key}: {got} of {n}, not a weighted target")
    return problems


# --- Envoy -----------------------------------------------------------------------------------------


class Envoy:
    """One envoy process on loopback: an admin port and one listener per route configuration
    name in `listeners` (each fed by RDS from a file), clusters fed by CDS from a file.

    Until the first ``apply()`` there are no clusters and every listener answers 404 NR.
    Files, the bootstrap and the log (``envoy.log``) live in a new directory under `base`
    (the system's temporary directory when None), removed by ``close()`` unless `keep`."""

    def __init__(self, binary: str | Path, listeners: Sequence[str], backends: Backends,
                 base: Optional[Path] = None, concurrency: int = 1, log_level: str = "warning",
                 keep: bool = False) -> None:
        if not listeners or len(set(listeners)) != len(listeners):
            raise ValueError(f"listeners must be distinct route configuration names: {listeners}")
        self.binary = Path(binary)
        self.listeners = list(listeners)
        self.backends = backends
        self.concurrency = concurrency
        self.log_level = log_level
        self.keep = keep
        if base is not None:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix="envoy-", dir=base))
        self.log_file = self.directory / "envoy.log"
        self.admin_address_file = self.directory / "admin-address"
        self.cds_file = self.directory / "cds" / "cds.json"
        self.rds_files = {name: self.directory / f"rds{i}" / "rds.json" for i, name in enumerate(self.listeners)}
        self._stat_prefix = {name: f"l{i}" for i, name in enumerate(self.listeners)}
        self.admin_url = ""
        self.ports: dict[str, int] = {}
        self.generation = 0           # of the last apply(); the version_info of every file written
        self.clusters: dict[str, int] = {}   # the clusters Envoy has now: name -> Ready endpoints
        self.route_configs: dict[str, dict[str, Any]] = {}   # by listener, as written (stripped)
        self.dropped: list[str] = []  # what for_upstream dropped in the last apply()
        self._proc: Optional[subprocess.Popen] = None
        self._apply_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def bootstrap(self) -> dict[str, Any]:
        return {
            "node": {"id": "harness", "cluster": "harness"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "dynamic_resources": {"cds_config": _file_source(self.cds_file)},
            "static_resources": {"listeners": [
                _listener(f"listener-{self._stat_prefix[name]}", self._stat_prefix[name],
                          {"rds": {"route_config_name": name, "config_source": _file_source(self.rds_files[name])}})
                for name in self.listeners]},
        }

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> "Envoy":
        """Start envoy with no clusters and empty routes (also after a stop(): apply() again);
        returns once the admin says LIVE and every listener's port (new at each start) is known."""
        if self.running:
            return self
        self.clusters, self.route_configs, self.dropped = {}, {}, []
        self.cds_file.parent.mkdir(exist_ok=True)
        _write_atomically(self.cds_file, self._discovery(self.generation, []))
        for name, path in self.rds_files.items():
            path.parent.mkdir(exist_ok=True)
            self.route_configs[name] = {"name": name, "virtualHosts": []}
            _write_atomically(path, self._discovery(self.generation, [
                {"@type": ROUTE_CONFIG_TYPE, **_with_probe(self.route_configs[name], self.generation)}]))
        config = self.directory / "bootstrap.json"
        config.write_text(json.dumps(self.bootstrap(), indent=1) + "\n")
        self.admin_address_file.unlink(missing_ok=True)
        cmd = [str(self.binary), "-c", str(config), "--admin-address-path", str(self.admin_address_file),
               "--concurrency", str(self.concurrency), "--disable-hot-restart", "--log-level", self.log_level]
        with open(self.log_file, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=self.directory)
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._check_alive("before it was ready")
                if not self.admin_url and self.admin_address_file.is_file():
                    address = self.admin_address_file.read_text().strip()
                    if address:
                        self.admin_url = f"http://{address}"
                if self.admin_url:
                    with contextlib.suppress(OSError):
                        if self._admin("/ready").strip() == "LIVE":
                            break
                if time.monotonic() > deadline:
                    raise EnvoyError(f"envoy not LIVE after {timeout} s:\n{self.log_tail()}")
                time.sleep(0.02)
            statuses = json.loads(self._admin("/listeners?format=json"))["listener_statuses"]
            by_name = {s["name"]: s["local_address"]["socket_address"]["port_value"] for s in statuses}
            self.ports = {name: int(by_name[f"listener-{self._stat_prefix[name]}"]) for name in self.listeners}
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`)."""
        proc, self._proc = self._proc, None
        self.admin_url = ""
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """stop() and remove the directory (unless keep)."""
        self.stop()
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "Envoy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40, width: int = 1500) -> str:
        """The log's last lines, each cut to `width` characters."""
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return "\n".join(ln if len(ln) <= width else ln[:width] + " [...]" for ln in tail)

    def _check_alive(self, when: str) -> None:
        if self._proc is None:
            raise EnvoyError("envoy is not running")
        if self._proc.poll() is not None:
            code = self._proc.returncode
            raise EnvoyError(f"envoy exited with {code} {when}:\n{self.log_tail()}")

    # --- admin -----------------------------------------------------------------------------------

    def _admin(self, path: str, timeout: float = 5.0) -> str:
        with _http.open(self.admin_url + path, timeout=timeout) as r:
            return r.read().decode()

    def stats(self, regex: str) -> dict[str, Any]:
        """Admin /stats whose names match `regex` (counters and gauges as int, text readouts as str)."""
        query = urllib.parse.urlencode({"filter": regex, "format": "json"})
        return {s["name"]: s["value"] for s in json.loads(self._admin(f"/stats?{query}"))["stats"] if "value" in s}

    def config_dump(self, resource: Optional[str] = None) -> dict[str, Any]:
        return json.loads(self._admin("/config_dump" + (f"?resource={resource}" if resource else "")))

    # --- configuration ---------------------------------------------------------------------------

    @staticmethod
    def _discovery(version: int, resources: list[dict[str, Any]]) -> dict[str, Any]:
        return {"version_info": str(version), "resources": resources}

    def _wait(self, what: str, regex: str, before: Mapping[str, Any], done: Any, timeout: float,
              explain: Any = None) -> None:
        """Poll /stats matching `regex` until done(stats) is true. EnvoyError when an
        update_rejected or update_failure counter passed its value in `before` (taken before
        the file was written), with explain() or the log's error lines as the reason, or
        after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(f"while taking {what}")
            now = self.stats(regex)
            for name, value in now.items():
                if name.endswith((".update_rejected", ".update_failure")) and value > before.get(name, 0):
                    # A file Envoy cannot parse (update_failure) leaves no reason in the log
                    # at level warning: `explain` asks envoy --mode validate for one.
                    reason = (explain() if explain else None) or _errors(self.log_tail(200))
                    raise EnvoyError(f"envoy rejected {what} ({name} = {value}):\n{reason}")
            if done(now):
                return
            if time.monotonic() > deadline:
                raise EnvoyError(f"envoy did not take {what} in {timeout} s: {now}\n{self.log_tail()}")
            time.sleep(0.01)

    _CDS_STATS = r"^cluster_manager\.(cds\.|warming_clusters$)"

    def _apply_cds(self, clusters: Mapping[str, int], timeout: float) -> None:
        before = self.stats(self._CDS_STATS)
        resources = [_cluster(name, self.backends.address(name) if ready > 0 else None)
                     for name, ready in sorted(clusters.items())]
        _write_atomically(self.cds_file, self._discovery(self.generation, resources))
        version = str(self.generation)
        self._wait(f"clusters version {version}", self._CDS_STATS, before,
                   lambda s: s.get("cluster_manager.cds.version_text") == version
                   and s.get("cluster_manager.warming_clusters") == 0, timeout)

    def _rds_stats(self, name: str) -> str:
        return "^" + re.escape(f"http.{self._stat_prefix[name]}.rds.")

    def _apply_rds(self, by_listener: Mapping[str, dict[str, Any]], timeout: float) -> None:
        before = {name: self.stats(self._rds_stats(name)) for name in self.listeners}
        for name, path in self.rds_files.items():
            _write_atomically(path, self._discovery(self.generation, [
                {"@type": ROUTE_CONFIG_TYPE, **_with_probe(by_listener[name], self.generation)}]))
        version = str(self.generation)
        for name in self.listeners:
            self._wait(f"routes {name!r} version {version}", self._rds_stats(name), before[name],
                       lambda s: any(k.endswith(".version_text") and v == version for k, v in s.items()), timeout,
                       explain=lambda rc=by_listener[name]: self._explain(rc))
        self._probe(timeout)

    def _explain(self, route_config: Mapping[str, Any]) -> Optional[str]:
        """Why envoy --mode validate rejects a route configuration, None if it does not."""
        try:
            validate(self.binary, [route_config], self.clusters, base=self.directory, strip=False)
        except EnvoyError as e:
            return str(e)
        except (OSError, subprocess.SubprocessError) as e:
            return f"(envoy --mode validate could not run: {e})"
        return None

    def apply(self, route_configs: Iterable[Mapping[str, Any]], clusters_ready: Mapping[str, int],
              timeout: float = 10.0, strip: bool = True) -> int:
        """Make Envoy route as the given state says; returns the new generation.

        `route_configs`: RouteConfiguration objects (protojson as the traffic oracle gives
        them); each whose name is a listener's becomes that listener's routes (after
        ``for_upstream`` unless `strip` is False; what it dropped is in ``self.dropped``),
        others are ignored, and a listener none names gets an empty one (everything 404 NR).
        `clusters_ready`: every cluster that exists, with its count of Ready endpoints.

        The whole state replaces the previous one, make-before-break, each step waited for:
        1. clusters added and endpoints updated (those leaving stay), 2. every listener's
        routes (until its worker serves them), 3. clusters not in the state removed. A
        rejection raises EnvoyError with Envoy's reason; Envoy then keeps what it accepted
        so far, and the next apply() replaces everything again."""
        with self._apply_lock:
            self._check_alive("before apply()")
            by_listener: dict[str, dict[str, Any]] = {}
            dropped: list[str] = []
            for rc in route_configs:
                name = _route_name(rc)
                if name in self.rds_files:
                    if name in by_listener:
                        raise ValueError(f"two route configurations named {name!r}")
                    by_listener[name] = for_upstream(rc, dropped) if strip else copy.deepcopy(dict(rc))
            for name in self.listeners:
                by_listener.setdefault(name, {"name": name, "virtualHosts": []})
            wanted = {name: int(n) for name, n in clusters_ready.items()}

            self.generation += 1
            union = {**self.clusters, **wanted}
            self._apply_cds(union, timeout)
            self.clusters = union

            self._apply_rds(by_listener, timeout)
            self.route_configs = by_listener
            self.dropped = dropped

            if set(union) != set(wanted):
                self.generation += 1
                self._apply_cds(wanted, timeout)
            self.clusters = wanted
            return self.generation

    def _probe(self, timeout: float) -> None:
        """Each listener's worker serves the routes of this generation (the probe host answers it)."""
        deadline = time.monotonic() + timeout
        want = str(self.generation)
        for name in self.listeners:
            client = _Client(self.ports[name], timeout=2)
            try:
                while True:
                    key, resp = client.request(PROBE_HOST, "/")
                    if resp is not None and resp.headers.get(PROBE_HEADER) == want:
                        break
                    if time.monotonic() > deadline:
                        raise EnvoyError(f"listener {name!r} does not serve generation {want} after {timeout} s "
                                         f"(probe: {key}, {resp and resp.headers.get(PROBE_HEADER)})")
                    time.sleep(0.005)
            finally:
                client.close()

    # --- traffic ---------------------------------------------------------------------------------

    def port(self, listener: str) -> int:
        return self.ports[listener]

    def send(self, listener: str, host: str, path: str, n: int, headers: Optional[Mapping[str, str]] = None,
             threads: int = 2, method: str = "GET") -> Counter[str]:
        """Send `n` requests to the listener with that Host header (keep-alive connections,
        `threads` of them at once). Counts 2xx answers from a backend by target name, others
        by "<status> <flags>" (flags "-" when Envoy gave none, e.g. a direct response), and
        connection errors by "conn <exception>"."""
        port = self.ports[listener]
        threads = max(1, min(threads, n))
        results: list[Counter[str]] = [Counter() for _ in range(threads)]

        def worker(i: int) -> None:
            client = _Client(port)
            try:
                for _ in range(n // threads + (1 if i < n % threads else 0)):
                    results[i][client.request(host, path, headers, method)[0]] += 1
            finally:
                client.close()

        pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        total: Counter[str] = Counter()
        for c in results:
            total.update(c)
        return total

    @contextlib.contextmanager
    def under_load(self, listener: str, host: str, path: str, headers: Optional[Mapping[str, str]] = None,
                   threads: int = 2, max_seconds: float = 60.0, max_requests: int = 1_000_000,
                   method: str = "GET") -> Iterator[Load]:
        """Requests sent without pause from `threads` background threads (keep-alive) for the
        duration of the block, at most `max_seconds` and `max_requests` (then ``Load.truncated``).
        Yields the Load, whose ``errors`` lists every answer that is not a backend's 2xx."""
        port = self.ports[listener]
        load = Load(max_seconds, max_requests)

        def worker() -> None:
            client = _Client(port)
            try:
                while not load._stop.is_set():
                    key, resp = client.request(host, path, headers, method)
                    if not load._record(key, resp is not None and resp.ok):
                        break
                    if resp is None:
                        time.sleep(0.01)   # a refused connection must not spin
            finally:
                client.close()

        pool = [threading.Thread(target=worker, daemon=True, name=f"load {i}") for i in range(max(1, threads))]
        for t in pool:
            t.start()
        try:
            yield load
        finally:
            load._stop.set()
            with load._lock:
                load._lock.notify_all()
            for t in pool:
                t.join(timeout=15)
