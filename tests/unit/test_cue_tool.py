"""oam-cue (tools/cue): KubeVela-style CUE templates evaluated by the real CUE evaluator
(cuelang.org/go), JSON jobs in, JSON results out. The tool is built once per session through
tools/build-cue.sh (at once when it is cached); every template here is real CUE."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONTEXT = {"name": "web", "appName": "Shop", "namespace": "prod", "revision": "web-v3"}

# A small webservice-like component: output + outputs, imports, optional fields, defaults,
# an enum, nested list elements and a pattern constraint.
WEBSERVICE = """import (
	"strings"
	"strconv"
)

output: {
	apiVersion: "apps/v1"
	kind:       "Deployment"
	metadata: {
		name:      context.name
		namespace: context.namespace
		labels: app: strings.ToLower(context.appName)
	}
	spec: {
		replicas: parameter.replicas
		selector: matchLabels: "app.oam.dev/component": context.name
		template: {
			metadata: labels: "app.oam.dev/component": context.name
			spec: containers: [{
				name:  context.name
				image: parameter.image
				if parameter.cmd != _|_ {
					command: parameter.cmd
				}
				ports: [{
					containerPort: parameter.port
					name:          "port-" + strconv.FormatInt(parameter.port, 10)
					protocol:      parameter.protocol
				}]
				if parameter.env != _|_ {
					env: parameter.env
				}
			}]
		}
	}
}
outputs: service: {
	apiVersion: "v1"
	kind:       "Service"
	metadata: name: context.name
	spec: {
		selector: "app.oam.dev/component": context.name
		ports: [{port: parameter.port}]
	}
}
parameter: {
	// +usage=Which image would you like to use for your service
	// +short=i
	image: string
	// Number of pods.
	replicas: *1 | int & >=0
	port:     *80 | int
	cmd?: [...string]
	env?: [...{
		name:   string
		value?: string
	}]
	protocol: *"TCP" | "UDP" | "SCTP"
	labels?: [string]: string
	extra?: {...}
	mode?: *{fast: true} | {slow: int}
	args: *["run"] | [...string]
}
"""

# A trait patching the workload: +patchKey on the containers list (written in the shorthand
# `spec: template: spec: containers:`), +patchStrategy inside a list element and on a struct.
SIDECAR = """// the sidecar trait
patch: {
	// +patchKey=name
	spec: template: spec: containers: [{
		name:  parameter.name
		image: parameter.image
		// +patchStrategy=replace
		args: parameter.args
	}]
	metadata: {
		// +patchStrategy=retainKeys
		annotations: {"sidecar.oam.dev/name": parameter.name}
	}
}
parameter: {
	name:  string
	image: string
	args: *[] | [...string]
}
"""

# A trait with outputs computed from the component's output (context.output) and a loop.
GATEWAY = """import "strings"

outputs: {
	for h, p in parameter.http {
		"ingress-\\(strings.Replace(h, ".", "-", -1))": {
			apiVersion: "networking.k8s.io/v1"
			kind:       "Ingress"
			metadata: name: "\\(context.name)-\\(strings.Split(h, ".")[0])"
			spec: rules: [{
				host: h
				http: paths: [{
					path:     p
					pathType: "Prefix"
					backend: service: {
						name: context.name
						port: number: context.output.spec.template.spec.containers[0].ports[0].containerPort
					}
				}]
			}]
		}
	}
}
parameter: {
	// Hosts and their paths.
	http: [string]: string
}
"""

# The standard library: every import must resolve.
STDLIB = """import (
	"strings"
	"strconv"
	"list"
	"math"
	"encoding/json"
)

