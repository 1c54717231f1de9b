"""The traffic check's own logic, on plain data: the objects a render stands for, how an oracle answer is read,
and how a recorded transition is cut into states and judged. (The oracle itself, Istio's config generation, is
exercised by tests/e2e on every update, and by tests/e2e/test_traffic_oracle.py on objects of our own.)"""
from __future__ import annotations

from pathlib import Path

from oam import traffic
from oam.config import StageConfig
from oam.model import read_application
from oam.render import plan
from oam.revisions import History
from tests.e2e.traffic import Recorder, unsafe

FIRST, ROLLOUT = "examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml"


def _stage(file: str, after: tuple[str, ...] = ()) -> list[dict]:
    history = History()
    for earlier in after:
        history = plan(read_application(Path(earlier), earlier), history, StageConfig(app=earlier)).resolution.history
    return [d.manifest for d in plan(read_application(Path(file), file), history, StageConfig(app=file)).objects]


def test_a_render_stands_for_ready_pods_and_their_endpoint_slices():
    objects = traffic.rendered_objects(_stage(ROLLOUT, (FIRST,)), "default")
    pods = [o for o in objects if o["kind"] == "Pod"]
    reviews = sorted(p["metadata"]["labels"]["app.oam.dev/revision"] for p in pods
                     if p["metadata"]["labels"].get("app.oam.dev/component") == "reviews")
    assert reviews == ["reviews-v1", "reviews-v2"]  # one pod each at 90/10
    assert len({p["status"]["podIP"] for p in pods}) == len(pods)
    slices = {o["metadata"]["labels"]["kubernetes.io/service-name"]: o for o in objects if o["kind"] == "EndpointSlice"}
    assert sorted(slices) == ["details", "productpage", "ratings", "reviews"]
    assert len(slices["reviews"]["endpoints"]) == 2 and all(e["conditions"]["ready"] for e in slices["reviews"]["endpoints"])
    assert slices["reviews"]["ports"][0]["port"] == 9080
    kinds = {o["kind"] for o in objects}
    assert {"VirtualService", "DestinationRule", "Gateway", "Service"} <= kinds and "Deployment" not in kinds


def _call(clusters, outcome="routed", path="/", vs="default/reviews"):
    return {"path": path, "outcome": outcome, "virtualService": vs, "clusters": clusters}


def _answer(*calls, host="reviews", port=9080, caller="mesh"):
    return {"namespace": "default", caller: [{"host": host, "port": port, "calls": list(calls)}]}


V1 = "outbound|9080|reviews-v1|reviews.default.svc.cluster.local"
V2 = "outbound|9080|reviews-v2|reviews.default.svc.cluster.local"


def test_an_answer_gives_splits_problems_and_a_line_per_host():
    answer = _answer(_call([{"name": V1, "subset": "reviews-v1", "weight": 90, "exists": True, "ready": 1},
                            {"name": V2, "subset": "reviews-v2", "weight": 10, "exists": True, "ready": 1}]))
    (call,) = traffic.calls(answer)
    assert call.split() == {"reviews-v1": 90, "reviews-v2": 10}
    assert traffic.problems(answer) == []
    assert traffic.report(answer) == ["reviews.default:9080  mesh: reviews-v1 90% (1 Ready), reviews-v2 10% (1 Ready)"]


def test_each_way_a_call_fails_is_a_problem():
    unready = _answer(_call([{"name": V1, "subset": "reviews-v1", "weight": 90, "exists": True, "ready": 1},
                             {"name": V2, "subset": "reviews-v2", "weight": 10, "exists": True, "ready": 0}]))
    assert traffic.problems(unready) == [f"mesh reviews:9080/: weight 10 on {V2}, which has no Ready endpoint (503 UH)"]
    missing = _answer(_call([{"name": V2, "subset": "reviews-v2", "weight": 100, "exists": False, "ready": 0}],
                            outcome="no-cluster"))
    assert traffic.problems(missing) == [f"mesh reviews:9080/: weight 100 on {V2}, which does not exist (503 NC)"]
    none = _answer(_call([], outcome="no-route", vs=""), caller="gateway", host="shop.example.com", port=80)
    assert traffic.problems(none) == ["gateway shop.example.com:80/: no route (Envoy answers 404 NR)"]
    # A weight of 0 on a cluster without endpoints sends nothing there.
    idle = _answer(_call([{"name": V1, "subset": "reviews-v1", "weight": 100, "exists": True, "ready": 2},
                          {"name": V2, "subset": "reviews-v2", "weight": 0, "exists": True, "ready": 0}]))
    assert traffic.problems(idle) == []


