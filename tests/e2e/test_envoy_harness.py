"""The Envoy harness (tests/envoy.py) itself, against the real upstream Envoy from tools/envoy.sh.

Route configurations here are hand-written in the shape istiod generates (protojson, as
the traffic oracle prints them): the sidecar's ``9080`` (one virtual host per service and
port, with every short and long name of the service, and ``allow_any`` to the
PassthroughCluster) and the ingress gateway's ``http.80``. Nothing is skipped: when Envoy
cannot be installed, these tests fail.
"""
from __future__ import annotations

import subprocess
import time
from typing import Any, Optional

import pytest

from tests.envoy import (ENVOY_SH, Backends, Envoy, EnvoyError, envoy_binary, for_upstream, target_of,
                         validate, within_binomial)

FQDN = "reviews.default.svc.cluster.local"
V1 = f"outbound|9080|reviews-v1|{FQDN}"
V2 = f"outbound|9080|reviews-v2|{FQDN}"
CART = "cart.shop.svc.cluster.local"
C1 = f"outbound|8080|cart-v1|{CART}"
C2 = f"outbound|8080|cart-v2|{CART}"
GATEWAY_HOST = "shop.example.com"
ISTIO_META = {"filterMetadata": {"istio": {"config": "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"}}}


def weighted(*clusters: tuple[str, int]) -> dict[str, Any]:
    return {"weightedClusters": {"clusters": [{"name": c, "weight": w} for c, w in clusters]},
            "timeout": "0s", "maxGrpcTimeout": "0s"}


def mesh_routes(w1: int, w2: int, extra_routes: Optional[list[dict]] = None,
                istio_only: bool = False) -> dict[str, Any]:
    """The sidecar's route configuration for port 9080: reviews split w1/w2 between v1 and v2."""
    domains = [FQDN, "reviews", "reviews.default.svc", "reviews.default", "10.96.0.12"]
    route: dict[str, Any] = {
        "name": "reviews", "match": {"prefix": "/"}, "metadata": ISTIO_META,
        "decorator": {"operation": "reviews:9080/*"},
        "route": {**weighted((V1, w1), (V2, w2)), "retryPolicy": {
            "retryOn": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
            "numRetries": 2, "retriableStatusCodes": [503], "hostSelectionRetryMaxAttempts": "5",
            "retryHostPredicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typedConfig": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}]}},
    }
    if istio_only:   # what upstream Envoy cannot load: types of Istio's own
        route["typedPerFilterConfig"] = {
            "istio.authn": {"@type": "type.googleapis.com/istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig",
                            "policy": {}},
            "istio.stats": {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                            "typeUrl": "type.googleapis.com/stats.PluginConfig", "value": {}},
        }
    return {
        "name": "9080",
        "virtualHosts": [
            {"name": f"{FQDN}:9080", "domains": domains + [f"{d}:9080" for d in domains],
             "routes": (extra_routes or []) + [route], "includeRequestAttemptCount": True},
            {"name": "allow_any", "domains": ["*"], "includeRequestAttemptCount": True,
             "routes": [{"name": "allow_any", "match": {"prefix": "/"},
                         "route": {"cluster": "PassthroughCluster", "timeout": "0s", "maxGrpcTimeout": "0s"}}]},
        ],
        "validateClusters": False, "maxDirectResponseBodySizeBytes": 1048576, "ignorePortInHostMatching": True,
    }


def gateway_routes(w1: int = 50, w2: int = 50) -> dict[str, Any]:
    """The ingress gateway's route configuration: /cart split w1/w2, nothing else."""
    return {
        "name": "http.80",
        "virtualHosts": [{
            "name": f"{GATEWAY_HOST}:80", "domains": [GATEWAY_HOST, f"{GATEWAY_HOST}:*"],
            "routes": [{"name": "cart", "match": {"prefix": "/cart", "caseSensitive": True},
                        "route": weighted((C1, w1), (C2, w2)), "metadata": ISTIO_META,
                        "decorator": {"operation": "cart:8080/cart*"}}],
            "includeRequestAttemptCount": True}],
        "validateClusters": False, "maxDirectResponseBodySizeBytes": 1048576, "ignorePortInHostMatching": True,
    }


ALL_READY = {V1: 1, V2: 1, C1: 1, C2: 1}


@pytest.fixture(scope="session")
def envoy_path() -> str:
    """tools/envoy.sh: installs Envoy into the tools cache once; fails (never skips) when it cannot."""
    return envoy_binary()


