"""A stage that gives a revision more traffic without changing its pods, after those pods lost their readiness: on
the real engine and cluster.

Before, the route moved at once: the provider awaits only the objects an update changes, and the Deployment was
unchanged, so half of the traffic went to a pod that was not Ready. Now the program reads the pods first: a preview
says it, an update waits for them and, when they do not get Ready in time, stops with nothing changed."""
from __future__ import annotations

import threading
import time

from tests.e2e.conftest import Kube, Project, make_project
from tests.unit import test_traffic_readiness as unit

NS = "ready"


def in_namespace(text: str, namespace: str = NS) -> str:
    return text.replace("  name: ready\n", f"  name: ready\n  namespace: {namespace}\n", 1)


def at_the_first_gate(pulumi_env, tmp_path, namespace: str) -> tuple[Kube, Project]:
    """A stack of its own in ``namespace``, deployed, then released to 90/10 (one pod each)."""
    kube = Kube(pulumi_env, namespace=namespace)
    project = make_project(tmp_path / "project", pulumi_env, namespace)
    app = project.dir / "examples" / "ready.yaml"
    app.write_text(in_namespace(unit.FIRST, namespace))
    project.config(app="examples/ready.yaml")
    up = project.up("first")
    assert up.ok, up.output
    app.write_text(in_namespace(unit.RELEASE, namespace))
    up = project.up("tenth")
    assert up.ok, up.output
    assert routes(kube) == {"web-v1": 90, "web-v2": 10}
    return kube, project


def routes(kube: Kube) -> dict[str, int]:
    vs = kube.get("virtualservices.networking.istio.io", "web")
    return {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}


def test_more_traffic_waits_for_pods_that_lost_their_readiness(pulumi_env, tmp_path):
    kube, project = at_the_first_gate(pulumi_env, tmp_path, NS)
    record = project.pulumi("stack", "output", "oamState", "--show-secrets").stdout

    lost = kube.make_unready("app.oam.dev/revision=web-v2")
    assert kube.ready("web-v2") == (1, 0)
    held = kube.generations("ready")
    project.config(approve="more-traffic", readyTimeout="5s")
    preview = project.pulumi("preview", check=False)
    assert preview.returncode == 0, preview.stderr
    assert "web-v2: 0/1 pods Ready" in preview.stdout and "pulumi up will wait up to 5s" in preview.stdout

    up = project.up("half, web-v2 not Ready")
    assert not up.ok
    assert "web-v2: 0/1 pods Ready, and VirtualService web raises its share of the traffic from 10% to 50%" in up.output
    assert "nothing was changed" in up.output
    assert up.seconds >= 5, "it waited for the pods"
    assert routes(kube) == {"web-v1": 90, "web-v2": 10}, "no traffic moved to the pod that is not Ready"
    assert kube.generations("ready") == held, "nothing was changed"
    assert not up.ops(), up.ops()
    assert project.status()["web"]["phase"] == "failed"
    assert project.pulumi("stack", "output", "oamState", "--show-secrets").stdout == record, "the record stays"

    # The pod is replaced (as a restart would) while the next update waits for it: the route moves once it is Ready.
    project.config(readyTimeout="2m")
    replaced = threading.Timer(4, lambda: kube.kubectl("delete", "pod", "-n", NS, *lost))
    replaced.start()
    try:
        up = project.up("half, once web-v2 is Ready")
    finally:
        replaced.join()
    assert up.ok, up.output
    assert up.seconds >= 4, "it waited for the pod"
    assert routes(kube) == {"web-v1": 50, "web-v2": 50}
    assert kube.ready("web-v2") == (1, 1)
    assert project.preview_no_changes().returncode == 0
    project.pulumi("destroy", "--yes")


def test_nothing_is_read_when_no_route_gives_more_traffic(pulumi_env, tmp_path):
    """A gate held, then released: the route did not move, so pods that are not Ready do not stop the stage."""
    kube, project = at_the_first_gate(pulumi_env, tmp_path, NS + "-same")
    kube.make_unready("app.oam.dev/revision=web-v2")
    start = time.monotonic()
    up = project.up("tenth again")
    assert up.ok, up.output
    assert time.monotonic() - start < 30
    assert not up.ops(), up.ops()
    project.pulumi("destroy", "--yes")


def test_a_component_waits_for_what_it_depends_on_to_be_ready_now(pulumi_env, tmp_path):
    """KubeVela applies a component once what it dependsOn is healthy as the cluster has it; so does pulumi up, also
    when the dependency itself does not change (the provider then waits for nothing of it)."""
    ns = NS + "-depends"
    kube = Kube(pulumi_env, namespace=ns)
    project = make_project(tmp_path / "project", pulumi_env, "ready-depends")
    app = project.dir / "examples" / "depends.yaml"
    text = in_namespace(unit.DEPENDS, ns)
    app.write_text(text.format(version=1))
    project.config(app="examples/depends.yaml", readyTimeout="5s")
    assert project.up("first").ok
    lost = kube.make_unready("app.oam.dev/component=db")
    app.write_text(text.format(version=2))
    up = project.up("api changes, db not Ready")
    assert not up.ok
    assert "db: 0/1 pods Ready, and component 'api' dependsOn 'db'" in up.output
    image = kube.get("deployment", "api")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith("api:1"), "api did not change"
    kube.kubectl("delete", "pod", "-n", ns, *lost)
    up = project.up("api changes, db Ready")
    assert up.ok, up.output
    image = kube.get("deployment", "api")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith("api:2")
    project.pulumi("destroy", "--yes")


def test_a_revision_deleted_by_hand_is_made_again_after_a_refresh_before_the_route_moves(pulumi_env, tmp_path):
    kube, project = at_the_first_gate(pulumi_env, tmp_path, NS + "-gone")
    kube.kubectl("delete", "deployment", "web-v2", "-n", kube.namespace)
    project.config(approve="more-traffic")
    up = project.up("half, web-v2 gone")
    assert not up.ok and "Deployment web-v2 is not in the cluster" in up.output, up.output
    assert "run pulumi refresh" in up.output
    assert routes(kube) == {"web-v1": 90, "web-v2": 10}
    project.pulumi("refresh", "--yes")
    up = project.up("half, refreshed")
    assert up.ok, up.output
    assert kube.ready("web-v2") == (1, 1)
    assert routes(kube) == {"web-v1": 50, "web-v2": 50}
    assert up.finished_before_started("ready-web-v2", "ready-web-virtualservice")
    project.pulumi("destroy", "--yes")
