"""Entry point: render the OAM Application named by the `app` config key at its current stage, against the clusters
the stack's config names, the machine's clock and the Prometheus servers the metric gates name."""
from pathlib import Path

from oam.metrics import Prometheus
from oam.ports import Clusters, SystemClock
from oam.program import run, stack_config

cfg = stack_config(Path("."))
run(Path("."), cfg, Clusters(cfg), SystemClock(), Prometheus())
