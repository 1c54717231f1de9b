"""Users' own definitions in CUE, evaluated by CUE itself: a component type and a trait of ours render and are
checked, their bad parameters are refused at the Application's line, their CUE errors are reported with the
definition's file and line (no traceback), one with a built-in's name replaces it, and what needs KubeVela's
controller is refused. The evaluator is the real one (tools/build-cue.sh builds it once)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from oam import userdefs
from oam.__main__ import main
from oam.kit.patching import PatchError, apply_patch, directives
from tests.harness import run_stage

ROOT = Path(__file__).resolve().parents[2]
DEFS = "examples/user-definitions/definitions"
EXAMPLE = "examples/user-definitions/app.yaml"


@pytest.fixture(autouse=True)
def builtins_after():
    yield
    userdefs.uninstall()  # the registries are the process's: the next test starts from the built-in ones


def definition(kind: str, name: str, template: str, extra: str = "") -> str:
    return (f"apiVersion: core.oam.dev/v1beta1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{extra}"
            f"  schematic:\n    cue:\n      template: |\n{textwrap.indent(textwrap.dedent(template), ' ' * 8)}")


def manifests(run) -> dict[str, dict]:
    return {n: r.inputs for n, r in run.resources.items() if r.type.startswith("kubernetes:")}


def test_the_example_renders_with_its_definitions():
    run = run_stage({"app": EXAMPLE, "definitions": [DEFS]})
    assert run.error is None, run.error
    objects = manifests(run)
    blog = objects["blog-blog-deployment-blog"]
    assert blog["kind"] == "Deployment" and blog["spec"]["replicas"] == 2
    containers = blog["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["blog", "log-shipper"], "the trait's patch, merged by name"
    assert containers[0]["env"] == [{"name": "SITE_PORT", "value": "8080"}, {"name": "THEME", "value": "dark"}]
    assert objects["blog-blog-service-blog"]["spec"]["ports"] == [{"port": 80, "targetPort": 8080}]
    assert objects["blog-blog-log-shipper-log-shipper"]["data"] == {"destination": "logs.example.com:514"}
    # On a component of the program's own type, the patch changes its Deployment, pods and all.
    api = objects["blog-api-deployment"]
    assert [c["name"] for c in api["spec"]["template"]["spec"]["containers"]] == ["api", "log-shipper"]
    assert objects["blog-api-log-shipper-log-shipper"]["metadata"]["labels"]["app.oam.dev/component"] == "api"
    # Objects written by a template are applied as objects written in full are: the Service after the pods.
    assert run.depends("blog-blog-service-blog", "blog-blog-deployment-blog")
    # A policy's object is the application's, in its namespace, named as its template names it.
    network = objects["blog-networkpolicy-blog-network"]
    assert network["metadata"]["namespace"] == "default"
    assert network["spec"]["podSelector"] == {"matchLabels": {"app.oam.dev/name": "blog"}}
    assert network["spec"]["ingress"][0]["from"][1] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}


def test_a_trait_s_patch_is_part_of_the_revision(tmp_path):
    first = run_stage({"app": EXAMPLE, "definitions": [DEFS]})
    changed = tmp_path / "app.yaml"
    changed.write_text((ROOT / EXAMPLE).read_text().replace("logs.example.com:514", "logs2.example.com:514"))
    run = run_stage({"app": str(changed), "definitions": [DEFS]}, first)
    assert run.error is None, run.error
    api = manifests(run)["blog-api-deployment"]
    assert api["spec"]["template"]["metadata"]["labels"]["app.oam.dev/revision"] == "api-v2"
    assert api["spec"]["template"]["spec"]["containers"][1]["env"] == [{"name": "SHIP_TO",
                                                                      "value": "logs2.example.com:514"}]


def test_bad_parameters_are_refused_at_the_application_s_line(tmp_path):
    text = (ROOT / EXAMPLE).read_text()
    bad = tmp_path / "app.yaml"
    bad.write_text(text.replace("replicas: 2", 'replicas: "two"')
                   .replace("            destination: logs.example.com:514\n", "            destinaton: x\n", 1))
    run = run_stage({"app": str(bad), "definitions": [DEFS]})
    lines = bad.read_text().splitlines()
    line = lambda fragment: lines.index(next(x for x in lines if fragment in x)) + 1  # noqa: E731
    assert run.error is not None and not run.resources
    assert (f"app.yaml:{line('destinaton')}: spec.components[0].traits[0].properties.destinaton: unknown field "
            f'"destinaton" (allowed: image, destination)') in run.error
    # CUE reports one kind of problem at a time: the unknown field first; then the rest.
    bad.write_text(text.replace("replicas: 2", 'replicas: "two"'))
    run = run_stage({"app": str(bad), "definitions": [DEFS]})
    assert f'app.yaml:{line("replicas")}: spec.components[0].properties.replicas: ' in run.error
    assert 'conflicting values "two" and int (mismatched types string and int)' in run.error
    assert f"ComponentDefinition 'site' ({DEFS}/site.yaml) declares the parameters" in run.error
    bad.write_text(text.replace("        image: registry.example.com/blog:1.0\n", ""))
    run = run_stage({"app": str(bad), "definitions": [DEFS]})
    assert "spec.components[0].properties.image: missing required field \"image\"" in run.error, run.error


def test_a_cue_error_names_the_definition_s_file_and_line(tmp_path):
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "broken.yaml").write_text(definition("ComponentDefinition", "broken", """
        output: {
        	apiVersion: "v1"
        	kind:       "ConfigMap"
        	data: size: parameter.size + "x"
        }
        parameter: size: int
        """))
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
                   "    - name: b\n      type: broken\n      properties:\n        size: 3\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is not None and "Traceback" not in run.error
    # At the line of the definition's file that holds the template's wrong line.
    line = next(i for i, text in enumerate((defs / "broken.yaml").read_text().splitlines(), 1) if "data: size" in text)
    assert "app.yaml:8: spec.components[0].type: ComponentDefinition 'broken' failed: " in run.error
    assert f"defs/broken.yaml:{line}: output.data.size: invalid operands 3 and \"x\" to '+' (type int and string)" \
        in run.error, run.error
    assert "the definition's CUE template does not evaluate for these properties" in run.error


def test_a_definition_with_a_built_in_s_name_replaces_it(tmp_path):
    defs = tmp_path / "labels.yaml"
    defs.write_text(definition("TraitDefinition", "labels", """
        patch: metadata: labels: {for k, v in parameter {"team.example.com/\\(k)": v}}
        parameter: [string]: string
        """))
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
                   "    - name: web\n      type: webservice\n      properties:\n        image: nginx:1.25\n"
                   "      traits:\n        - type: labels\n          properties:\n            owner: web\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is None, run.error
    assert any("trait 'labels' of" in m and "replaces the built-in one of that name" in m for _, m in run.logs)
    deployment = next(m for m in manifests(run).values() if m["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["team.example.com/owner"] == "web"
    assert "owner" not in deployment["metadata"]["labels"], "the built-in labels trait is not used"
    # Without the definitions the built-in one is back.
    assert run_stage({"app": "examples/definitions/trait-labels.yaml"}).error is None
    from oam.registry import TRAITS
    assert getattr(TRAITS.get("labels"), "user", None) is None


def test_what_needs_kubevela_s_controller_is_refused_at_its_line(tmp_path):
    step = definition("WorkflowStepDefinition", "notify-all", """
        import "vela/op"
        apply: op.#Apply & {value: parameter.object}
        wait: op.#ConditionalWait & {continue: apply.value.status != _|_}
        parameter: object: {...}
        """)
    policy = definition("PolicyDefinition", "my-policy", "parameter: {}\n")
    topology = definition("PolicyDefinition", "topology", "parameter: clusters: [...string]\n")
    (tmp_path / "defs.yaml").write_text(step + "---\n" + policy + "---\n" + topology)
    run = run_stage({"app": "examples/bookinfo/first-deploy.yaml", "definitions": [str(tmp_path / "defs.yaml")]})
    assert run.error is not None
    lines = (tmp_path / "defs.yaml").read_text().splitlines()
    templates = [i + 1 for i, line in enumerate(lines) if "template: |" in line]
    assert (f"defs.yaml:{templates[0]}: spec.schematic.cue.template: WorkflowStepDefinition 'notify-all' is not "
            "supported: a step written in CUE acts through KubeVela's vela/op actions (it uses op.#Apply, "
            "op.#ConditionalWait), which KubeVela's workflow controller runs in the cluster") in run.error
    # A policy whose template outputs no objects is one KubeVela's controller gives its effect.
    assert (f"defs.yaml:{templates[1]}: spec.schematic.cue.template: PolicyDefinition 'my-policy' outputs no objects: "
            "a policy written in CUE takes effect here through the objects its template outputs") in run.error
    assert "set output (or outputs) in its template, or use a built-in policy" in run.error
    assert f"defs.yaml:{templates[2]}: spec.schematic.cue.template: PolicyDefinition 'topology' outputs no" in run.error
    assert "leave it out: the built-in policy 'topology' does its work here" in run.error


SHARED = """
    outputs: {
    	settings: {
    		apiVersion: "v1"
    		kind:       "ConfigMap"
    		data: {app: context.appName, policy: context.name, namespace: context.namespace}
    	}
    	if parameter.secret {
    		token: {
    			apiVersion: "v1"
    			kind:       "Secret"
    			metadata: {name: "shared-token", namespace: "vault"}
    			stringData: token: "t"
    		}
    	}
    }
    parameter: {
    	secret: *false | bool
    }
    """


def _policy_app(tmp_path, policy_props: str) -> Path:
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\n  namespace: shop\n"
                   "spec:\n  components:\n    - name: web\n      type: webservice\n      properties:\n"
                   "        image: nginx:1.25\n        volumeMounts:\n          configMap:\n"
                   "            - name: settings\n              cmName: shared-settings\n              mountPath: /etc/s\n"
                   f"  policies:\n    - name: shared\n      type: shared-settings\n{policy_props}")
    return app


def test_a_policy_s_outputs_are_objects_of_the_application(tmp_path):
    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("PolicyDefinition", "shared-settings", SHARED))
    app = _policy_app(tmp_path, "      properties:\n        secret: true\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is None, run.error
    objects = manifests(run)
    # Named after the policy and the output's key unless the template names it; in the application's namespace
    # unless it names one; context.name is the policy's.
    settings = objects["a-configmap-shared-settings"]
    assert settings["metadata"]["namespace"] == "shop"
    assert settings["data"] == {"app": "a", "policy": "shared", "namespace": "shop"}
    assert objects["a-vault-secret-shared-token"]["metadata"]["namespace"] == "vault"
    # A pod that names a policy's object waits for it.
    assert run.depends("a-web-deployment", "a-configmap-shared-settings")
    # Without the flag the template outputs the ConfigMap alone.
    run = run_stage({"app": str(_policy_app(tmp_path, "")), "definitions": [str(defs)]})
    assert run.error is None, run.error
    assert not any(m["kind"] == "Secret" for m in manifests(run).values())


def test_a_policy_s_bad_parameters_and_clashes_are_refused(tmp_path):
    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("PolicyDefinition", "shared-settings", SHARED))
    app = _policy_app(tmp_path, "      properties:\n        secret: maybe\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    line = app.read_text().splitlines().index("        secret: maybe") + 1
    assert run.error is not None and not run.resources
    assert f"app.yaml:{line}: spec.policies[0].properties.secret: " in run.error, run.error
    assert "PolicyDefinition 'shared-settings' (" in run.error
    # A policy's object that a component makes too: each would own it.
    app = _policy_app(tmp_path, "")
    app.write_text(app.read_text().replace("    - name: web\n", "    - name: extra\n      type: k8s-objects\n"
                                           "      properties:\n        objects:\n          - apiVersion: v1\n"
                                           "            kind: ConfigMap\n            metadata:\n"
                                           "              name: shared-settings\n            data: {}\n"
                                           "    - name: web\n"))
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is not None
    line = app.read_text().splitlines().index("      type: shared-settings") + 1
    assert (f"app.yaml:{line}: spec.policies[0].type: policy 'shared' and component 'extra' ({app}:8) would both "
            "make ConfigMap 'shared-settings'") in run.error, run.error


def test_the_definitions_key_is_checked():
    run = run_stage({"app": EXAMPLE, "definitions": ["no/such/defs"]})
    assert "oam-delivery:definitions: 'no/such/defs' is not a file or folder of the project" in run.error
    run = run_stage({"app": EXAMPLE, "definitions": "[1, 2]"})
    assert "oam-delivery:definitions: must be a path or a list of paths" in run.error
    run = run_stage({"app": EXAMPLE})
    assert "unknown component type 'site'" in run.error


def test_the_offline_commands_take_the_definitions(capsys, tmp_path):
    assert main(["validate", EXAMPLE]) == 1
    assert "unknown component type 'site'" in capsys.readouterr().err
    assert main(["validate", "--definitions", DEFS, EXAMPLE]) == 0
    assert main(["render", "--definitions", DEFS, EXAMPLE]) == 0
    assert "name: log-shipper" in capsys.readouterr().out
    assert main(["schema", "--definitions", DEFS]) == 0
    schema = json.loads(capsys.readouterr().out)
    site = schema["$defs"]["SiteProperties"]
    assert site["required"] == ["image"] and site["properties"]["port"] == {
        "default": 8080, "description": "The port the site listens on", "type": "integer"}
    assert site["additionalProperties"] is False
    assert schema["$defs"]["AppNetworkProperties"]["properties"]["namespaces"]["type"] == "array"
    assert main(["reference", "--definitions", DEFS]) == 0
    page = capsys.readouterr().out
    assert "### log-shipper" in page and "| `destination` | string | required | Where the logs go |" in page
    assert "### app-network" in page and "Namespaces whose pods may reach the application's pods too" in page
    assert main(["schema"]) == 0
    assert "SiteProperties" not in capsys.readouterr().out, "without --definitions, the built-in ones alone"


@pytest.mark.parametrize("target, patch, found, want", [
    ({"c": [{"name": "a", "x": 1}]}, {"c": [{"name": "a", "y": 2}, {"name": "b"}]}, [{"path": ["c"], "patchKey": "name"}],
     {"c": [{"name": "a", "x": 1, "y": 2}, {"name": "b"}]}),
    ({"c": [{"name": "a"}]}, {"c": [{"name": "b"}]}, [], {"c": [{"name": "b"}]}),
    ({"s": {"a": 1, "b": 2}}, {"s": {"b": 3}}, [{"path": ["s"], "patchStrategy": "retainKeys"}], {"s": {"b": 3}}),
    ({"s": {"a": {"x": 1}}}, {"s": {"a": {"y": 1}}}, [{"path": ["s"], "patchStrategy": "replace"}],
     {"s": {"a": {"y": 1}}}),
    ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None}, "e": 4}, [{"path": [], "patchStrategy": "jsonMergePatch"}],
     {"a": 1, "b": {"d": 3}, "e": 4}),
    ({"spec": {"replicas": 1, "ports": [1]}},
     {"operations": [{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "add", "path": "/spec/ports/-",
                                                                              "value": 2}]},
     [{"path": [], "patchStrategy": "jsonPatch"}], {"spec": {"replicas": 3, "ports": [1, 2]}}),
    ({"m": {"a": 1}, "k": 1}, {"m": {"b": 2}, "k": 2}, [], {"m": {"a": 1, "b": 2}, "k": 2}),
])
def test_patch_strategies(target, patch, found, want):
    before = json.dumps(target)
    assert apply_patch(target, patch, directives(found)) == want
    assert json.dumps(target) == before, "the target is not changed in place"


def test_a_json_patch_that_does_not_apply_says_why():
    with pytest.raises(PatchError, match=r"operations\[0\]: /spec/nothing is not there"):
        apply_patch({"spec": {}}, {"operations": [{"op": "remove", "path": "/spec/nothing"}]},
                    directives([{"path": [], "patchStrategy": "jsonPatch"}]))


def test_a_template_sees_the_revision_of_its_component(tmp_path):
    (tmp_path / "defs.yaml").write_text(definition("ComponentDefinition", "note", """
        output: {
        	apiVersion: "v1"
        	kind:       "ConfigMap"
        	metadata: labels: {if context.revision != _|_ {revision: context.revision}}
        	data: text: parameter.text
        }
        parameter: text: string
        """))
    app = tmp_path / "app.yaml"
    text = ("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
            "    - name: note\n      type: note\n      properties:\n        text: {text}\n")
    app.write_text(text.format(text="one"))
    first = run_stage({"app": str(app), "definitions": [str(tmp_path / "defs.yaml")]})
    assert first.error is None, first.error
    (cm,) = [m for m in manifests(first).values() if m["kind"] == "ConfigMap"]
    assert cm["metadata"]["name"] == "note" and cm["metadata"]["labels"]["revision"] == "note-v1"
    app.write_text(text.format(text="two"))
    second = run_stage({"app": str(app), "definitions": [str(tmp_path / "defs.yaml")]}, first)
    (cm,) = [m for m in manifests(second).values() if m["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["revision"] == "note-v2" and cm["data"] == {"text": "two"}


def test_a_policy_s_objects_go_to_the_local_cluster(tmp_path):
    from tests.unit.test_clusters import CLUSTERS, write

    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("PolicyDefinition", "shared-settings", SHARED))
    app = Path(write(tmp_path, "v1"))
    app.write_text(app.read_text().replace("  policies:\n", "  policies:\n    - name: shared\n"
                                                            "      type: shared-settings\n"))
    run = run_stage({"app": str(app), "clusters": CLUSTERS, "definitions": [str(defs)]})
    assert run.error is None, run.error
    # The application's only placement is in cluster staging; the policy's object is the local cluster's, as
    # KubeVela applies a policy's objects where the Application is.
    settings = run.resources["shop-configmap-shared-settings"]
    assert settings.inputs["metadata"]["namespace"] == "shop"
    assert "staging/shop-web-v1" in run.resources
    assert not any(n.startswith("staging/") and r.inputs.get("kind") == "ConfigMap"
                   for n, r in run.resources.items() if isinstance(r.inputs, dict))


@pytest.mark.parametrize("applies, ok", [
    ("[deployments.apps]", True), ("[webservice]", True), ('["*.apps"]', True), ('["*"]', True), ("[]", True),
    ("[statefulsets.apps, worker]", False), ("[jobs.batch]", False)])
def test_a_trait_applies_only_to_the_workloads_it_names(tmp_path, applies, ok):
    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("TraitDefinition", "tagged", """
        patch: metadata: labels: tagged: "yes"
        parameter: {}
        """, extra=f"  appliesToWorkloads: {applies}\n"))
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
                   "    - name: web\n      type: webservice\n      properties:\n        image: nginx:1.25\n"
                   "      traits:\n        - type: tagged\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    if ok:
        assert run.error is None, run.error
        assert manifests(run)["a-web-deployment"]["metadata"]["labels"]["tagged"] == "yes"
        return
    assert (f"app.yaml:12: spec.components[0].traits[0].type: TraitDefinition 'tagged' applies to "
            f"{applies.strip('[]')} (its appliesToWorkloads, {defs}); component 'web' of type 'webservice' runs "
            "deployments.apps") in run.error, run.error
    assert "name this one's type in its appliesToWorkloads" in run.error


def test_applies_to_workloads_must_be_a_list_of_names(tmp_path):
    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("TraitDefinition", "tagged", "patch: {}\nparameter: {}\n",
                               extra="  appliesToWorkloads: deployments.apps\n"))
    run = run_stage({"app": EXAMPLE, "definitions": [str(defs)]})
    assert "defs.yaml:6: spec.appliesToWorkloads: must be a list of workload names" in run.error, run.error


def test_a_trait_sees_the_component_s_outputs_by_name(tmp_path):
    defs = tmp_path / "defs.yaml"
    defs.write_text(definition("ComponentDefinition", "api", """
        output: {
        	apiVersion: "apps/v1"
        	kind:       "Deployment"
        	spec: {
        		selector: matchLabels: app: context.name
        		template: {
        			metadata: labels: app: context.name
        			spec: containers: [{name: context.name, image: parameter.image}]
        		}
        	}
        }
        outputs: web: {
        	apiVersion: "v1"
        	kind:       "Service"
        	metadata: name: context.name
        	spec: {selector: app: context.name, ports: [{port: parameter.port}]}
        }
        parameter: {image: string, port: *8080 | int}
        """) + "---\n" + definition("TraitDefinition", "route-note", """
        outputs: note: {
        	apiVersion: "v1"
        	kind:       "ConfigMap"
        	data: url: "http://\\(context.outputs.web.metadata.name):\\(context.outputs.web.spec.ports[0].port)"
        }
        parameter: {}
        """) + "---\n" + definition("TraitDefinition", "second-note", """
        outputs: again: {
        	apiVersion: "v1"
        	kind:       "ConfigMap"
        	data: from: context.outputs.note.data.url
        }
        parameter: {}
        """))
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
                   "    - name: shop\n      type: api\n      properties:\n        image: shop:1\n        port: 9090\n"
                   "      traits:\n        - type: route-note\n        - type: second-note\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is None, run.error
    notes = {m["metadata"]["name"]: m["data"] for m in manifests(run).values() if m["kind"] == "ConfigMap"}
    # The component's outputs, and those of the traits before, by the names their templates give them.
    assert notes == {"shop-note": {"url": "http://shop:9090"}, "shop-again": {"from": "http://shop:9090"}}


def test_a_trait_patches_the_component_s_outputs_by_name(tmp_path):
    defs = tmp_path / "defs.yaml"
    component = (ROOT / DEFS / "site.yaml").read_text()
    defs.write_text(component + "---\n" + definition("TraitDefinition", "service-ports", """
        patchOutputs: service: spec: {
        	// +patchKey=port
        	ports: [{port: 80, name: "http"}, {port: 443, targetPort: parameter.tls, name: "https"}]
        }
        parameter: tls: int
        """) + "---\n" + definition("TraitDefinition", "bad-target", """
        patchOutputs: nothing: spec: x: 1
        parameter: {}
        """))
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: a\nspec:\n  components:\n"
                   "    - name: blog\n      type: site\n      properties:\n        image: blog:1\n"
                   "      traits:\n        - type: service-ports\n          properties:\n            tls: 8443\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert run.error is None, run.error
    service = next(m for m in manifests(run).values() if m["kind"] == "Service")
    # Merged by port, as +patchKey says: the existing entry keeps its targetPort and gains a name.
    assert service["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "name": "http"},
                                        {"port": 443, "targetPort": 8443, "name": "https"}]
    app.write_text(app.read_text() + "        - type: bad-target\n")
    run = run_stage({"app": str(app), "definitions": [str(defs)]})
    assert ("app.yaml:15: spec.components[0].traits[1].type: TraitDefinition 'bad-target' "
            f"({defs}) patches output 'nothing', which component 'blog' does not have; its outputs: service") \
        in run.error, run.error