def _obj(kind, name, rv, spec=None, ns="default", **extra):
    return {"kind": kind, "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
            "spec": spec or {}, **extra}


def test_a_recording_is_replayed_in_the_servers_order_and_cut_into_distinct_routing_states():
    rec = Recorder()
    rec._initial = {("default", "VirtualService", "reviews"): _obj("VirtualService", "reviews", 1, {"w": 100})}
    # Arrived out of order (one watch a kind), replayed by resourceVersion; a status-only change is no new state.
    rec._events = [
        (5, "MODIFIED", "VirtualService", _obj("VirtualService", "reviews", 5, {"w": 90})),
        (3, "ADDED", "DestinationRule", _obj("DestinationRule", "reviews", 3, {"subsets": ["v1", "v2"]})),
        (4, "MODIFIED", "DestinationRule", {**_obj("DestinationRule", "reviews", 4, {"subsets": ["v1", "v2"]}),
                                            "status": {"x": 1}}),
        (6, "ADDED", "Service", _obj("Service", "other", 6, ns="elsewhere")),
        (7, "DELETED", "Service", _obj("Service", "other", 7, ns="elsewhere")),
        (8, "ADDED", "Service", _obj("Service", "istiod", 8, ns="istio-system")),
    ]
    recording = rec.stop(settle=0)
    states = recording.states["default"]
    assert [sorted((o["kind"], str(o["spec"])) for o in s) for s in states] == [
        [("VirtualService", "{'w': 100}")],
        [("DestinationRule", "{'subsets': ['v1', 'v2']}"), ("VirtualService", "{'w': 100}")],
        [("DestinationRule", "{'subsets': ['v1', 'v2']}"), ("VirtualService", "{'w': 90}")],
    ]
    assert [len(s) for s in recording.states["elsewhere"]] == [0, 1, 0]
    assert "istio-system" not in recording.states


def test_a_transition_is_unsafe_when_a_call_served_before_fails_or_a_route_of_ours_points_at_nothing():
    ready = {"name": V1, "subset": "reviews-v1", "weight": 100, "exists": True, "ready": 1}
    before = _answer(_call([ready]))
    moved_early = _answer(_call([{**ready, "weight": 90}, {"name": V2, "subset": "reviews-v2", "weight": 10,
                                                           "exists": True, "ready": 0}]))
    after = _answer(_call([{**ready, "weight": 90}, {"name": V2, "subset": "reviews-v2", "weight": 10, "exists": True,
                                                     "ready": 1}]))
    assert unsafe([before, after]) == []
    assert unsafe([before, moved_early, after]) == [
        f"state 1/2: mesh reviews:9080/: weight 10 on {V2}, which has no Ready endpoint (503 UH)"]
    # A new Service's own default route before its first pod is Ready serves nobody yet: not the update's fault.
    fresh = _answer(_call([{"name": "outbound|9080||ratings.default.svc.cluster.local", "weight": 100,
                            "exists": True, "ready": 0}], vs=""), host="ratings")
    assert unsafe([{"namespace": "default"}, fresh]) == []
    # What failed before the update (pods made not Ready by hand) is not counted against it.
    assert unsafe([moved_early, moved_early, after]) == []


def test_a_route_waits_for_the_endpoints_of_the_pods_it_sends_to():
    from tests.harness import run_stage

    first = run_stage({"app": FIRST})
    assert first.error is None
    # The reviews route, once reviews-v1's pods are Ready, waits for them as endpoints of the reviews Service.
    assert ("default", {"app.oam.dev/component": "reviews", "app.oam.dev/revision": "reviews-v1"}, ("reviews",)) \
        in [(ns, {k: v for k, v in pods.items() if k in ("app.oam.dev/component", "app.oam.dev/revision")}, services)
            for ns, pods, services in first.endpoints_read]
    rollout = run_stage({"app": ROLLOUT}, first)
    revisions = {pods.get("app.oam.dev/revision") for _, pods, _ in rollout.endpoints_read}
    # Only the revision whose share grows: reviews-v2 from 0 to 10%; reviews-v1 goes from 100 to 90%.
    assert revisions == {"reviews-v2"}
    # The same stage again: no share grows, nothing is read (pods that lost their readiness do not hold it up).
    again = run_stage({"app": ROLLOUT}, rollout)
    assert again.error is None and again.endpoints_read == []
    # A preview reads nothing.
    preview = run_stage({"app": ROLLOUT}, first, preview=True)
    assert preview.endpoints_read == []
