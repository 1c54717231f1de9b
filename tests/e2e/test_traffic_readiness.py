"""A stage that gives a revision more traffic without changing its pods, after those pods lost their readiness: on
the real engine and cluster.

Before, the route moved at once: the provider awaits only the objects an update changes, and the Deployment was
unchanged, so half of the traffic went to a pod that was not Ready. Now the program reads the pods first: a preview
says it, an update waits for them and, when they do not get Ready in time, stops with nothing changed."""
from __future__ import annotations

import threading
import time

from tests.e2e.conftest import Kube, make_project
from tests.unit import test_traffic_readiness as unit

NS = "ready"


def in_namespace(text: str) -> str:
    return text.replace("  name: ready\n", f"  name: ready\n  namespace: {NS}\n", 1)


def routes(kube: Kube) -> dict[str, int]:
    vs = kube.get("virtualservices.networking.istio.io", "web")
    return {r["destination"]["subset"]: r.get("weight", 100) for r in vs["spec"]["http"][0]["route"]}


def test_more_traffic_waits_for_pods_that_lost_their_readiness(pulumi_env, tmp_path):
    kube = Kube(pulumi_env, namespace=NS)
    project = make_project(tmp_path / "project", pulumi_env, "ready")
    app = project.dir / "examples" / "ready.yaml"
    app.write_text(in_namespace(unit.FIRST))
    project.config(app="examples/ready.yaml")
    up = project.up("first")
    assert up.ok, up.output
    app.write_text(in_namespace(unit.RELEASE))
    up = project.up("tenth")
    assert up.ok, up.output
    assert routes(kube) == {"web-v1": 90, "web-v2": 10}
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
    kube = Kube(pulumi_env, namespace=NS + "-same")
    project = make_project(tmp_path / "project", pulumi_env, "ready-same")
    app = project.dir / "examples" / "ready.yaml"
    app.write_text(in_namespace(unit.FIRST).replace(f"namespace: {NS}", f"namespace: {NS}-same"))
    project.config(app="examples/ready.yaml")
    assert project.up("first").ok
    app.write_text(in_namespace(unit.RELEASE).replace(f"namespace: {NS}", f"namespace: {NS}-same"))
    assert project.up("tenth").ok
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
    text = unit.DEPENDS.replace("  name: ready\n", f"  name: ready\n  namespace: {ns}\n", 1)
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
