"""Values Kubernetes or Istio would refuse mid-update are refused before anything runs: one rule, one case.

Each case edits one line of our shop example; the program must fail before registering a
resource with exactly one problem, at the edited line and path, saying what and how to fix.
"""
from __future__ import annotations

import pytest

from tests.harness import ROOT, run_stage

SHOP = (ROOT / "examples" / "shop" / "v1.yaml").read_text(encoding="utf-8")
CART = "spec.components[0]"
VOLUME = """            mountPath: /etc/mailer
"""

CASES = [
    # (id, old text, new text, marker of the line, path, pieces of the message)
    ("cpu-not-a-quantity", "cpu: 250m", 'cpu: "abc"', 'cpu: "abc"', f"{CART}.properties.cpu",
     ("'abc' is not a Kubernetes quantity", "500m")),
    ("memory-unknown-unit", "memory: 256Mi", "memory: 1Zi", "memory: 1Zi", f"{CART}.properties.memory",
     ("'1Zi' is not a Kubernetes quantity",)),
    ("image-with-a-space", "image: registry.example.com/shop/cart:1.0.0", "image: registry.example.com/shop/cart 1.0",
     "image: registry", f"{CART}.properties.image", ("holds a space",)),
    ("image-empty", "image: registry.example.com/shop/cart:1.0.0", 'image: ""', 'image: ""',
     f"{CART}.properties.image", ("is empty",)),
    ("image-upper-case-path", "image: registry.example.com/shop/cart:1.0.0", "image: registry.example.com/Shop/cart:1",
     "image: registry", f"{CART}.properties.image", ("is not an image reference", "lower-case path")),
    ("env-name-with-equals", "- name: LOG_LEVEL", "- name: MODE=prod", "MODE=prod", f"{CART}.properties.env[0].name",
     ("'MODE=prod' is not an environment variable name",)),
    ("port-name-upper-case", "            name: http\n", "            name: HTTP\n", "name: HTTP",
     f"{CART}.properties.ports[0].name", ("port name 'HTTP' is not valid",)),
    ("port-name-too-long", "            name: http\n", "            name: http-for-the-cart\n", "http-for-the-cart",
     f"{CART}.properties.ports[0].name", ("at most 15",)),
    ("port-name-twice", "          - port: 8080\n            name: http\n",
     "          - port: 8080\n            name: http\n          - port: 8081\n            name: http # twice\n",
     "http # twice", f"{CART}.properties.ports[1].name", ("port name 'http' is used twice",)),
    ("replicas-beyond-int32", "targetSize: 3", "targetSize: 3000000000", "targetSize: 3000000000",
     f"{CART}.traits[2].properties.targetSize", ("must be <= 2147483647",)),
    ("gateway-host-with-scheme", "hosts: [shop.example.com]", "hosts: [https://shop.example.com]", "hosts: [https",
     f"{CART}.traits[1].properties.hosts[0]", ("is not a host name", "no scheme")),
    ("gateway-host-wildcard-inside", "hosts: [shop.example.com]", "hosts: [web.*.example.com]", "hosts: [web",
     f"{CART}.traits[1].properties.hosts[0]", ("'*' may only stand alone or as the first label",)),
    ("gateway-port-the-service-lacks", "            port: 8080\n        - type: rollout",
     "            port: 8081\n        - type: rollout", "port: 8081", f"{CART}.traits[1].properties.port",
     ("port 8081 is not a port of component 'cart'",)),
    ("volume-name-not-dns", "        volumes:\n          - name: templates", "        volumes:\n          - name: Cache_Dir",
     "Cache_Dir", "spec.components[2].properties.volumes[0].name", ("volume name 'Cache_Dir' is not valid",)),
    ("two-volumes-one-mount-path", VOLUME, VOLUME + "          - name: more\n            type: emptyDir\n"
     "            mountPath: /etc/mailer # again\n", "/etc/mailer # again", "spec.components[2].properties.volumes[1].mountPath",
     ("'/etc/mailer' is already the mountPath of volume 'templates'",)),
    ("default-mode-out-of-range", VOLUME, VOLUME + "            defaultMode: 999\n", "defaultMode: 999",
     "spec.components[2].properties.volumes[0].defaultMode", ("999 is not a file mode",)),
    ("items-absolute-path", VOLUME, VOLUME + "            items:\n              - key: a\n                path: /etc/x\n",
     "path: /etc/x", "spec.components[2].properties.volumes[0].items[0].path", ("must be a relative path",)),
    ("label-value-too-long", "            team: shop", "            team: " + "x" * 64, "team: xxx",
     f"{CART}.traits[3].properties.team", ("is not a valid label value",)),
    ("annotations-too-large", "shop.example.com/owner: payments", "shop.example.com/owner: " + "x" * 300_000,
     "properties:\n            shop.example.com/owner", "spec.components[2].traits[1].properties",
     ("Kubernetes allows 256 KiB in all",)),
]


