"""A change the Kubernetes provider would make by replacing an object (deleting it, then creating it again) is
refused before anything is registered, for objects that run pods, route to them or hold data: compared with what
the object was last applied from, as the provider compares. A claim is replaced when a resource-update policy
asks for it. Under Pulumi's mocks."""
from __future__ import annotations

from pathlib import Path

from tests.harness import ROOT, StageRun, run_stage

STORAGE = (ROOT / "examples" / "definitions" / "trait-storage.yaml").read_text()
RECREATE = """  policies:
    - name: recreate-claims
      type: resource-update
      properties:
        rules:
          - selector:
              resourceTypes: [PersistentVolumeClaim]
            strategy:
              recreateFields: [spec.storageClassName]
"""
STATEFUL = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: kept
spec:
  components:
    - name: store
      type: k8s-objects
      properties:
        objects:
          - apiVersion: apps/v1
            kind: StatefulSet
            metadata:
              name: store
            spec:
              {history}
              selector:
                matchLabels:
                  app: store
              template:
                metadata:
                  labels:
                    app: store
                spec:
                  containers:
                    - name: store
                      image: registry.example.com/kept/store:{tag}
"""


def run(tmp_path: Path, text: str, previous: StageRun = None) -> StageRun:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return run_stage({"app": str(path)}, previous)


def with_class(text: str, name: str) -> str:
    return text.replace("                resources:\n", f"                storageClassName: {name}\n"
                                                       "                resources:\n", 1)


def test_a_claim_whose_storage_class_changes_is_refused_at_the_trait(tmp_path):
    first = run(tmp_path, with_class(STORAGE, "fast"))
    assert first.error is None, first.error
    refused = run(tmp_path, with_class(STORAGE, "slow"), first)
    assert refused.error is not None and not refused.resources
    assert "app.yaml:14: spec.components[0].traits[0]: spec.storageClassName of PersistentVolumeClaim 'pgdata' " \
           "would change from \"fast\" to \"slow\"; the Kubernetes provider makes that change by deleting the " \
           "PersistentVolumeClaim and creating it again, and with it, under a Delete reclaim policy, its volume's " \
           "data" in refused.error, refused.error
    assert "resource-update policy whose recreateFields name spec.storageClassName" in refused.error

    asked = run(tmp_path, with_class(STORAGE, "slow") + RECREATE, first)
    assert asked.error is None, asked.error
    [claim] = asked.of_kind("PersistentVolumeClaim").values()
    assert claim.options.get("replaceOnChanges") == ["spec.storageClassName"]


def test_a_claim_that_grows_is_no_replacement(tmp_path):
    first = run(tmp_path, STORAGE)
    grown = run(tmp_path, STORAGE.replace("storage: 20Gi", "storage: 40Gi"), first)
    assert grown.error is None, grown.error


def test_a_field_the_provider_replaces_a_statefulset_for_is_refused_at_its_line(tmp_path):
    first = run(tmp_path, STATEFUL.format(history="replicas: 1", tag=1))
    assert first.error is None, first.error
    # Kubernetes changes revisionHistoryLimit in place; the provider replaces the StatefulSet for it.
    refused = run(tmp_path, STATEFUL.format(history="revisionHistoryLimit: 3", tag=1), first)
    assert refused.error is not None and not refused.resources
    assert "app.yaml:16: spec.components[0].properties.objects[0].spec.revisionHistoryLimit: " \
           "spec.revisionHistoryLimit of StatefulSet 'store' would change from unset to 3" in refused.error, \
        refused.error
    assert "nothing would serve in between" in refused.error
    updated = run(tmp_path, STATEFUL.format(history="replicas: 1", tag=2), first)
    assert updated.error is None, "a new image is an update in place"
    new = run(tmp_path, STATEFUL.format(history="revisionHistoryLimit: 3", tag=1))
    assert new.error is None, "set from the start, nothing is replaced"