output: {
	upper:  strings.ToUpper(parameter.word)
	joined: strings.Join(parameter.words, "+")
	number: strconv.Atoi(parameter.digits)
	sum:    list.Sum(parameter.numbers)
	sorted: list.SortStrings(parameter.words)
	floor:  math.Floor(parameter.ratio)
	doc:    json.Marshal({a: parameter.word, n: len(parameter.words)})
}
parameter: {
	word: string
	words: [...string]
	digits: string
	numbers: [...int]
	ratio: number
}
"""


@pytest.fixture(scope="module")
def oam_cue() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "tools" / "build-cue.sh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    binary = Path(lines[0]) / "oam-cue"
    assert binary.is_file()
    return binary


def run_raw(binary: Path, payload: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary)], input=payload, capture_output=True, text=True, timeout=120)


def run(binary: Path, *jobs: dict[str, Any]) -> list[dict[str, Any]]:
    proc = run_raw(binary, json.dumps({"jobs": list(jobs)}))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["id"] for r in results] == [j["id"] for j in jobs]
    return results


def evaluate(binary: Path, template: str, parameter: Any, context: dict | None = None) -> dict[str, Any]:
    job = {"id": "j", "op": "eval", "template": template, "parameter": parameter,
           "context": CONTEXT if context is None else context}
    return run(binary, job)[0]


def describe(binary: Path, template: str) -> dict[str, Any]:
    return run(binary, {"id": "d", "op": "describe", "template": template})[0]


# ---------------------------------------------------------------------------------- the build

def test_build_script_prints_one_cached_bin_dir(oam_cue):
    proc = subprocess.run(["bash", str(ROOT / "tools" / "build-cue.sh"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == f"{oam_cue.parent}\n"
    assert oam_cue.parent.name == "bin" and oam_cue.parent.parent.name.startswith("cue-")


# ---------------------------------------------------------------------------------- eval

def test_webservice_output_and_outputs(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": "nginx:1.27", "env": [{"name": "MODE", "value": "x"}]})
    assert "errors" not in r, r
    out = r["output"]
    assert out["metadata"] == {"name": "web", "namespace": "prod", "labels": {"app": "shop"}}
    assert out["spec"]["replicas"] == 1  # the default
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container == {
        "name": "web", "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "name": "port-80", "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "x"}],
    }
    assert list(r["outputs"]) == ["service"]
    assert r["outputs"]["service"]["spec"] == {"selector": {"app.oam.dev/component": "web"},
                                               "ports": [{"port": 80}]}
    assert r["patch"] is None and r["directives"] == []


def test_given_values_override_defaults_and_keep_int_type(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": "a", "replicas": 3, "port": 8080, "protocol": "UDP",
                                       "cmd": ["serve", "--fast"]})
    spec = r["output"]["spec"]
    assert spec["replicas"] == 3 and isinstance(spec["replicas"], int)
    c = spec["template"]["spec"]["containers"][0]
    assert c["command"] == ["serve", "--fast"]
    assert c["ports"] == [{"containerPort": 8080, "name": "port-8080", "protocol": "UDP"}]
    assert "env" not in c


def test_patch_directives_survive_compilation(oam_cue):
    r = evaluate(oam_cue, SIDECAR, {"name": "log", "image": "busybox", "args": ["tail", "-f"]})
    assert "errors" not in r, r
    assert r["output"] is None and r["outputs"] == {}
    assert r["patch"] == {
        "spec": {"template": {"spec": {"containers": [
            {"name": "log", "image": "busybox", "args": ["tail", "-f"]}]}}},
        "metadata": {"annotations": {"sidecar.oam.dev/name": "log"}},
    }
    assert r["directives"] == [
        {"path": ["spec", "template", "spec", "containers"], "patchKey": "name"},
        {"path": ["spec", "template", "spec", "containers", 0, "args"], "patchStrategy": "replace"},
        {"path": ["metadata", "annotations"], "patchStrategy": "retainKeys"},
    ]


def test_trait_outputs_read_context_output(oam_cue):
    component = evaluate(oam_cue, WEBSERVICE, {"image": "nginx", "port": 9090})["output"]
    r = evaluate(oam_cue, GATEWAY, {"http": {"shop.example.com": "/", "api.example.com": "/v1"}},
                 {**CONTEXT, "output": component})
    assert "errors" not in r, r
    assert r["output"] is None and r["patch"] is None and r["directives"] == []
    assert list(r["outputs"]) == ["ingress-shop-example-com", "ingress-api-example-com"]
    ingress = r["outputs"]["ingress-api-example-com"]
    assert ingress["metadata"] == {"name": "web-api"}
    assert ingress["spec"]["rules"] == [{"host": "api.example.com", "http": {"paths": [
        {"path": "/v1", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 9090}}}}]}}]


def test_standard_library_imports_resolve(oam_cue):
    r = evaluate(oam_cue, STDLIB, {"word": "cue", "words": ["b", "a", "c"], "digits": "042",
                                   "numbers": [1, 2, 39], "ratio": 2.75})
    assert "errors" not in r, r
    assert r["output"] == {"upper": "CUE", "joined": "b+a+c", "number": 42, "sum": 42,
                           "sorted": ["a", "b", "c"], "floor": 2, "doc": '{"a":"cue","n":3}'}


def test_context_is_filled_when_declared_too(oam_cue):
    template = 'context: {name: string, namespace: *"default" | string}\n' \
               'output: {name: context.name, ns: context.namespace, v: parameter.v}\n' \
               'parameter: v: *"x" | string\n'
    assert evaluate(oam_cue, template, {}, {"name": "a"})["output"] == {"name": "a", "ns": "default", "v": "x"}
    assert evaluate(oam_cue, template, {"v": "y"}, {"name": "a", "namespace": "n"})["output"] == \
        {"name": "a", "ns": "n", "v": "y"}


def test_template_without_parameter_rejects_any_property(oam_cue):
    template = "output: {kind: \"ConfigMap\", metadata: name: context.name}\n"
    assert evaluate(oam_cue, template, {})["output"] == {"kind": "ConfigMap", "metadata": {"name": "web"}}
    r = evaluate(oam_cue, template, {"x": 1})
    assert r["errors"] == [{"path": ["x"], "message": 'unknown field "x" (no fields are allowed here)'}]


# ---------------------------------------------------------------------------------- parameter problems

def test_wrong_type_is_reported_with_cues_words(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": 3})
    assert "output" not in r
    assert r["errors"] == [{"path": ["image"],
                            "message": "conflicting values 3 and string (mismatched types int and string)",
                            "line": WEBSERVICE.splitlines().index("\timage: string") + 1}]


def test_enum_and_bound_violations(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": "x", "protocol": "HTTP", "replicas": -1})
    by_path = {tuple(e["path"]): e["message"] for e in r["errors"]}
    assert set(by_path) == {("protocol",), ("replicas",)}
    assert by_path[("protocol",)].startswith("3 errors in empty disjunction:")
    assert 'conflicting values "SCTP" and "HTTP"' in by_path[("protocol",)]
    assert "invalid value -1 (out of bound >=0)" in by_path[("replicas",)]


def test_wrong_type_inside_a_list_element(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": "x", "env": [{"name": "A"}, {"name": 7}]})
    assert [e["path"] for e in r["errors"]] == [["env", 1, "name"]]
    assert r["errors"][0]["message"] == "conflicting values 7 and string (mismatched types int and string)"


def test_unknown_fields_everywhere(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {
        "image": "x", "imgae": "typo",
        "env": [{"name": "A", "valeu": "b"}],
        "labels": {"any-key": "is fine"},    # pattern constraint
        "extra": {"anything": {"goes": 1}},  # open struct
        "mode": {"slow": 1, "speed": 2},     # the alternative {slow: int} fits best
    })
    assert r["errors"] == [
        {"path": ["imgae"], "message": 'unknown field "imgae" (allowed: image, replicas, port, cmd, env, '
                                       'protocol, labels, extra, mode, args)'},
        {"path": ["env", 0, "valeu"], "message": 'unknown field "valeu" (allowed: name, value)'},
        {"path": ["mode", "speed"], "message": 'unknown field "speed" (allowed: slow)'},
    ]


def test_unknown_fields_come_before_type_errors(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"image": 1, "colour": "red"})
    assert [e["path"] for e in r["errors"]] == [["colour"]]


def test_missing_required_fields(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, {"env": [{"value": "v"}]})
    assert [(e["path"], e["message"]) for e in r["errors"]] == [
        (["image"], 'missing required field "image" (incomplete value string)'),
        (["env", 0, "name"], 'missing required field "name" (incomplete value string)'),
    ]
    assert r["errors"][0]["line"] == WEBSERVICE.splitlines().index("\timage: string") + 1


def test_required_bang_field(oam_cue):
    template = "parameter: {host!: string, port: *443 | int}\noutput: {h: parameter.host, p: parameter.port}\n"
    r = evaluate(oam_cue, template, {})
    assert [e["path"] for e in r["errors"]] == [["host"]]
    assert r["errors"][0]["message"].startswith('missing required field "host"')
    assert evaluate(oam_cue, template, {"host": "h"})["output"] == {"h": "h", "p": 443}


# ---------------------------------------------------------------------------------- template errors

def test_evaluation_error_has_positions_in_the_template(oam_cue):
    template = "output: {\n\tkind: \"A\"\n\tspec: replicas: parameter.n + \"1\"\n}\nparameter: n: int\n"
    r = evaluate(oam_cue, template, {"n": 2})
    assert len(r["errors"]) == 1
    e = r["errors"][0]
    assert e["path"] == [] and e["line"] == 3
    assert e["message"].startswith("output.spec.replicas: invalid operands 2 and \"1\" to '+'")
    assert "template.cue:3:" in e["message"]


def test_conflict_inside_the_template(oam_cue):
    template = "output: {a: 1}\noutput: {a: parameter.a + 1}\nparameter: a: int\n"
    assert evaluate(oam_cue, template, {"a": 0})["output"] == {"a": 1}
    r = evaluate(oam_cue, template, {"a": 1})
    assert r["errors"][0]["message"].startswith("output.a: conflicting values 2 and 1")
    assert r["errors"][0]["line"] in (1, 2)
    assert "template.cue:1:" in r["errors"][0]["message"] and "template.cue:2:" in r["errors"][0]["message"]


def test_syntax_error(oam_cue):
    r = evaluate(oam_cue, "output: {\n\ta: 1\n\tb: [1, 2\n}\n", {})
    assert len(r["errors"]) == 1 and r["errors"][0]["line"] == 4
    assert "template.cue:4:" in r["errors"][0]["message"]


def test_output_that_is_not_concrete(oam_cue):
    template = "output: {name: context.name, size: parameter.size}\nparameter: size?: int\n"
    r = evaluate(oam_cue, template, {})
    assert r["errors"][0]["path"] == []
    assert r["errors"][0]["line"] == 1
    assert "output.size" in r["errors"][0]["message"]


def test_unknown_import(oam_cue):
    r = evaluate(oam_cue, 'import "nosuch/pkg"\noutput: a: 1\n', {})
    assert r["errors"][0]["line"] == 1 and "nosuch/pkg" in r["errors"][0]["message"]


# ---------------------------------------------------------------------------------- describe

def test_describe_parameter_tree(oam_cue):
    p = describe(oam_cue, WEBSERVICE)["parameter"]
    assert p["type"] == "object" and p["open"] is False
    f = p["fields"]
    assert list(f) == ["image", "replicas", "port", "cmd", "env", "protocol", "labels", "extra", "mode", "args"]
    assert f["image"] == {"node": {"type": "string"}, "optional": False,
                          "doc": "Which image would you like to use for your service"}
    assert f["replicas"] == {"node": {"type": "integer"}, "optional": False, "default": 1, "doc": "Number of pods."}
    assert f["cmd"] == {"node": {"type": "array", "items": {"type": "string"}}, "optional": True, "doc": ""}
    assert f["env"]["node"]["items"] == {"type": "object", "open": False, "fields": {
        "name": {"node": {"type": "string"}, "optional": False, "doc": ""},
        "value": {"node": {"type": "string"}, "optional": True, "doc": ""}}}
    assert f["protocol"]["node"] == {"type": "string", "enum": ["TCP", "UDP", "SCTP"]}
    assert f["protocol"]["default"] == "TCP"
    assert f["labels"]["node"] == {"type": "object", "fields": {}, "open": True, "values": {"type": "string"}}
    assert f["extra"]["node"] == {"type": "object", "fields": {}, "open": True}
    assert f["mode"]["default"] == {"fast": True}
    assert [alt["fields"].keys() for alt in f["mode"]["node"]["anyOf"]] == [{"fast": 0}.keys(), {"slow": 0}.keys()]
    assert all(alt["open"] is False for alt in f["mode"]["node"]["anyOf"])
    assert f["args"] == {"node": {"type": "array", "items": {"type": "string"}}, "optional": False,
                         "default": ["run"], "doc": ""}


def test_describe_pattern_values_and_defaults(oam_cue):
    p = describe(oam_cue, GATEWAY)["parameter"]
    assert p["fields"]["http"] == {"node": {"type": "object", "fields": {}, "open": True,
                                            "values": {"type": "string"}},
                                   "optional": False, "doc": "Hosts and their paths."}
    p = describe(oam_cue, SIDECAR)["parameter"]
    assert p["fields"]["args"]["default"] == []
    assert p["fields"]["args"]["node"] == {"type": "array", "items": {"type": "string"}}


def test_describe_of_a_broken_template(oam_cue):
    r = describe(oam_cue, "parameter: {a: int\n")
    assert "parameter" not in r and r["errors"][0]["line"] is not None


# ---------------------------------------------------------------------------------- protocol

def test_many_jobs_in_one_process_keep_order(oam_cue):
    jobs = [
        {"id": "a", "op": "eval", "template": WEBSERVICE, "parameter": {"image": "one"}, "context": CONTEXT},
        {"id": "b", "op": "describe", "template": SIDECAR},
        {"id": "c", "op": "eval", "template": WEBSERVICE, "parameter": {"image": 2}, "context": CONTEXT},
        {"id": "d", "op": "frobnicate", "template": ""},
        {"id": "e", "op": "eval", "template": WEBSERVICE, "parameter": {"image": "five"},
         "context": {**CONTEXT, "name": "other"}},
    ]
    r = run(oam_cue, *jobs)
    assert r[0]["output"]["spec"]["template"]["spec"]["containers"][0]["image"] == "one"
    assert list(r[1]["parameter"]["fields"]) == ["name", "image", "args"]
    assert r[2]["errors"][0]["path"] == ["image"]
    assert r[3]["errors"] == [{"path": [], "message": 'unknown op "frobnicate" (want "eval" or "describe")'}]
    assert r[4]["output"]["metadata"]["name"] == "other"


def test_parameter_that_is_not_an_object(oam_cue):
    r = evaluate(oam_cue, WEBSERVICE, ["nginx"])
    assert r["errors"] == [{"path": [], "message": "parameter must be a JSON object"}]


def test_unreadable_input_exits_2(oam_cue):
    proc = run_raw(oam_cue, "{not json")
    assert proc.returncode == 2 and proc.stdout == "" and "oam-cue" in proc.stderr
    proc = run_raw(oam_cue, '{"jobs": []}')
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"results": []}


def test_twenty_components_in_one_process_are_fast(oam_cue):
    jobs = [{"id": str(i), "op": "eval", "template": WEBSERVICE.replace("port-", f"port{i}-"),
             "parameter": {"image": f"img:{i}", "replicas": i}, "context": {**CONTEXT, "name": f"c{i}"}}
            for i in range(20)]
    start = time.monotonic()
    r = run(oam_cue, *jobs)
    elapsed = time.monotonic() - start
    assert [x["output"]["spec"]["replicas"] for x in r] == list(range(20))
    assert r[7]["output"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] == "port7-80"
    assert elapsed < 3.0, elapsed


def test_serve_answers_a_line_per_request_and_keeps_going(oam_cue):
    """--serve: the program's one evaluator process; each line of stdin a request, each answered by a line."""
    template = 'parameter: n: int\noutput: {apiVersion: "v1", kind: "ConfigMap", data: n: "\\(parameter.n)"}\n'
    requests = [{"jobs": [{"id": str(n), "op": "eval", "template": template, "parameter": {"n": n},
                           "context": {"name": "c"}}]} for n in (1, 2)]
    requests.append({"jobs": [{"id": "bad", "op": "eval", "template": template, "parameter": {"n": "x"},
                               "context": {}}]})
    proc = subprocess.run([oam_cue, "--serve"], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["results"][0]["id"] for line in lines] == ["1", "2", "bad"]
    assert lines[1]["results"][0]["output"]["data"] == {"n": "2"}
    assert lines[2]["results"][0]["errors"][0]["path"] == ["n"]
