"""The API server's dry run of each object before a stage applies anything, and what Kubernetes refuses that the
file check now sees itself (two Service ports of one name, two variables of one name)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from oam import cluster
from oam.cluster import ProbeError
from tests.harness import run_stage
from tests.unit.app_files import line, objects, problems

FIRST = "examples/bookinfo/first-deploy.yaml"


# --- in the program --------------------------------------------------------------------------------------

def test_an_object_the_api_server_refuses_stops_the_stage_before_anything_is_registered():
    refusal = 'Service "reviews" is invalid: spec.ports[0].name: Invalid value: "X"'
    run = run_stage({"app": FIRST}, refuse={("Service", "reviews"): refusal})
    assert run.error is not None
    assert f"Kubernetes refuses the Service 'reviews' made here: {refusal}" in run.error
    text = Path(FIRST).read_text()
    start = line(text, "- name: reviews")
    where = int(run.error.split(f"{FIRST}:", 1)[1].split(":", 1)[0])
    assert start <= where < start + 30, run.error  # at the reviews component or one of its traits
    assert not [n for n, r in run.resources.items() if r.type.startswith("kubernetes:")], run.resources


def test_a_stage_the_api_server_takes_goes_on():
    run = run_stage({"app": FIRST}, refuse={("Service", "not-in-this-app"): "no"})
    assert run.error is None, run.error


def test_only_what_changed_since_the_last_completed_update_is_tried_again():
    first = run_stage({"app": FIRST})
    assert first.error is None, first.error
    kinds = {kind for kind, _ in first.tried}
    assert {"Deployment", "Service", "VirtualService", "DestinationRule", "Gateway"} <= kinds, kinds
    assert "Namespace" not in kinds
    again = run_stage({"app": FIRST}, first)
    assert again.error is None and again.tried == [], again.tried
    rollout = run_stage({"app": "examples/bookinfo/rollout-v2.yaml"}, again)
    assert rollout.error is None, rollout.error
    assert 0 < len(rollout.tried) < len(first.tried), rollout.tried
    assert ("Deployment", "reviews-v2") in rollout.tried
    assert ("Deployment", "productpage-v1") not in rollout.tried  # unchanged


def test_a_refused_stage_is_tried_again_in_full_next_time():
    first = run_stage({"app": FIRST}, refuse={("Service", "reviews"): "refused"})
    assert first.error is not None
    again = run_stage({"app": FIRST}, first)
    assert ("Service", "reviews") in again.tried


def test_what_the_cluster_was_just_listed_without_is_not_read_again_before_its_dry_run():
    first = run_stage({"app": FIRST})
    assert first.error is None, first.error
    assert first.known and set(first.known.values()) == {(True, False)}, first.known  # all new, none held
    # One the cluster holds already (this application's own, so kept) is read first: its field manager.
    held = {("apps/v1", "Deployment", "default"): {"ratings": {"app.oam.dev/name": "book-info"}}}
    kept = run_stage({"app": FIRST}, existing=held)
    assert kept.error is None, kept.error
    assert kept.known[("Deployment", "ratings")] == (False, False)
    assert kept.known[("Deployment", "details")] == (True, False)
    # What the stack holds is read: it may have changed since, or gone.
    rollout = run_stage({"app": "examples/bookinfo/rollout-v2.yaml"}, first)
    assert rollout.known[("Deployment", "reviews-v2")] == (True, False)
    assert rollout.known[("Deployment", "reviews-v1")] == (False, False)
    assert rollout.known[("VirtualService", "reviews")] == (False, False)


def test_the_objects_of_a_namespace_the_stack_is_to_create_are_tried_in_the_default_namespace_at_once():
    first = run_stage({"app": FIRST}, namespaces={"default": None})
    assert first.error is None, first.error
    assert set(first.known.values()) == {(True, True)}, first.known
    again = run_stage({"app": "examples/bookinfo/rollout-v2.yaml"}, first, namespaces={"default": None})
    assert again.error is None, again.error
    assert again.known[("Deployment", "reviews-v2")] == (True, False)  # the stack made the namespace: it is there


# --- what a refusal is ------------------------------------------------------------------------------------

def status(code: int, message: str, *causes: str) -> dict:
    return {"code": code, "message": message, "details": {"causes": [{"message": c} for c in causes]}}


def test_a_field_that_cannot_change_in_place_is_no_refusal_of_an_existing_object():
    immutable = status(422, 'Job.batch "j" is invalid: spec.template: Invalid value: ...: field is immutable',
                       "Invalid value: ...: field is immutable")
    assert cluster._refusal(immutable, replaced=True) is None  # the provider replaces it
    assert cluster._refusal(immutable, replaced=False) is not None
    statefulset = status(422, "StatefulSet.apps \"s\" is invalid: spec: Forbidden: updates to statefulset spec for "
                              "fields other than 'replicas' are forbidden", "Forbidden: updates to statefulset spec")
    assert cluster._refusal(statefulset, replaced=True) is None
    assert cluster._refusal(immutable, replaced=True, kind="Job") is None  # a Job is replaced: nothing else reads it
    mixed = status(422, "invalid", "field is immutable", 'Duplicate value: "web"')
    assert cluster._refusal(mixed, replaced=True) == "invalid"


def test_a_field_that_cannot_change_in_place_is_a_refusal_of_an_object_that_runs_pods_or_routes_to_them():
    statefulset = status(422, "StatefulSet.apps \"s\" is invalid: spec: Forbidden: updates to statefulset spec for "
                              "fields other than 'replicas' are forbidden", "Forbidden: updates to statefulset spec")
    answer = cluster._refusal(statefulset, replaced=True, kind="StatefulSet")
    assert answer.startswith(statefulset["message"] + "; the provider would replace the StatefulSet"), answer
    assert "never replaces an object that runs pods or routes to them" in answer
    selector = status(422, 'Deployment.apps "d" is invalid: spec.selector: Invalid value: ...: field is immutable',
                      "Invalid value: ...: field is immutable")
    assert cluster._refusal(selector, replaced=True, kind="Deployment") is not None
    assert cluster._refusal(selector, replaced=False, kind="Deployment") is not None


def test_a_claim_is_replaced_only_when_a_policy_asks_for_it():
    claim = status(422, 'PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation '
                        "except resources.requests and volumeAttributesClassName for bound claims",
                   "Forbidden: spec is immutable after creation")
    answer = cluster._refusal(claim, replaced=True, kind="PersistentVolumeClaim")
    assert answer is not None and "its volume's data" in answer and "resource-update" in answer, answer
    assert cluster._refusal(claim, replaced=True, kind="PersistentVolumeClaim", recreate=True) is None


@pytest.mark.parametrize("answer", [
    status(500, "failed to create typed patch object (default/a; apps/v1, Kind=Deployment): .spec.x: field not "
                "declared in schema"),
    status(400, 'strict decoding error: unknown field "spec.x"'),
    status(422, 'Service "a" is invalid: spec.ports[1].name: Duplicate value: "web"'),
    status(403, 'admission webhook "validation.example.com" denied the request: no'),
])
def test_what_the_api_server_refuses(answer):
    assert cluster._refusal(answer, replaced=False) == answer["message"]


@pytest.mark.parametrize("answer", [
    status(403, 'deployments.apps "a" is forbidden: User "ci" cannot patch resource "deployments"'),
    status(400, 'admission webhook "mutate.example.com" does not support dry run'),
    status(503, "the server is currently unable to handle the request"),
    status(404, "the server could not find the requested resource"),
])
def test_what_only_says_the_object_could_not_be_tried(answer):
    with pytest.raises(ProbeError):
        cluster._refusal(answer, replaced=False)


# --- the requests, against a stand-in API server -------------------------------------------------------------

class FakeServer:
    """Answers GET from ``objects`` (path -> object), and each write with ``answers`` (method -> (code, body))."""

    def __init__(self):
        self.objects: dict[str, dict] = {}
        self.answers: dict[str, tuple[int, dict]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.requests.append(("GET", self.path, {}))
                found = fake.objects.get(self.path)
                self.reply(200 if found else 404, found or {"code": 404, "reason": "NotFound"})

            def write(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.command, self.path, {"type": self.headers["Content-Type"], **body}))
                self.reply(*fake.answers.get(self.command, (200, {})))

            do_PATCH = do_POST = write

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def kubeconfig(self, tmp_path) -> str:
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps({
            "current-context": "fake", "clusters": [{"name": "fake", "cluster": {
                "server": f"http://127.0.0.1:{self.server.server_address[1]}"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}],
            "users": [{"name": "me", "user": {"token": "t"}}]}))
        return str(path)


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
              "spec": {"replicas": 1}}
PATH = "/apis/apps/v1/namespaces/shop/deployments/api"


@pytest.fixture
def fake(tmp_path):
    server = FakeServer()
    yield server, server.kubeconfig(tmp_path)
    server.server.shutdown()


def test_an_existing_object_is_tried_as_the_field_manager_that_applied_it(fake):
    server, kubeconfig = fake
    server.objects[PATH] = {"metadata": {"name": "api", "managedFields": [
        {"manager": "kubectl", "operation": "Update"}, {"manager": "pulumi-kubernetes-1a2b3c4d", "operation": "Apply"}]}}
    assert cluster.dry_run(DEPLOYMENT, kubeconfig) is None
    method, path, body = server.requests[-1]
    assert method == "PATCH" and path.startswith(PATH + "?")
    query = dict(part.split("=") for part in path.split("?", 1)[1].split("&"))
    assert query == {"dryRun": "All", "fieldValidation": "Strict", "fieldManager": "pulumi-kubernetes-1a2b3c4d",
                     "force": "true"}
    assert body == {"type": "application/apply-patch+yaml", **DEPLOYMENT}


def test_a_refusal_comes_back_as_the_servers_message(fake):
    server, kubeconfig = fake
    server.answers["PATCH"] = (422, {"kind": "Status", "message": 'Deployment.apps "api" is invalid: x', "code": 422,
                                     "details": {"causes": [{"message": "x"}]}})
    assert cluster.dry_run(DEPLOYMENT, kubeconfig) == 'Deployment.apps "api" is invalid: x'
    assert "fieldManager=oam-dry-run" in server.requests[-1][1]  # a new object: no manager applied it yet


def test_an_object_of_a_namespace_not_made_yet_is_tried_in_the_default_namespace(fake):
    server, kubeconfig = fake
    server.answers["PATCH"] = (404, {"kind": "Status", "code": 404, "message": 'namespaces "shop" not found',
                                     "details": {"name": "shop", "kind": "namespaces"}})
    assert cluster.dry_run(DEPLOYMENT, kubeconfig) is None
    method, path, body = server.requests[-1]
    assert (method, path) == ("POST", "/apis/apps/v1/namespaces/default/deployments?dryRun=All&fieldValidation=Strict")
    assert body["metadata"] == {"name": "api", "namespace": "default"}
    server.answers["POST"] = (409, {"kind": "Status", "code": 409, "message": "already exists"})
    with pytest.raises(ProbeError, match="holds an object of its name"):
        cluster.dry_run(DEPLOYMENT, kubeconfig)


def test_an_object_the_cluster_was_listed_without_is_tried_as_a_new_one_without_reading_it(fake):
    server, kubeconfig = fake
    server.objects[PATH] = {"metadata": {"name": "api", "managedFields": [
        {"manager": "pulumi-kubernetes-1a2b3c4d", "operation": "Apply"}]}}  # not read: the caller knows better
    assert cluster.dry_run(DEPLOYMENT, kubeconfig, absent=True) is None
    assert [(m, p.split("?")[0]) for m, p, _ in server.requests] == [("PATCH", PATH)]
    assert "fieldManager=oam-dry-run" in server.requests[-1][1]


def test_an_object_of_a_namespace_known_missing_is_tried_in_the_default_namespace_at_once(fake):
    server, kubeconfig = fake
    server.answers["PATCH"] = (500, {"kind": "Status", "code": 500, "message": "not asked"})
    assert cluster.dry_run(DEPLOYMENT, kubeconfig, namespace_missing=True) is None
    assert [(m, p) for m, p, _ in server.requests] == [
        ("POST", "/apis/apps/v1/namespaces/default/deployments?dryRun=All&fieldValidation=Strict")]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}  # none to move to
    server.answers["PATCH"] = (200, {})
    assert cluster.dry_run(namespace, kubeconfig, namespace_missing=True) is None
    assert server.requests[-1][0] == "PATCH"


# --- what the file check sees itself ---------------------------------------------------------------------

WEB = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ports
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: registry.example.com/web:1
        ports:
          - port: 80
            containerPort: 8080
            expose: true
        env:
          - name: MODE
            value: a
{more}      traits:
{traits}"""


