"""Entry point: render the OAM Application named by the `app` config key at its current stage."""
from oam.program import run

run()
