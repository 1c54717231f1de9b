"""The definitions beyond the tutorial's, deployed for real: workloads, traits, policies and deploy steps.

One application uses most of them at once, deployed stage by stage by the real pulumi CLI
to a real kube-apiserver; every assertion reads the live API.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Kube, Project, make_project
from tests.e2e.test_tutorial import assert_converged

APP = """apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: catalog
spec:
  components:
    - name: migrate
      type: task
      properties:
        image: registry.example.com/catalog/migrate:1
        cmd: ["/migrate"]
    - name: front
      type: webservice
      dependsOn: [migrate]
      properties:
        image: registry.example.com/catalog/front:1
        ports:
          - port: 80
            containerPort: 8080
            expose: true
        env:
          - name: MODE
            value: test
      traits:
        - type: sidecar
          properties:
            name: shipper
            image: registry.example.com/tools/shipper:5
            volumes:
              - name: emptydir-scratch
                path: /scratch
        - type: env
          properties:
            env:
              MODE: live
        - type: resource
          properties:
            cpu: 100m
            memory: 64Mi
        - type: storage
          properties:
            emptyDir:
              - name: scratch
                mountPath: /scratch
            configMap:
              - name: front-settings
                mountPath: /etc/front
                data:
                  theme: dark
        - type: gateway
          properties:
            domain: catalog.example.com
            http:
              /: 80
        - type: hpa
          properties:
            min: 1
            max: 3
        - type: k8s-update-strategy
          properties:
            strategy:
              rollingStrategy:
                maxSurge: 1
                maxUnavailable: 0
        - type: json-merge-patch
          properties:
            spec:
              progressDeadlineSeconds: 300
    - name: agent
      type: worker
      properties:
        image: registry.example.com/catalog/agent:1
        volumes:
          - name: settings
            type: configMap
            cmName: front-settings
            mountPath: /etc/agent
      traits:
        - type: service-account
          properties:
            name: agent
            create: true
            privileges:
              - verbs: [get, list]
                apiGroups: [""]
                resources: [configmaps]
        - type: securitycontext
          properties:
            runAsUser: 10001
            dropCapabilities: [ALL]
        - type: init-container
          properties:
            name: prepare
            image: registry.example.com/catalog/prepare:1
            initMountPath: /work
            appMountPath: /var/lib/agent
        - type: affinity
          properties:
            podAntiAffinity:
              preferred:
                - weight: 50
                  podAffinityTerm:
                    labelSelector:
                      matchLabels:
                        app.oam.dev/component: agent
                    topologyKey: kubernetes.io/hostname
            tolerations:
              - key: pool
                operator: Exists
                effect: NoSchedule
        - type: topologyspreadconstraints
          properties:
            constraints:
              - maxSkew: 1
                topologyKey: kubernetes.io/hostname
                whenUnsatisfiable: ScheduleAnyway
                labelSelector:
                  matchLabels:
                    app.oam.dev/component: agent
        - type: lifecycle
          properties:
            preStop:
              exec:
                command: ["/bin/sh", "-c", "sleep 5"]
        - type: command
          properties:
            command: ["/agent"]
            args: ["--watch"]
        - type: container-image
          properties:
            image: registry.example.com/catalog/agent:2
        - type: hostalias
          properties:
            hostAliases:
              - ip: 10.0.0.7
                hostnames: [db.internal]
        - type: startup-probe
          properties:
            exec:
              command: ["/agent", "--check"]
        - type: service-binding
          properties:
            envMappings:
              TOKEN:
                secret: agent-token
                key: token
    - name: settings
      type: k8s-objects
      properties:
        objects:
          - apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata:
              name: settings-reader
            rules:
              - apiGroups: [""]
                resources: ["configmaps"]
                verbs: ["get"]
    - name: nightly
      type: cron-task
      properties:
        image: registry.example.com/catalog/report:1
        schedule: "0 3 * * *"
  policies:
    - name: test
      type: topology
      properties:
        namespace: catalog-test
    - name: live
      type: topology
      properties:
        namespace: catalog-live
    - name: bigger
      type: override
      properties:
        components:
          - name: front
            traits:
              - type: hpa
                properties:
                  min: 2
    - name: keep-ingress
      type: garbage-collect
      properties:
        rules:
          - selector:
              resourceTypes: [Ingress]
            strategy: never
  workflow:
    steps:
      - name: to-test
        type: deploy
        properties:
          policies: [test]
      - name: promote
        type: suspend
      - name: to-live
        type: deploy
        properties:
          policies: [live, bigger]
