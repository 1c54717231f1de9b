"""Objects written out in full (k8s-objects) keep their Pulumi resources when the list changes order or grows at
the top, on the real engine and cluster. Named by their place in the list, each resource stood for another object
after an insertion: the engine applied each anew (taking over the object another resource held) and then deleted
it under its old name, and the objects that stayed in the file were gone."""
from __future__ import annotations

from tests.e2e.conftest import Kube, make_project

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {app}
  namespace: {app}
spec:
  components:
    - name: config
      type: k8s-objects
      properties:
        objects:
{objects}"""
CONFIG_MAP = """          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: {name}
            data:
              k: v
"""


def listed(*names: str, app: str = "listed") -> str:
    """The application ``app`` (in a namespace of its name) of one component listing a ConfigMap per name."""
    return APP.format(app=app, objects="".join(CONFIG_MAP.format(name=n) for n in names))


def test_objects_stay_when_one_is_put_first_or_the_list_is_reordered(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace="listed")
    project = make_project(tmp_path / "project", pulumi_env, "listed")
    app = project.dir / "examples" / "listed.yaml"
    app.write_text(listed("a", "b"))
    project.config(app="examples/listed.yaml")
    up = project.up("first")
    assert up.ok, up.output
    uids = {n: kube.get("configmap", n)["metadata"]["uid"] for n in ("a", "b")}

    app.write_text(listed("new", "a", "b"))
    up = project.up("one put first")
    assert up.ok, up.output
    assert set(up.ops().values()) == {"create"}, up.ops()
    assert {n: kube.get("configmap", n)["metadata"]["uid"] for n in ("a", "b")} == uids
    assert kube.get("configmap", "new") is not None

    app.write_text(listed("b", "new", "a"))
    up = project.up("reordered")
    assert up.ok, up.output
    assert not up.ops(), up.ops()
    assert {n: kube.get("configmap", n)["metadata"]["uid"] for n in ("a", "b")} == uids
    assert project.preview_no_changes().returncode == 0