@pytest.mark.parametrize("old, new, marker, path, pieces", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_anything_runs(tmp_path, old, new, marker, path, pieces):
    assert old in SHOP, f"the example no longer holds {old!r}"
    text = SHOP.replace(old, new, 1)
    app = tmp_path / "app.yaml"
    app.write_text(text, encoding="utf-8")
    line = text[: text.index(marker)].count("\n") + 1
    run = run_stage({"app": str(app)})
    assert run.resources == {}, "resources were registered"
    problems = run.error.splitlines()
    assert len(problems) == 1, f"one mistake, one message:\n{run.error}"
    assert problems[0].startswith(f"{app}:{line}: {path}: "), problems[0]
    assert all(p in problems[0] for p in pieces), problems[0]
    assert len(problems[0]) < 600


def test_good_values_pass(tmp_path):
    text = SHOP.replace("cpu: 250m", "cpu: '0.5'").replace("memory: 256Mi", "memory: 1e9").replace(
        "image: registry.example.com/shop/cart:1.0.0",
        "image: localhost:5000/shop/cart@sha256:" + "a" * 64).replace("hosts: [shop.example.com]", "hosts: ['*.shop.example.com']")
    app = tmp_path / "good.yaml"
    app.write_text(text, encoding="utf-8")
    assert run_stage({"app": str(app)}).error is None


def test_an_expose_port_listed_twice(tmp_path):
    text = (ROOT / "examples" / "bookinfo" / "first-deploy.yaml").read_text().replace(
        "        - type: expose\n          properties:\n            port:\n              - 9080\n",
        "        - type: expose\n          properties:\n            port:\n              - 9080\n              - 9080\n", 1)
    app = tmp_path / "app.yaml"
    app.write_text(text)
    run = run_stage({"app": str(app)})
    assert run.resources == {} and "traits[0].properties.port[1]: port 9080 is listed twice" in run.error


def test_a_property_error_gives_no_false_port_problem(tmp_path):
    text = SHOP.replace("cpu: 250m", "cpu: [1]", 1)
    app = tmp_path / "app.yaml"
    app.write_text(text)
    run = run_stage({"app": str(app)})
    assert "is not a port of component" not in run.error and len(run.error.splitlines()) == 1, run.error


@pytest.mark.parametrize("written, shown", [("0.5", "0.5"), ("yes", "true"), ("on", "true"), ("2", "2")])
def test_yaml_1_1_values_get_a_quoting_hint(tmp_path, written, shown):
    text = SHOP.replace("cpu: 250m", f"cpu: {written}", 1)
    app = tmp_path / "app.yaml"
    app.write_text(text)
    run = run_stage({"app": str(app)})
    read = f"{written} as" if written == shown else f"{written} as a boolean ({shown})"
    assert f"properties.cpu: must be a string (got {shown}); YAML reads {read}" in run.error, run.error
    assert f'quote it, like "{written}"' in run.error, "the hint quotes what was written, not what YAML made of it"
    assert "True" not in run.error and "None" not in run.error


def test_names_up_to_63_characters(tmp_path):
    long = "c" * 60
    text = SHOP.replace("name: shop\n", f"name: {'s' * 63}\n", 1).replace("    - name: search\n", f"    - name: {long}\n", 1)
    app = tmp_path / "app.yaml"
    app.write_text(text)
    assert run_stage({"app": str(app)}).error is None  # search's revision is c..c-v1: 63 characters
    app.write_text(text.replace(long, long + "cc"))
    run = run_stage({"app": str(app)})
    assert f"revision name '{long}cc-v1' is longer than 63 characters" in run.error
    assert "shorten the component name to at most 60 characters" in run.error


@pytest.mark.parametrize("typed, suggested", [("webservise", "webservice"), ("sidecar", None), ("storage", None)])
def test_did_you_mean_only_when_close(tmp_path, typed, suggested):
    text = SHOP.replace("      type: webservice\n", f"      type: {typed}\n", 1) if typed == "webservise" else \
        SHOP.replace("        - type: labels\n", f"        - type: {typed}\n", 1)
    app = tmp_path / "app.yaml"
    app.write_text(text)
    run = run_stage({"app": str(app)})
    assert ("did you mean" in run.error) == (suggested is not None), run.error
    if suggested:
        assert f"did you mean '{suggested}'?" in run.error