"""


@pytest.fixture(scope="module")
def project(pulumi_env, tmp_path_factory) -> Project:
    p = make_project(tmp_path_factory.mktemp("catalog") / "project", pulumi_env, "catalog")
    (p.dir / "examples" / "catalog.yaml").write_text(APP)
    p.config(app="examples/catalog.yaml", readyTimeout="90s")
    yield p
    p.pulumi("destroy", "--yes", check=False)


def kube_in(kube: Kube, namespace: str) -> Kube:
    return Kube(kube.env, namespace, kube.istioctl)


def test_1_first_deploy_goes_to_the_test_namespace(project: Project, kube: Kube):
    up = project.up("catalog-test")
    assert_converged(project, up)
    test = kube_in(kube, "catalog-test")
    assert test.get("job", "catalog-migrate")["status"].get("succeeded") == 1
    assert up.finished_before_started("catalog-catalog-test-migrate-job", "catalog-catalog-test-front-deployment")
    front = test.get("deployment", "front")
    pod = front["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["front", "shipper"]
    assert pod["containers"][0]["env"] == [{"name": "MODE", "value": "live"}]
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "100m", "memory": "64Mi"}
    assert {"name": "emptydir-scratch", "mountPath": "/scratch"} in pod["containers"][1]["volumeMounts"]
    assert front["status"].get("readyReplicas", 0) >= 1
    assert front["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert front["spec"]["progressDeadlineSeconds"] == 300
    svc = test.get("service", "front")
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, 8080)]
    assert test.get("configmap", "front-settings")["data"] == {"theme": "dark"}
    ingress = test.get("ingress", "front")
    assert ingress["spec"]["rules"][0]["host"] == "catalog.example.com"
    assert test.get("horizontalpodautoscaler", "front")["spec"]["minReplicas"] == 1
    assert test.get("role", "settings-reader")["rules"][0]["verbs"] == ["get"]
    assert test.get("cronjob", "nightly")["spec"]["schedule"] == "0 3 * * *"
    # The pod traits, as the API server took them.
    agent = test.get("deployment", "agent")
    pod = agent["spec"]["template"]["spec"]
    assert agent["status"].get("readyReplicas") == 1
    assert pod["serviceAccountName"] == "agent" and test.get("serviceaccount", "agent") is not None
    assert test.get("role", "agent")["rules"][0]["resources"] == ["configmaps"]
    main = pod["containers"][0]
    assert (main["image"], main["command"], main["args"]) == ("registry.example.com/catalog/agent:2", ["/agent"],
                                                               ["--watch"])
    assert main["securityContext"]["runAsUser"] == 10001
    assert main["lifecycle"]["preStop"]["exec"]["command"][-1] == "sleep 5"
    assert main["startupProbe"]["exec"]["command"] == ["/agent", "--check"]
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "agent-token", "key": "token"}}} in main["env"]
    assert [c["name"] for c in pod["initContainers"]] == ["prepare"]
    assert pod["hostAliases"] == [{"ip": "10.0.0.7", "hostnames": ["db.internal"]}]
    assert pod["tolerations"][0]["key"] == "pool" and pod["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert kube_in(kube, "catalog-live").get("deployment", "front") is None
    assert project.status() == {} or "front" not in project.status()


def test_2_approval_deploys_to_live_with_the_override(project: Project, kube: Kube):
    project.config(approve="promote")
    up = project.up("catalog-live")
    assert_converged(project, up)
    live = kube_in(kube, "catalog-live")
    assert live.get("horizontalpodautoscaler", "front")["spec"]["minReplicas"] == 2
    assert live.get("deployment", "front")["status"].get("readyReplicas", 0) >= 1
    assert kube_in(kube, "catalog-test").get("horizontalpodautoscaler", "front")["spec"]["minReplicas"] == 1
    assert not {op for op in up.ops().values() if op not in ("create",)}, up.ops()


def test_3_destroy_keeps_only_what_garbage_collect_keeps(project: Project, kube: Kube):
    project.pulumi("destroy", "--yes")
    for ns in ("catalog-test", "catalog-live"):
        here = kube_in(kube, ns)
        assert here.get("deployment", "front") is None and here.get("cronjob", "nightly") is None
        assert here.get("ingress", "front") is not None, "garbage-collect: never"
        here.kubectl("delete", "ingress", "front", "-n", ns)
