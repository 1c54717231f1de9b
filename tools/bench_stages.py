"""Wall time of `pulumi up` for each stage of the bookinfo tutorial, median of N walks.

Real CLI, real provider, real local kube-apiserver (the same tools as the end-to-end
suite). Run: venv/bin/python tools/bench_stages.py [--walks 3]. The walks run one after
another in one process, so the stages are measured side by side on the same machine load.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import CACHE, make_project, start_cluster, stop_cluster, with_pulumi  # noqa: E402

STAGES = [
    ("first-deploy", {"app": "examples/bookinfo/first-deploy.yaml"}),
    ("rollout 10%", {"app": "examples/bookinfo/rollout-v2.yaml"}),
    ("approved 100%", {"approve": "manual-approval"}),
    ("rollback", {"app": "examples/bookinfo/rollback.yaml"}),
    ("no change", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=3)
    args = parser.parse_args()
    t0 = time.monotonic()
    env = start_cluster(CACHE / "bench-cluster")
    print(f"cluster ready in {time.monotonic() - t0:.1f}s", flush=True)
    times: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "home").mkdir()
            (base / "state").mkdir()
            penv = with_pulumi(env, base / "home", base / "state")
            for walk in range(args.walks):
                project = make_project(base / f"walk{walk}", penv, f"bench{walk}")
                for name, config in STAGES:
                    project.config(**config)
                    up = project.up(name)
                    if not up.ok:
                        raise SystemExit(f"{name} failed:\n{up.output}")
                    times[name].append(up.seconds)
                    print(f"walk {walk + 1} {name}: {up.seconds:.1f}s", flush=True)
                project.pulumi("destroy", "--yes")
    finally:
        stop_cluster(env)
    print("\nstage            median   runs")
    for name, values in times.items():
        print(f"{name:15s} {statistics.median(values):6.1f}s   " + " ".join(f"{v:.1f}" for v in values))


if __name__ == "__main__":
    main()