def write(tmp_path, traits: str, more: str = "") -> str:
    path = tmp_path / "app.yaml"
    path.write_text(WEB.format(traits=traits, more=more))
    return str(path)


def service_ports(path: str) -> list[tuple[str, int, int]]:
    (service,) = [m for m in objects(path).values() if m["kind"] == "Service"]
    return [(e["name"], e["port"], e["targetPort"]) for e in service["spec"]["ports"]]


def test_a_generated_port_name_another_port_of_the_service_has_is_made_unique(tmp_path):
    # Service port 80 targets container port 8080 and is named port-8080; the trait's port 8080 too.
    expose = write(tmp_path, "        - type: expose\n          properties:\n            port: [8080]\n")
    assert service_ports(expose) == [("port-8080", 80, 8080), ("port-8080-2", 8080, 8080)]
    gateway = write(tmp_path, "        - type: gateway\n          properties:\n            domain: a.example.com\n"
                              "            http:\n              /: 8080\n")
    assert service_ports(gateway) == [("port-8080", 80, 8080), ("port-8080-2", 8080, 8080)]


def test_a_port_name_given_twice_to_one_service_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, "        - type: expose\n          properties:\n            ports:\n"
                           "              - port: 9090\n                name: port-8080\n")
    text = problems(path)
    assert (f"{path}:{line(Path(path).read_text(), 'name: port-8080')}: spec.components[0].traits[0].properties."
            "ports[0].name: port name 'port-8080' is the name of Service port 80") in text, text


def test_a_variable_listed_twice_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, "        - type: scaler\n          properties:\n            replicas: 1\n",
                 more="          - name: MODE\n            value: b\n")
    text = problems(path)
    assert f"{path}:18: spec.components[0].properties.env[1].name: environment variable 'MODE' is listed twice" \
        in text, text
