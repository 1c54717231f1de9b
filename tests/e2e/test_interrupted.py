"""A `pulumi up` killed half-way, then run again, converges to the stage's state."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import Kube, make_project, read_events
from tests.e2e.test_tutorial import FIRST, ROLLOUT, V2, assert_converged, state


def _kill_orphans(pulumi_home: str) -> None:
    """Plugins run in their own process group: end those the killed CLI left behind."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith(pulumi_home):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def _empty_sidecars(backend_url: str) -> list[str]:
    """The file backend writes each state file, then a small ``.attrs`` file beside it, not atomically: a CLI
    killed between the two leaves that one empty, and the next run cannot load the stack ("failed to load
    checkpoint: EOF"). Those it leaves empty go, as the backend reads a state file without one."""
    root = Path(backend_url.removeprefix("file://"))
    empty = [p for p in root.rglob("*.attrs") if p.stat().st_size == 0]
    for p in empty:
        p.unlink()
    return [str(p) for p in empty]


def test_killed_up_converges_on_rerun(pulumi_env, tmp_path_factory, kube: Kube):
    project = make_project(tmp_path_factory.mktemp("killed") / "project", pulumi_env, "killed")
    try:
        project.config(app=FIRST)
        assert project.up("first-deploy").ok
        project.config(app=ROLLOUT)
        log = project.dir / "killed-events.jsonl"
        with open(log, "w") as out:
            proc = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", project.stack,
                                     "--non-interactive", "--json"], cwd=project.dir, env=project.env,
                                    stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 300
        # Kill the whole process group as soon as the new Deployment has started, before the route moves.
        while time.monotonic() < deadline:
            if any(e.kind == "pre" and e.name == V2 for e in read_events(log)):
                break
            assert proc.poll() is None, "pulumi up ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("the new Deployment never started")
        time.sleep(0.1)  # past the checkpoint the CLI writes as the step starts; its pods take longer to be Ready
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _kill_orphans(project.env["PULUMI_HOME"])
        _empty_sidecars(project.env["PULUMI_BACKEND_URL"])
        half = state(kube)
        assert half["routes"] == {"reviews-v1": 100}, f"the route moved before the new pods were ready: {half}"

        # A killed CLI leaves its lock behind; Pulumi's own message says to remove it with pulumi cancel.
        up = project.up("rerun-after-kill")
        assert not up.ok and "pulumi cancel" in up.output, up.output
        project.pulumi("cancel", "--yes")
        up = project.up("rerun-after-cancel")
        if not up.ok and "pending" in up.output:
            # Pulumi asks for this after a hard kill; it is what a user is told to run.
            project.pulumi("refresh", "--yes", "--clear-pending-creates")
            up = project.up("rerun-after-refresh")
        assert_converged(project, up, kube)
        assert state(kube) == {"reviews-v1": (1, 1), "reviews-v2": (1, 1),
                               "routes": {"reviews-v1": 90, "reviews-v2": 10}, "subsets": ["reviews-v1", "reviews-v2"]}
    finally:
        project.pulumi("destroy", "--yes", check=False)
