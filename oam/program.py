"""The Pulumi program: config and recorded history in, resources and status out."""
from __future__ import annotations

import time
from pathlib import Path

import pulumi
from pulumi.runtime import rpc

from oam.config import read_stage_config
from oam.errors import OamError
from oam.loader import read_application
from oam.render import plan as make_plan
from oam.resources import Application
from oam.revisions import STATE_OUTPUT, History
from oam.status import status

READ_OUTPUTS = "pulumi:pulumi:readStackOutputs"


def read_history(attempts: int = 20, pause: float = 0.25) -> History:
    """The history this stack recorded at its last update (empty for a new or destroyed stack).

    A file backend rewrites the checkpoint in place while an update starts, so a read can
    see a half-written file; it is tried again. It never falls back to an empty history:
    that would rename revisions.
    """
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    for attempt in range(1, attempts + 1):
        try:
            result = pulumi.runtime.invoke(READ_OUTPUTS, {"name": name})
            break
        except Exception as err:  # noqa: BLE001 - the engine reports every failure as a plain Exception
            if attempt == attempts:
                raise pulumi.RunError(f"cannot read the recorded state of stack {name}: {err}; "
                                      "nothing was changed, run pulumi up again") from None
            time.sleep(pause)
    outputs = (result.value or {}).get("outputs") or {}
    value = outputs.get(STATE_OUTPUT)
    if rpc.is_rpc_secret(value):
        value = rpc.unwrap_rpc_secret(value)
    return History.from_json(value)


def run(root: Path = Path(".")) -> dict:
    """Validate everything, then register the resources of this stage and export its status."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    config = pulumi.Config()
    stack_file = f"stacks/Pulumi.{stack}.yaml"
    try:
        cfg = read_stage_config(config.get, project, root / stack_file, stack_file)
        app = read_application(root / cfg.app, cfg.app)
        plan = make_plan(app, read_history(), cfg)
    except OamError as err:
        raise pulumi.RunError(str(err)) from None
    for note in plan.resolution.messages + plan.resolution.notes:
        pulumi.log.warn(note)
    Application(plan)
    outputs = {"status": status(plan, cfg), STATE_OUTPUT: plan.resolution.history.to_json()}
    pulumi.export("status", outputs["status"])
    # Kept as a secret only so that `pulumi stack output` stays short: it is bookkeeping, not a secret.
    pulumi.export(STATE_OUTPUT, pulumi.Output.secret(outputs[STATE_OUTPUT]))
    return outputs
