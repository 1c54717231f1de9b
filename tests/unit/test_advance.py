"""The driver's decisions (`python -m oam advance`), with a stack that answers as the real one's outputs do.

tests/e2e/test_metric_gates.py runs the driver itself on the real engine and cluster.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

from oam.advance import DONE, INTERRUPTED, ROLLED_BACK, WAITING_FOR_PERSON, Driver, Where, gate_steps
from oam.model import read_application
from tests.harness import ROOT


def outputs(phase: str, step: str, executed: int, gate=None, waiting=None, analysis=None, **extra) -> dict:
    item = {"release": 2, "step": step, "phase": phase, "revisions": {
        "cart-v1": {"image": "cart:1", "replicas": 2, "weight": 90}, "cart-v2": {"image": "cart:2", "replicas": 1,
                                                                               "weight": 10}}, "next": "pulumi up"}
    if waiting:
        item["waiting"] = waiting
        if "(opens at " in waiting:  # as the status gives a timed gate: the sentence, and the time as a field
            item["opensAt"] = waiting.split("(opens at ", 1)[1].rstrip(")")
    if analysis:
        item["analysis"] = analysis
    item.update(extra)
    state = {"release": {"step": executed, "phase": phase, "gate": gate}}
    return {"status": {"cart": item}, "oamState": json.dumps(state)}


@dataclass
class FakeStack:
    """Answers each up with the next outputs of a script; records the stage pins."""

    script: list[dict]
    ups: int = 0
    pins: list[str] = field(default_factory=list)
    last: dict = field(default_factory=dict)

    def up(self, **_):
        self.last = self.script[self.ups]
        self.ups += 1
        return SimpleNamespace(outputs={k: SimpleNamespace(value=v) for k, v in self.last.items()},
                               summary=SimpleNamespace(resource_changes={"same": 5, "update": 2}), stdout="")

    def outputs(self):
        return {k: SimpleNamespace(value=v) for k, v in self.last.items()}

    def set_config(self, key, value):
        self.pins.append(f"{key}={value.value}")


class Clock:
    def __init__(self):
        self.t = 1_800_000_000.0

    def __call__(self):
        return self.t


def driver(stack, steps=(("a", False), ("gate", True), ("b", False)), until=None, clock=None) -> Driver:
    d = Driver(stack, list(steps), until, 10.0, io.StringIO(), now=clock or Clock())
    return d


def test_the_driver_stops_at_an_approval_at_the_end_and_at_a_rollback():
    d = driver(FakeStack([outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (needs approval)")]))
    assert d.run() == WAITING_FOR_PERSON and "waiting for an approval at 'gate'" in d.out.getvalue()
    d = driver(FakeStack([outputs("succeeded", "3/3 b", 3)]))
    assert d.run() == DONE and "release complete" in d.out.getvalue()
    d = driver(FakeStack([outputs("rolled back", "2/3 gate", 2, rolledBackBy="check-metrics 'gate' failed: ...")]))
    assert d.run() == ROLLED_BACK and "rolled back: check-metrics 'gate' failed" in d.out.getvalue()


def test_a_metric_gate_is_asked_again_at_its_decision_or_every_interval_whichever_is_first():
    clock = Clock()
    d = driver(FakeStack([]), clock=clock)
    soon = Where.read(outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (metric analysis)",
                              analysis={"decidesAt": "2027-01-15T08:00:03Z", "measures": "m", "condition": ">=1",
                                        "state": "pending"}))
    decides = 1_800_000_000 + 3  # 2027-01-15T08:00:03Z
    assert d._next_check(soon) == decides + 2.0, "just after the window, with the slack for the last scrape"
    later = Where.read(outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (metric analysis)",
                               analysis={"decidesAt": "2027-01-15T09:00:00Z", "measures": "m", "condition": ">=1",
                                         "state": "pending"}))
    assert d._next_check(later) == clock.t + 10.0
    unknown = Where.read(outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (metric analysis)",
                                 analysis={"measures": "m", "condition": ">=1", "state": "error"}))
    assert d._next_check(unknown) == clock.t + 10.0
    late = Where.read(outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (metric analysis)",
                              analysis={"decidesAt": "2027-01-15T07:59:00Z", "measures": "m", "condition": ">=1",
                                        "state": "pending"}))
    assert d._next_check(late) == clock.t + 2.0, "its point is not scraped yet: soon, but not in a tight loop"
    timed = Where.read(outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (opens at 2027-01-15T08:05:00Z)"))
    assert d._next_check(timed) == 1_800_000_300 + 1.0


def test_until_pins_the_stage_at_each_gate_on_the_way_never_past_a_closed_one():
    steps = (("canary", False), ("analysis", True), ("more", False), ("rest", False))
    stack = FakeStack([
        outputs("suspended", "2/4 analysis", 1, gate="analysis", waiting="analysis (opens at 2027-01-15T08:00:00Z)"),
        outputs("progressing", "2/4 analysis", 2),
        outputs("progressing", "3/4 more", 3),
    ])
    d = driver(stack, steps, until=3)
    d.now = lambda: 1_900_000_000.0  # every wait is over at once
    assert d.run() == DONE
    assert stack.pins == ["oam-delivery:stage=2", "oam-delivery:stage=2", "oam-delivery:stage=3"]
    assert "the stage stays pinned at 3" in d.out.getvalue()


def test_ctrl_c_while_waiting_stops_at_once():
    stack = FakeStack([outputs("suspended", "2/3 gate", 1, gate="gate", waiting="gate (opens at 2030-01-01T00:00:00Z)")])
    d = driver(stack)
    d.stop_requested = False
    original = d._wait

    def interrupted(where):
        d.on_interrupt()
        return original(where)

    d._wait = interrupted
    assert d.run() == INTERRUPTED and "stopped while waiting at 'gate'" in d.out.getvalue()
    assert stack.ups == 1


def test_each_top_level_step_says_whether_it_can_wait():
    app = read_application(ROOT / "examples/shop/v2.yaml", "examples/shop/v2.yaml")
    assert gate_steps(app) == [("first-batch", False), ("check-first-batch", True), ("second-batch", False),
                               ("soak", True), ("check-second-batch", True), ("last-batch", False)]


def test_a_step_waiting_for_an_output_is_asked_again_less_often_then_left():
    data_wait = outputs("suspended", "2/3 gate", 1, gate="b", waiting="b (a step output)",
                        opensAt="2027-01-15T08:00:02Z", next="pulumi up (python -m oam advance runs it for you): ...")
    stack = FakeStack([data_wait] * 10)
    clock = Clock()
    d = driver(stack, clock=clock)
    waits = []

    def sleep_until(where, until, last):
        waits.append(until - clock.t)
        clock.t = until
        return True

    d._sleep_until = sleep_until
    assert d.run() == WAITING_FOR_PERSON
    assert stack.ups == 6, "the one after the update that applied its source, then four more, then left"
    # The first: at once after the status's time (2 s after that update); then 4, 8 and 10 s (the interval).
    assert waits[1:] == [4.0, 8.0, 10.0, 10.0], waits
    assert "'b' still waits for a step output after 6 pulumi ups" in d.out.getvalue()


def test_a_step_waiting_for_an_output_says_so():
    d = driver(FakeStack([]))
    where = Where.read(outputs("suspended", "2/3 b", 1, gate="b", waiting="b (a step output)",
                               opensAt="2027-01-15T08:00:02Z"))
    assert d._describe(where, 2.0) == "step 2/3 b · suspended · waits for a step output · next pulumi up in 2s"


def test_a_step_that_gets_its_output_goes_on():
    data_wait = outputs("suspended", "2/3 b", 1, gate="b", waiting="b (a step output)",
                        opensAt="2027-01-15T08:00:02Z")
    d = driver(FakeStack([data_wait, outputs("succeeded", "3/3 b", 3)]))
    d.now = lambda: 1_900_000_000.0
    assert d.run() == DONE and "release complete" in d.out.getvalue()