@pytest.fixture(scope="module")
def envoy(envoy_path, tmp_path_factory):
    """One Envoy for the module, listening for the sidecar's 9080 and the gateway's http.80; each
    test applies a whole state of its own."""
    with Backends() as backends, Envoy(envoy_path, ["9080", "http.80"], backends,
                                       base=tmp_path_factory.mktemp("envoy")) as proxy:
        yield proxy


# --- without Envoy ---------------------------------------------------------------------------------


def test_target_of():
    assert target_of(V1) == "reviews-v1"
    assert target_of(f"outbound|9080||{FQDN}") == "reviews"
    assert target_of("PassthroughCluster") == "PassthroughCluster"


def test_within_binomial():
    assert within_binomial({"reviews-v1": 1800, "reviews-v2": 200}, {V1: 90, V2: 10}, 2000) == []
    # 99.9%: 200 ± 3.29 * sqrt(2000 * 0.1 * 0.9) = 200 ± 44.1
    assert within_binomial({"reviews-v1": 1756, "reviews-v2": 244}, {V1: 90, V2: 10}, 2000) == []
    assert within_binomial({"reviews-v1": 1750, "reviews-v2": 250}, {V1: 90, V2: 10}, 2000)
    # 0 and 100 are exact
    assert within_binomial({"reviews-v1": 2000}, {V1: 100, V2: 0}, 2000) == []
    problems = within_binomial({"reviews-v1": 1999, "reviews-v2": 1}, {V1: 100, V2: 0}, 2000)
    assert len(problems) == 2 and all("exactly" in p for p in problems)
    # errors and missing answers are problems
    assert within_binomial({"reviews-v1": 1999, "503 UH": 1}, {V1: 100}, 2000) == [
        "reviews-v1: 1999 of 2000, expected exactly 2000 (weight 100 of 100)", "503 UH: 1 of 2000, not a weighted target"]
    assert within_binomial({"reviews-v1": 1999}, {V1: 100}, 2000)[0].startswith("1999 answers counted")


def test_for_upstream_keeps_routing_drops_istio_types():
    rc = mesh_routes(90, 10, istio_only=True)
    dropped: list[str] = []
    out = for_upstream(rc, dropped)
    assert sorted(d.split(": ")[1] for d in dropped) == [
        "istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig", "stats.PluginConfig"]
    assert out == mesh_routes(90, 10)          # nothing else changed
    assert "typedPerFilterConfig" in rc["virtualHosts"][0]["routes"][0]   # the input is not touched


