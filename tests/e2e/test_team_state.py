"""A team's shared stack: Pulumi's DIY backend on a real S3-compatible server, two operators, locking.

The state lives in a bucket of versitygw (built from the Go module proxy by tools/s3.sh) on loopback; two
operators, each in a checkout of their own with the stack's config file as committed, drive the same stack with
the real pulumi CLI and Kubernetes provider against the real kube-apiserver. What is asserted is read from the
bucket (S3 ListObjectsV2 and GetObject), from `pulumi stack export` and from the live API.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

from tests.e2e.conftest import Kube, Project, UpResult, make_project, parse_events, read_events
from tests.e2e.s3 import S3Server, server_binary
from tests.e2e.test_tutorial import DR, FIRST, ROLLBACK, ROLLOUT, V1, V2, VS, assert_converged, state

BUCKET = "oam-team-state"
STACK = "team"
PROJECT = "oam-delivery"  # Pulumi.yaml's name
PASSPHRASE = "team e2e passphrase"
STATE_KEY = f".pulumi/stacks/{PROJECT}/{STACK}.json"
LOCKS = f".pulumi/locks/organization/{PROJECT}/{STACK}/"
HISTORY = f".pulumi/history/{PROJECT}/{STACK}/"
# Pulumi's own words (pkg/v3/backend/diy/lock.go) when another process holds the stack's lock:
LOCKED = ("the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
          "the lock file with `pulumi cancel`.")
CANCELED = f"The currently running update for '{STACK}' has been canceled!"
APP_KINDS = {"kubernetes:apps/v1:Deployment": "deployment", "kubernetes:core/v1:Service": "service",
             "kubernetes:networking.istio.io/v1:VirtualService": "virtualservices.networking.istio.io",
             "kubernetes:networking.istio.io/v1:DestinationRule": "destinationrules.networking.istio.io",
             "kubernetes:networking.istio.io/v1:Gateway": "gateways.networking.istio.io"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Server:
    """versitygw on a free loopback port, its posix root in a tmp folder, with the team's bucket made."""
    server = S3Server(server_binary(), tmp_path_factory.mktemp("s3")).start()
    try:
        server.client.make_bucket(BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def team_env(pulumi_env, s3: S3Server) -> dict[str, str]:
    """What each operator exports: the bucket's backend URL, the S3 credentials and region, the passphrase."""
    return {**pulumi_env, **s3.credentials_env(), "PULUMI_BACKEND_URL": s3.backend_url(BUCKET),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}


def checkout(of: Project, base: Path) -> Project:
    """Another operator's checkout of the same project: the same files and the stack's config file as committed
    (it holds the passphrase's salt). No `pulumi stack init`: the stack is already in the bucket."""
    shutil.copytree(of.dir, base, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "events-*.jsonl", "traffic-*.json", "*-events.jsonl"))
    return Project(base, dict(of.env), of.stack)


def pull(into: Project, frm: Project) -> None:
    """The other operator's stack config, as a git pull brings it (stackConfigDir is stacks/)."""
    shutil.copy(frm.dir / "stacks" / f"Pulumi.{STACK}.yaml", into.dir / "stacks" / f"Pulumi.{STACK}.yaml")


@pytest.fixture(scope="module")
def alice(team_env, tmp_path_factory) -> Project:
    p = make_project(tmp_path_factory.mktemp("alice") / "oam-delivery", team_env, STACK)
    yield p
    p.pulumi("cancel", "--yes", check=False)  # a lock left by a failed test would refuse the destroy
    p.pulumi("destroy", "--yes", check=False)


@pytest.fixture(scope="module")
def bob(alice: Project, tmp_path_factory) -> Project:
    return checkout(alice, tmp_path_factory.mktemp("bob") / "oam-delivery")


def export(project: Project) -> dict:
    return json.loads(project.pulumi("stack", "export").stdout)


def resources(exported: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in exported["deployment"]["resources"]}


def unordered(res: dict) -> dict:
    """A state resource with its dependency lists as sets: the engine writes them in the order it registers them,
    which is not the same from one update to the next."""
    out = dict(res)
    out["dependencies"] = sorted(res.get("dependencies") or [])
    out["propertyDependencies"] = {k: sorted(v) for k, v in (res.get("propertyDependencies") or {}).items()}
    return out


