"""Run the real program under Pulumi's mocks and return plain data.

Under mocks integers come back as floats and a test that forgets to await its outputs
passes silently; this harness runs the program to the end itself and returns
``{name: Registered}`` with integral floats turned back into ints.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import settings as psettings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "oam-delivery"
STACK = "dev"


def plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict
    dependencies: list[str]


@dataclass
class StageRun:
    resources: dict[str, Registered] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def state(self) -> Optional[str]:
        return self.outputs.get("oamState")

    def of_kind(self, kind: str) -> dict[str, Registered]:
        return {n: r for n, r in self.resources.items() if r.inputs.get("kind") == kind}

    def manifest(self, name: str) -> dict:
        return self.resources[name].inputs

    def depends(self, name: str, on: str) -> bool:
        return self.resources[on].urn in self.resources[name].dependencies


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, previous_outputs: dict):
        self.previous_outputs = previous_outputs

    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        if args.token == "pulumi:pulumi:readStackOutputs":
            return {"name": args.args["name"], "outputs": self.previous_outputs, "secretOutputNames": []}
        return {}


class _Monitor(pmocks.MockMonitor):
    def __init__(self, mocks, run: StageRun):
        super().__init__(mocks)
        self.run = run

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = plain(pmocks.rpc.deserialize_properties(request.object))
            self.run.resources[request.name] = Registered(response.urn, request.type, request.name,
                                                          request.parent, inputs, list(request.dependencies))
        return response



def run_stage(config: dict[str, Any], previous: Optional[StageRun] = None, preview: bool = False) -> StageRun:
    """Run the program once with ``config`` (keys without the project prefix).

    ``previous`` supplies the stack outputs of the last update, as the engine would.
    """
    from oam.program import run

    result = StageRun()
    previous_outputs = dict(previous.outputs) if previous else {}
    mocks = _Mocks(previous_outputs)
    monitor = _Monitor(mocks, result)
    pulumi.runtime.set_all_config({f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v)
                                   for k, v in config.items() if v is not None})
    pmocks.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview, monitor=monitor,
                     organization="organization")
    psettings.SETTINGS.rpc_manager.clear()

    def program():
        result.outputs = plain(run(ROOT))

    try:
        _sync_await(run_pulumi_func(program))
    except pulumi.RunError as err:
        result.error = str(err)
    finally:
        pulumi.runtime.set_all_config({})
    return result