def test_envoy_sh_is_a_fast_no_op_once_installed(envoy_path):
    start = time.monotonic()
    proc = subprocess.run(["bash", str(ENVOY_SH)], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip().splitlines()[-1] == envoy_path
    assert time.monotonic() - start < 5
    version = subprocess.run([envoy_path, "--version"], capture_output=True, text=True, check=True).stdout
    assert "/1.40.0/" in version


def test_validate_needs_the_strip(envoy_path, tmp_path):
    with pytest.raises(EnvoyError, match="istio.envoy.config.filter.http.authn"):
        validate(envoy_path, [mesh_routes(90, 10, istio_only=True)], base=tmp_path, strip=False)
    validate(envoy_path, [mesh_routes(90, 10, istio_only=True), gateway_routes()], base=tmp_path)


# --- through Envoy ---------------------------------------------------------------------------------


def test_split_within_the_binomial_interval(envoy):
    envoy.apply([mesh_routes(90, 10), gateway_routes(50, 50)], ALL_READY)
    n = 2000
    mesh = envoy.send("9080", "reviews:9080", "/reviews/1", n)
    assert within_binomial(mesh, {V1: 90, V2: 10}, n) == [], mesh
    gateway = envoy.send("http.80", GATEWAY_HOST, "/cart/items", n)
    assert within_binomial(gateway, {C1: 50, C2: 50}, n) == [], gateway


def test_all_or_nothing_is_exact(envoy):
    envoy.apply([mesh_routes(100, 0), gateway_routes(0, 100)], ALL_READY)
    assert envoy.send("9080", FQDN, "/", 500) == {"reviews-v1": 500}
    assert envoy.send("http.80", f"{GATEWAY_HOST}:80", "/cart", 500) == {"cart-v2": 500}


def test_header_match(envoy):
    canary = {"name": "canary", "match": {"prefix": "/", "headers": [{"name": "x-canary", "stringMatch": {"exact": "yes"}}]},
              "route": weighted((V2, 100))}
    envoy.apply([mesh_routes(100, 0, extra_routes=[canary])], ALL_READY)
    assert envoy.send("9080", "reviews", "/", 100, headers={"x-canary": "yes"}) == {"reviews-v2": 100}
    assert envoy.send("9080", "reviews", "/", 100) == {"reviews-v1": 100}


def test_missing_cluster_no_endpoints_and_no_route(envoy):
    # v2 exists with no Ready endpoint: UH; cart-v2 does not exist: NC.
    envoy.apply([mesh_routes(0, 100), gateway_routes(0, 100)], {V1: 1, V2: 0, C1: 1})
    assert envoy.send("9080", "reviews", "/", 20) == {"503 UH": 20}
    assert envoy.send("http.80", GATEWAY_HOST, "/cart", 20) == {"503 NC": 20}
    # the gateway routes /cart only, and only for its host
    assert envoy.send("http.80", GATEWAY_HOST, "/checkout", 20) == {"404 NR": 20}
    assert envoy.send("http.80", "other.example.com", "/cart", 20) == {"404 NR": 20}
    # a listener the state gives no route configuration routes nothing
    envoy.apply([mesh_routes(100, 0)], {V1: 1})
    assert envoy.send("http.80", GATEWAY_HOST, "/cart", 5) == {"404 NR": 5}
    # the sidecar's allow_any goes to the PassthroughCluster, which the harness does not have
    assert envoy.send("9080", "unknown.example.com", "/", 5) == {"503 NC": 5}


def test_removed_clusters_are_removed(envoy):
    envoy.apply([mesh_routes(0, 100)], {V1: 1, V2: 1})
    assert envoy.send("9080", "reviews", "/", 10) == {"reviews-v2": 10}
    envoy.apply([mesh_routes(0, 100)], {V1: 1})        # v2 deleted, the route still names it
    assert envoy.send("9080", "reviews", "/", 10) == {"503 NC": 10}
    dumped = envoy.config_dump("dynamic_active_clusters")["configs"]
    assert [c["cluster"]["name"] for c in dumped] == [V1]


def test_rejected_configuration_raises(envoy):
    with pytest.raises(EnvoyError, match="(?s)rejected routes '9080'.*could not find @type 'type.googleapis.com/istio.envoy.config.filter.http.authn"):
        envoy.apply([mesh_routes(100, 0, istio_only=True)], ALL_READY, strip=False)
    envoy.apply([mesh_routes(100, 0, istio_only=True)], ALL_READY)   # stripped, it loads
    assert len(envoy.dropped) == 2
    assert envoy.send("9080", "reviews", "/", 10) == {"reviews-v1": 10}


def replay(envoy: Envoy, states: list[tuple[int, int, dict[str, int]]], per_state: int = 300):
    """Apply each (w1, w2, ready) state of the sidecar in turn under continuous load; the Load."""
    w1, w2, ready = states[0]
    envoy.apply([mesh_routes(w1, w2)], ready)
    with envoy.under_load("9080", "reviews", "/", max_seconds=30) as load:
        load.wait(per_state)
        for w1, w2, ready in states[1:]:
            envoy.apply([mesh_routes(w1, w2)], ready)
            load.wait(per_state)
    assert not load.truncated
    return load


def test_safe_replay_under_load_has_no_error(envoy):
    load = replay(envoy, [
        (100, 0, {V1: 1, V2: 0}),     # v2 not ready yet, but it has no weight
        (100, 0, {V1: 1, V2: 1}),     # v2 ready
        (90, 10, {V1: 1, V2: 1}),
        (0, 100, {V1: 1, V2: 1}),
        (0, 100, {V1: 0, V2: 1}),     # v1 scaled down once it has no weight
        (0, 100, {V2: 1}),            # and its cluster gone
    ])
    assert load.errors == [], load.summary()
    assert load.counts["reviews-v1"] > 0 and load.counts["reviews-v2"] > 0, load.summary()


def test_unsafe_replay_under_load_fails(envoy):
    load = replay(envoy, [
        (100, 0, {V1: 1, V2: 0}),
        (90, 10, {V1: 1, V2: 0}),     # weight moved to a cluster with no Ready endpoint
        (100, 0, {V1: 1, V2: 0}),
    ])
    assert load.errors, load.summary()
    assert {key for _, key in load.errors} == {"503 UH"}, load.summary()
