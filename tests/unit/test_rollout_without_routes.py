"""A rollout trait without canary-traffic: the pods are the split; new ones come up first."""
from __future__ import annotations

from tests.harness import run_stage

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: jobs
spec:
  components:
    - name: runner
      type: worker
      properties:
        image: registry.example.com/runner:{tag}
      traits:
        - type: rollout
          properties:
            targetSize: 4
            rolloutBatches: [{{replicas: 1}}, {{replicas: 3}}]
{workflow}"""
WORKFLOW = """  workflow:
    steps:
      - name: one-pod
        type: canary-rollout
        properties:
          batchPartition: 0
      - name: check
        type: suspend
      - name: all-pods
        type: canary-rollout
        properties:
          batchPartition: 1
"""


def test_new_pods_come_up_before_old_ones_go(tmp_path):
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(APP.format(tag="1", workflow=""))
    second.write_text(APP.format(tag="2", workflow=WORKFLOW))
    run1 = run_stage({"app": str(first)})
    assert run1.error is None
    assert {n: r.inputs["spec"]["replicas"] for n, r in run1.of_kind("Deployment").items()} == {"jobs-runner-v1": 4}
    assert not run1.of_kind("VirtualService") and not run1.of_kind("Service")

    run2 = run_stage({"app": str(second)}, run1)
    assert run2.error is None
    assert {n: r.inputs["spec"]["replicas"] for n, r in run2.of_kind("Deployment").items()} == {
        "jobs-runner-v1": 3, "jobs-runner-v2": 1}
    assert run2.depends("jobs-runner-v1", "jobs-runner-v2")
    assert "weight" not in str(run2.outputs["status"]["runner"]["revisions"])

    run3 = run_stage({"app": str(second), "approve": "check"}, run2)
    assert {n: r.inputs["spec"]["replicas"] for n, r in run3.of_kind("Deployment").items()} == {
        "jobs-runner-v1": 0, "jobs-runner-v2": 4}
    assert run3.depends("jobs-runner-v1", "jobs-runner-v2")
