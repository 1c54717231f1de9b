"""Objects written out in full that run pods: what Kubernetes refuses is refused without a cluster, at its line.

One case per rule, each a one-line change to a Deployment (or a Job, a CronJob) of a k8s-objects component, run
through `python -m oam validate` (the same checks as pulumi preview, without a cluster)."""
from __future__ import annotations

import pytest

from oam.__main__ import main

HEAD = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: pods
spec:
  components:
    - name: objects
      type: k8s-objects
      properties:
        objects:
"""
APP = HEAD + """          - apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: api
            spec:
              replicas: 2
              selector:
                matchLabels:
                  app: api
              template:
                metadata:
                  labels:
                    app: api
                spec:
                  containers:
                    - name: api
                      image: registry.example.com/pods/api:1
                      ports:
                        - containerPort: 8080
                          name: http
                      env:
                        - name: MODE
                          value: prod
                      resources:
                        requests:
                          cpu: 250m
                          memory: 256Mi
                      volumeMounts:
                        - name: cache
                          mountPath: /cache
                  volumes:
                    - name: cache
                      emptyDir: {}
"""
JOB = HEAD + """          - apiVersion: batch/v1
            kind: CronJob
            metadata:
              name: report
            spec:
              schedule: "0 3 * * *"
              jobTemplate:
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                        - name: report
                          image: registry.example.com/pods/report:1
"""
BASE = "spec.components[0].properties.objects[0]"
POD = BASE + ".spec.template.spec"


def validate(tmp_path, capsys, text: str) -> tuple[int, str]:
    path = tmp_path / "pods.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_whole_deployment_and_cronjob_are_taken(tmp_path, capsys):
    assert validate(tmp_path, capsys, APP) == (0, f"{tmp_path / 'pods.yaml'}: ok\n")
    assert validate(tmp_path, capsys, JOB)[0] == 0


@pytest.mark.parametrize("old, new, path, words", [
    ("                  labels:\n                    app: api\n", "                  labels:\n                    app: web\n",
     BASE + ".spec.selector.matchLabels", "does not select the pods of spec.template (label 'app')"),
    ("              selector:\n                matchLabels:\n                  app: api\n", "",
     BASE + ".spec.selector", "is required: Kubernetes refuses an apps/v1 object without a selector"),
    ("              replicas: 2\n", "              replicas: -1\n", BASE + ".spec.replicas",
     "must be a whole number of pods, 0 or more (got -1)"),
    ("                    - name: api\n", "                    - name: API\n", POD + ".containers[0].name",
     "container name 'API' is not valid"),
    ("                      image: registry.example.com/pods/api:1\n", "                      image: ''\n",
     POD + ".containers[0].image", "'' is empty"),
    ("                        - containerPort: 8080\n", "                        - containerPort: http\n",
     POD + ".containers[0].ports[0].containerPort", "must be a port number from 1 to 65535 (got 'http')"),
    ("                          name: http\n", "                          name: http_port\n",
     POD + ".containers[0].ports[0].name", "port name 'http_port' is not valid"),
    ("                        - name: MODE\n", "                        - name: MODE=prod\n",
     POD + ".containers[0].env[0].name", "'MODE=prod' is not an environment variable name"),
    ("                          cpu: 250m\n", "                          cpu: lots\n",
     POD + ".containers[0].resources.requests.cpu", "'lots' is not a Kubernetes quantity"),
    ("                        - name: cache\n                          mountPath", "                        - name: tmp\n"
     "                          mountPath", POD + ".containers[0].volumeMounts[0].name", "no volume of the pod is named 'tmp'"),
    ("                  containers:\n", "                  initContainers:\n                    - name: api\n"
     "                      image: registry.example.com/pods/init:1\n                  containers:\n",
     POD + ".containers[0].name", "container name 'api' is used twice in one pod"),
])
def test_what_kubernetes_refuses_is_refused_at_its_line(tmp_path, capsys, old, new, path, words):
    assert old in APP
    text = APP.replace(old, new, 1)
    code, out = validate(tmp_path, capsys, text)
    assert code == 1, out
    assert f": {path}: " in out and words in out, out
    line = int(out.split(":", 2)[1])
    assert 1 <= line <= len(text.splitlines())


def test_a_cronjob_is_checked_in_its_job_template(tmp_path, capsys):
    code, out = validate(tmp_path, capsys, JOB.replace("image: registry.example.com/pods/report:1", "image: 'a b'"))
    assert code == 1
    assert f"{BASE}.spec.jobTemplate.spec.template.spec.containers[0].image: 'a b' holds a space" in out, out


def test_a_deployment_without_a_spec_is_left_to_a_take_over_policy(tmp_path, capsys):
    """Written with its name only, it stands for the object the cluster holds (a take-over policy takes it as it
    is): nothing here to check; without such a policy the API server's dry run refuses it."""
    code, out = validate(tmp_path, capsys, APP[:APP.index("            spec:\n")])
    assert (code, out) == (0, f"{tmp_path / 'pods.yaml'}: ok\n")
