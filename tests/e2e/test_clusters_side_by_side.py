"""Two local clusters side by side (tools/cluster.sh with different OAM_CLUSTER_DIR).

Both are started at the same moment: each must come up on its own ports with its own kubeconfig and etcd
(a namespace made in one is not in the other), and stopping one must leave the other serving. The session's
cluster (CACHE/e2e-cluster), when it runs, must not notice any of it. Real processes, real kubectl.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.conftest import CACHE, NODE, TOOLS, start_cluster, stop_cluster

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def status(state_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OAM_CLUSTER_DIR=str(state_dir))
    return subprocess.run(["bash", str(TOOLS / "cluster.sh"), "status"], env=env, capture_output=True, text=True,
                          timeout=60)


def kubectl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--request-timeout=10s", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def ports(state_dir: Path) -> dict[str, int]:
    lines = (state_dir / "run" / "ports").read_text().split()
    return {key: int(value) for key, _, value in (line.partition("=") for line in lines)}


def pids(state_dir: Path) -> dict[str, int]:
    return {c: int((state_dir / "run" / f"{c}.pid").read_text()) for c in COMPONENTS}


def running(pid: int, state_dir: Path) -> bool:
    """The process lives and is one of state_dir's cluster (its arguments name a path in that dir)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return f"={state_dir}/" in args


def assert_serving(env: dict[str, str], name: str) -> None:
    """The cluster answers ready, its node is Ready, and it accepts a new object."""
    ready = kubectl(env, "get", "--raw", "/readyz")
    assert ready.stdout == "ok", f"{name}: /readyz: {ready.stdout!r} {ready.stderr}"
    node = kubectl(env, "get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
    assert node.stdout == "True", f"{name}: node {NODE} Ready={node.stdout!r} {node.stderr}"
    probe = f"probe-{int(time.monotonic() * 1000)}"
    made = kubectl(env, "create", "configmap", probe, "-n", "default")
    assert made.returncode == 0, f"{name}: create configmap: {made.stderr}"


def test_two_clusters_side_by_side(tmp_path: Path) -> None:
    session = CACHE / "e2e-cluster"
    session_pids = pids(session) if status(session).returncode == 0 else None
    session_ports = ports(session) if session_pids else {}

    dirs = {"a": tmp_path / "a", "b": tmp_path / "b"}
    envs: dict[str, dict[str, str]] = {}
    barrier = threading.Barrier(len(dirs))

    def start(name: str) -> dict[str, str]:
        barrier.wait()  # both `start`s at one moment: that is when ports were handed out twice
        return start_cluster(dirs[name])

    try:
        began = time.monotonic()
        with ThreadPoolExecutor(len(dirs)) as pool:
            futures = {name: pool.submit(start, name) for name in dirs}
            for name, future in futures.items():
                envs[name] = future.result()  # start_cluster fails the test with the script's stderr
        started = time.monotonic() - began
        a, b = envs["a"], envs["b"]

        # Each its own kubeconfig and ports; no port shared with the other or the session's cluster.
        assert a["KUBECONFIG"] == str(dirs["a"] / "kubeconfig") and b["KUBECONFIG"] == str(dirs["b"] / "kubeconfig")
        pa, pb = ports(dirs["a"]), ports(dirs["b"])
        used = [*pa.values(), *pb.values(), *session_ports.values()]
        assert len(set(used)) == len(used), f"ports shared: a {pa}, b {pb}"
        for name, p in (("a", pa), ("b", pb)):
            server = kubectl(envs[name], "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
            assert server.stdout == f"https://127.0.0.1:{p['APISERVER_PORT']}", f"{name}: {server.stdout}"
            assert_serving(envs[name], name)

        # Separate stores: a namespace made in a exists there only.
        ns = f"only-in-a-{os.getpid()}"
        made = kubectl(a, "create", "namespace", ns)
        assert made.returncode == 0, made.stderr
        assert kubectl(a, "get", "namespace", ns, "-o", "name").stdout.strip() == f"namespace/{ns}"
        in_b = kubectl(b, "get", "namespace", ns, "-o", "name")
        assert in_b.returncode != 0 and "NotFound" in in_b.stderr, f"b sees a's namespace: {in_b.stdout}{in_b.stderr}"

        # Stopping a ends a's processes only.
        pids_a, pids_b = pids(dirs["a"]), pids(dirs["b"])
        stop_cluster(a)
        assert [c for c, pid in pids_a.items() if running(pid, dirs["a"])] == [], "a's processes outlive its stop"
        assert status(dirs["a"]).returncode != 0
        assert [c for c, pid in pids_b.items() if not running(pid, dirs["b"])] == [], "stopping a ended b's processes"
        assert status(dirs["b"]).returncode == 0, status(dirs["b"]).stderr
        assert_serving(b, "b after a stopped")
        assert kubectl(b, "get", "namespace", ns, "-o", "name").returncode != 0

        print(f"two simultaneous starts ready in {started:.1f} s; a {pa}; b {pb}")
    finally:
        for name, state_dir in dirs.items():
            stop_cluster(envs.get(name) or dict(os.environ, OAM_CLUSTER_DIR=str(state_dir)))

    if session_pids and (session / "run").exists():
        # Still there (an e2e session may have stopped it meanwhile: a stop removes run/): the same
        # processes, all alive, and healthy.
        assert pids(session) == session_pids, "the session's cluster was restarted"
        assert all(running(pid, session) for pid in session_pids.values()), "a process of the session's cluster died"
        assert status(session).returncode == 0, "the session's cluster is no longer healthy"
