"""A ConfigMap's or a Secret's new data is an update in place, on the real engine and cluster, as KubeVela applies
it. The Kubernetes provider would otherwise replace either (delete it, then create it again) for any change of its
data: for a moment the object would not exist, and a pod starting then could not read it. The project's
configuration turns on the provider's enableConfigMapMutable and enableSecretMutable; a resource-update policy
still asks for a recreation where one is wanted."""
from __future__ import annotations

from tests.e2e.conftest import Kube, make_project

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: settled
  namespace: settled
spec:
  components:
    - name: settings
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
            data:
              theme: {theme}
          - apiVersion: v1
            kind: Secret
            metadata:
              name: credentials
            stringData:
              password: {password}
"""


def test_new_data_is_an_update_in_place(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace="settled")
    project = make_project(tmp_path / "project", pulumi_env, "settled")
    app = project.dir / "examples" / "settled.yaml"
    app.write_text(APP.format(theme="dark", password="one"))
    project.config(app="examples/settled.yaml")
    up = project.up("first")
    assert up.ok, up.output
    uids = {kind: kube.get(kind, name)["metadata"]["uid"] for kind, name in (("configmap", "settings"),
                                                                              ("secret", "credentials"))}

    app.write_text(APP.format(theme="light", password="two"))
    up = project.up("new data")
    assert up.ok, up.output
    assert set(up.ops().values()) == {"update"}, up.ops()
    assert {kind: kube.get(kind, name)["metadata"]["uid"] for kind, name in (("configmap", "settings"),
                                                                             ("secret", "credentials"))} == uids
    assert kube.get("configmap", "settings")["data"] == {"theme": "light"}
    assert project.preview_no_changes().returncode == 0