def differing(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def locks(s3: S3Server) -> list[str]:
    return s3.client.keys(BUCKET, LOCKS)


def wait_for_lock(s3: S3Server, proc: Optional[subprocess.Popen] = None, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = locks(s3)
        if held:
            assert len(held) == 1, held
            return held[0]
        assert proc is None or proc.poll() is None, "pulumi up ended before its lock was seen"
        time.sleep(0.05)
    raise AssertionError(f"no lock under {LOCKS} within {timeout}s")


def start_up(project: Project, log: Path) -> subprocess.Popen:
    """`pulumi up` as an operator starts it, its event stream into ``log``, in a process group of its own."""
    with open(log, "w") as out:
        return subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--json", "--stack", project.stack,
                                 "--non-interactive"], cwd=project.dir, env=project.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_cli(proc: subprocess.Popen) -> None:
    """SIGKILL the pulumi CLI alone, as a crash would; then end the plugins it had started (the language host, the
    program, the provider), which run in process groups of their own and would otherwise live on."""
    plugins = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for pid in plugins:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_1_first_deploy_keeps_its_state_in_the_bucket(alice: Project, s3: S3Server, kube: Kube, pulumi_env):
    alice.config(app=FIRST)
    up = alice.up("team-first-deploy")
    assert_converged(alice, up, kube)
    assert state(kube) == {"reviews-v1": (2, 2), "reviews-v2": None, "routes": {"reviews-v1": 100},
                           "subsets": ["reviews-v1"]}
    keys = s3.client.keys(BUCKET)
    assert STATE_KEY in keys, keys
    assert [k for k in keys if k.startswith(HISTORY) and k.endswith(".history.json")], keys
    assert locks(s3) == [], "the update's lock is released when it ends"
    # The bucket's checkpoint is the stack's state: the same resources as `pulumi stack export`, the app's included.
    stored = json.loads(s3.client.get(BUCKET, STATE_KEY))
    in_bucket = {r["urn"] for r in stored["checkpoint"]["latest"]["resources"]}
    assert in_bucket == set(resources(export(alice))), "the bucket's state is not what pulumi exports"
    assert any(u.endswith(f"::{V1}") for u in in_bucket) and any(u.endswith(f"::{VS}") for u in in_bucket)
    # ...and nothing of this stack went to the file backend the rest of the suite uses.
    file_root = Path(pulumi_env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    assert not list(file_root.rglob(f"{STACK}.json*")), "the team stack's state went to the file backend"
    # The URL of the AWS SDK v1 days (a scheme-less endpoint, disableSSL) reaches the same stack.
    legacy = f"s3://{BUCKET}?endpoint=127.0.0.1:{s3.port}&s3ForcePathStyle=true&disableSSL=true"
    listed = subprocess.run(["pulumi", "stack", "ls", "--json", "--non-interactive"], cwd=alice.dir,
                            env={**alice.env, "PULUMI_BACKEND_URL": legacy}, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == [STACK], listed.stdout


def test_2_the_next_stage_from_another_checkout(alice: Project, bob: Project, s3: S3Server, kube: Kube):
    """Bob's checkout has no state of its own: his update starts from the state Alice's left in the bucket."""
    history = s3.client.keys(BUCKET, HISTORY)
    bob.config(app=ROLLOUT)
    up = bob.up("team-rollout-10-percent")
    assert_converged(bob, up, kube)
    assert state(kube) == {"reviews-v1": (1, 1), "reviews-v2": (1, 1),
                           "routes": {"reviews-v1": 90, "reviews-v2": 10}, "subsets": ["reviews-v1", "reviews-v2"]}
    # Only what the stage changes: from a state of its own, it would have created every object again.
    assert set(up.ops()) == {V1, V2, VS, DR}, up.ops()
    assert up.ops()[V1] == "update" and up.ops()[V2] == "create"
    new = [k for k in s3.client.keys(BUCKET, HISTORY) if k not in history and k.endswith(".history.json")]
    assert len(new) == 1, f"one update, one history entry in the bucket: {new}"
    stored = json.loads(s3.client.get(BUCKET, STATE_KEY))
    assert any(r["urn"].endswith(f"::{V2}") for r in stored["checkpoint"]["latest"]["resources"])
    pull(alice, bob)
    assert alice.preview_no_changes().returncode == 0, "Alice's checkout does not see Bob's update"


def test_3_two_operators_at_once_one_is_refused(alice: Project, bob: Project, s3: S3Server, kube: Kube):
    """Both approve the gate, as the status says, and run `pulumi up` at the same time on the same stack."""
    before = export(alice)
    history = s3.client.keys(BUCKET, HISTORY)
    step = alice.status()["reviews"]["next"]
    assert step == "pulumi config set approve manual-approval && pulumi up", step
    alice.config(approve="manual-approval")
    bob.config(approve="manual-approval")

    result: dict[str, object] = {}

    def alice_up() -> None:
        try:
            result["alice"] = alice.up("team-approved-alice")
        except BaseException as e:  # an assertion of Project.up (the traffic judge), raised below
            result["alice"] = e

    runner = threading.Thread(target=alice_up)
    kube.hold_new_pods()  # Alice's update waits for reviews-v2's new pod until Bob has had his turn
    runner.start()
    try:
        key = wait_for_lock(s3)  # Alice's update holds the stack: Bob starts his now
        held_by = json.loads(s3.client.get(BUCKET, key))
        refused = bob.pulumi("up", "--yes", "--skip-preview", "--json", check=False)
        alice_running = runner.is_alive()
    finally:
        kube.release_new_pods()
        runner.join(timeout=900)
    assert alice_running, "Alice's update had ended before Bob's was refused: they did not overlap"
    won = result["alice"]
    if isinstance(won, BaseException):
        raise won
    assert isinstance(won, UpResult)
    # Exactly one of the two is refused, with Pulumi's lock message naming the lock object and who holds it.
    assert won.ok, won.output
    assert refused.returncode != 0, "both updates ran at once on the same stack"
    message = refused.stdout + refused.stderr
    assert LOCKED in message, message
    assert f"/{key}?endpoint=" in message and f"(pid {held_by['pid']})" in message, message
    assert not parse_events(refused.stdout), "the refused update took steps"
    assert locks(s3) == [], "a lock is left after both ended"

    # The state loses nothing: what changed from the export before is exactly what Alice's update made.
    after = export(alice)
    old, new = resources(before), resources(after)
    changed = won.ops()
    assert set(changed) == {V1, V2, VS, DR} and all(op == "update" for op in changed.values()), changed
    assert set(new) == set(old), "resources appeared or went missing from the state"
    for urn, res in new.items():
        name = urn.rsplit("::", 1)[-1]
        if name in changed:
            assert unordered(res) != unordered(old[urn]), f"{name}: Alice's update is not in the state"
        elif res["type"] != "pulumi:pulumi:Stack":  # its outputs (the status) are written by every update
            assert unordered(res) == unordered(old[urn]), \
                f"{name} changed in the state, but no update changed it: {differing(unordered(res), unordered(old[urn]))}"
    # What the state holds for the app's objects is what the API serves.
    for urn, res in new.items():
        kind = APP_KINDS.get(res["type"])
        if kind and res["outputs"].get("metadata", {}).get("namespace") == kube.namespace:
            live = kube.get(kind, res["outputs"]["metadata"]["name"])
            assert live is not None and live["spec"] == res["outputs"]["spec"], f"{urn}: state and cluster differ"
    assert state(kube) == {"reviews-v1": (0, 0), "reviews-v2": (2, 2), "routes": {"reviews-v2": 100},
                           "subsets": ["reviews-v2"]}
    new_history = [k for k in s3.client.keys(BUCKET, HISTORY) if k not in history and k.endswith(".history.json")]
    assert len(new_history) == 1, f"one update in the history, the refused one is not: {new_history}"
    # Bob's checkout, its config pulled, finds nothing to do: the state is whole.
    pull(bob, alice)
    preview = bob.preview_no_changes()
    assert preview.returncode == 0, preview.stdout + preview.stderr


def test_4_a_killed_update_leaves_a_lock_that_pulumi_cancel_clears(alice: Project, bob: Project, s3: S3Server,
                                                                   kube: Kube):
    bob.config(app=ROLLBACK)
    log = bob.dir / "killed-events.jsonl"
    kube.hold_new_pods()  # reviews-v1's new pods stay Pending: its update is under way when the CLI is killed
    proc = None
    try:
        proc = start_up(bob, log)
        deadline = time.monotonic() + 300
        while not any(e.kind == "pre" and e.name == V1 for e in read_events(log)):
            assert proc.poll() is None, "pulumi up ended before it could be killed:\n" + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "reviews-v1's step never started"
            time.sleep(0.05)
        time.sleep(0.5)  # past the checkpoint that records the step as pending
        kill_cli(proc)
    finally:
        kube.release_new_pods()
        if proc is not None and proc.poll() is None:
            kill_cli(proc)
    assert proc.returncode == -signal.SIGKILL

    # The lock is left in the bucket, naming the killed CLI.
    held = locks(s3)
    assert len(held) == 1, held
    lock = json.loads(s3.client.get(BUCKET, held[0]))
    assert lock["pid"] == proc.pid, lock
    # It was killed mid-update: the state in the bucket has reviews-v1's update pending.
    pending = json.loads(s3.client.get(BUCKET, STATE_KEY))["checkpoint"]["latest"].get("pending_operations") or []
    assert any(op["type"] == "updating" and op["resource"]["urn"].endswith(f"::{V1}") for op in pending), pending
    # Whoever comes next is refused, and told of the lock object and of `pulumi cancel`.
    pull(alice, bob)
    refused = alice.up("team-after-kill")
    assert not refused.ok
    assert LOCKED in refused.output and f"/{held[0]}?endpoint=" in refused.output, refused.output
    assert f"(pid {proc.pid})" in refused.output, refused.output
    # A preview takes no lock: it still runs.
    assert alice.pulumi("preview", check=False).returncode == 0

    canceled = alice.pulumi("cancel", "--yes")
    assert CANCELED in canceled.stdout, canceled.stdout
    assert locks(s3) == [], "pulumi cancel left the lock"
    up = alice.up("team-rollback-after-cancel")
    # Pulumi warns of what the killed update left pending, and goes on: the stage completes.
    assert "pending operations from previous deployment" in up.output and f"::{V1}, interrupted while updating" \
        in up.output, up.output
    assert_converged(alice, up, kube)
    assert not json.loads(s3.client.get(BUCKET, STATE_KEY))["checkpoint"]["latest"].get("pending_operations")
    assert state(kube) == {"reviews-v1": (2, 2), "reviews-v2": None, "routes": {"reviews-v1": 100},
                           "subsets": ["reviews-v1"]}
    assert locks(s3) == []


def test_5_a_stale_lock_object_deleted_by_hand(alice: Project, bob: Project, s3: S3Server, kube: Kube):
    """The other way out: delete the lock object with an S3 client (here the S3 DELETE of tests/e2e/s3.py)."""
    pull(bob, alice)
    before = kube.snapshot("book-info")
    proc = start_up(bob, bob.dir / "killed-at-lock.jsonl")
    try:
        key = wait_for_lock(s3, proc)
    finally:
        kill_cli(proc)
    assert locks(s3) == [key]
    refused = bob.pulumi("up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and LOCKED in refused.stderr, refused.stderr
    s3.client.delete(BUCKET, key)
    assert locks(s3) == []
    up = bob.up("team-after-lock-deleted")
    assert up.ok, up.output
    assert not up.ops(), f"a no-change stage changed {up.ops()}"
    assert kube.snapshot("book-info") == before
    assert locks(s3) == []


def test_99_destroy_and_remove_the_stack(alice: Project, s3: S3Server, kube: Kube):
    alice.pulumi("destroy", "--yes")
    assert kube.list("deployments,services,virtualservices.networking.istio.io,"
                     "destinationrules.networking.istio.io,gateways.networking.istio.io",
                     "app.oam.dev/name=book-info") == []
    alice.pulumi("stack", "rm", "--yes")
    assert STATE_KEY not in s3.client.keys(BUCKET), "the stack's state is still in the bucket"
