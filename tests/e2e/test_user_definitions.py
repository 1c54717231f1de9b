"""Users' own definitions for real: the example's component type, trait and policy, written in CUE, evaluated by
CUE itself at pulumi up, deployed by the real engine; a bad parameter stops the update at the Application's line
with nothing changed; pulumi destroy leaves nothing."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.conftest import Kube, make_project

ROOT = Path(__file__).resolve().parents[2]
APP = "examples/user-definitions/app.yaml"


def test_a_component_type_and_a_trait_in_cue_deploy(pulumi_env, tmp_path):
    kube = Kube(pulumi_env)
    built = subprocess.run(["bash", str(ROOT / "tools" / "build-cue.sh")], capture_output=True, text=True, check=True)
    project = make_project(tmp_path / "project", {**pulumi_env, "OAM_CUE": f"{built.stdout.strip()}/oam-cue"},
                           "userdefs")
    project.config(app=APP)
    project.pulumi("config", "set", "--path", "definitions[0]", "examples/user-definitions/definitions")
    up = project.up("first")
    assert up.ok, up.output
    blog = kube.get("deployment", "blog")
    assert blog["status"]["readyReplicas"] == 2
    assert [c["name"] for c in blog["spec"]["template"]["spec"]["containers"]] == ["blog", "log-shipper"]
    api = kube.get("deployment", "api")
    assert [c["name"] for c in api["spec"]["template"]["spec"]["containers"]] == ["api", "log-shipper"]
    assert kube.get("service", "blog")["spec"]["ports"][0]["targetPort"] == 8080
    assert kube.get("configmap", "blog-log-shipper")["data"] == {"destination": "logs.example.com:514"}
    network = kube.get("networkpolicy", "blog-network")  # the policy's object
    assert network["spec"]["podSelector"] == {"matchLabels": {"app.oam.dev/name": "blog"}}
    assert project.preview_no_changes().returncode == 0, "a second run changes nothing"

    app = project.dir / APP
    good = app.read_text()
    app.write_text(good.replace("replicas: 2", "replicas: 0"))
    generation = blog["metadata"]["generation"]
    up = project.up("bad parameter")
    assert not up.ok
    line = good.splitlines().index("        replicas: 2") + 1
    assert f"{APP}:{line}: spec.components[0].properties.replicas: " in up.output, up.output
    assert "invalid value 0 (out of bound >=1)" in up.output, up.output
    assert "Traceback" not in up.output
    assert kube.get("deployment", "blog")["metadata"]["generation"] == generation, "nothing was changed"

    app.write_text(good)
    project.pulumi("destroy", "--yes", "--skip-preview")
    for kind, name in (("deployment", "blog"), ("deployment", "api"), ("service", "blog"),
                       ("configmap", "blog-log-shipper"), ("networkpolicy", "blog-network")):
        assert kube.get(kind, name) is None, f"{kind} {name} is left after pulumi destroy"
