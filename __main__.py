"""Entry point: render the OAM Application named by the `app` config key at its current stage, against the clusters
the stack's config names and the machine's clock."""
from pathlib import Path

from oam.ports import Clusters, SystemClock
from oam.program import run, stack_config

cfg = stack_config(Path("."))
run(Path("."), cfg, Clusters(cfg), SystemClock())
