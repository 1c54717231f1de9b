"""`python -m oam advance`: run the stages that need no person, one `pulumi up` after another.

It drives the project's own stack with Pulumi's Automation API: it runs `pulumi up`, reads
the stack's `status`, and waits for what opens by itself (a timed suspend, a metric gate's
window) with a progress line, then runs `pulumi up` again. It stops at a gate that needs an
approval, at the end of the release, at a rollback, at a failed update, or after the step
given with ``--until``. Each stage is an ordinary `pulumi up`: the stack is the same as if a
person had typed them, and they can take over at any point.

Ctrl-C never interrupts a `pulumi up` the driver started (it finishes, so the stack is
consistent); the driver stops once it has. While waiting, it stops at once.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from oam.kit.durations import parse_duration
from oam.workflow.clock import left, parse_iso

PROJECT = "oam-delivery"
DONE, WAITING_FOR_PERSON, ROLLED_BACK, FAILED, INTERRUPTED = 0, 2, 3, 1, 130
DATA_WAIT_UPS = 6  # pulumi ups in a row a step may wait for an output before the driver leaves it
DATA_WAIT_BACKOFF = 4.0  # seconds before asking again, doubled each time (at most --interval)
SLACK = 2.0  # seconds after a metric window ends before asking: the last scrape must have landed


@dataclass
class Timings:
    started: float = field(default_factory=time.monotonic)  # when the driver began (before the Automation API)
    ups: list[float] = field(default_factory=list)  # wall seconds of each pulumi up
    waited: float = 0.0  # seconds spent waiting for gates

    def own(self) -> float:
        """The driver's own seconds: everything but pulumi up and the waits (the Automation API, pins, reads)."""
        return time.monotonic() - self.started - sum(self.ups) - self.waited


@dataclass
class Where:
    """What one `pulumi up` left: read from the stack's outputs."""

    phase: str
    step: str  # "2/4 success-rate"
    executed: int  # steps done
    gate: Optional[str]
    opens_at: Optional[float]  # a timed suspend
    analysis: Optional[dict]  # a metric gate
    rolled_back_by: Optional[str]
    revisions: dict[str, dict]  # revision -> image, replicas, weight
    next: str
    waiting: str = ""  # "export-config (a step output)"
    clusters: dict[str, dict[str, dict]] = field(default_factory=dict)  # cluster -> its revisions, when several

    @property
    def data_wait(self) -> bool:
        return self.phase == "suspended" and self.waiting.endswith("(a step output)")

    @classmethod
    def read(cls, outputs: dict[str, Any]) -> "Where":
        status = outputs.get("status") or {}
        items = [v for k, v in status.items() if k not in ("notes", "stepMessages") and isinstance(v, dict)]
        state = json.loads(outputs.get("oamState") or "{}")
        release = state.get("release") or {}
        revisions: dict[str, dict] = {}
        clusters: dict[str, dict[str, dict]] = {}
        for item in items:
            revisions.update(item.get("revisions") or item.get("wanted") or {})
            for name, entry in (item.get("clusters") or {}).items():
                clusters.setdefault(name, {}).update(entry.get("revisions") or {})
        first = items[0] if items else {}
        opens = parse_iso(first["opensAt"]).timestamp() if first.get("opensAt") else None
        return cls(phase=first.get("phase") or release.get("phase") or "succeeded", step=first.get("step", ""),
                   executed=int(release.get("step") or 0), gate=release.get("gate"), opens_at=opens,
                   analysis=first.get("analysis"), rolled_back_by=first.get("rolledBackBy"), revisions=revisions,
                   next=first.get("next", ""), waiting=first.get("waiting", ""), clusters=clusters)

    def weights(self) -> str:
        """The revisions' pods and weights; per cluster, by name ("prod: ...; staging: ...") when the release has
        several."""
        if self.clusters:
            return "; ".join(f"{name}: {_weights(revisions)}" for name, revisions in sorted(self.clusters.items()))
        return _weights(self.revisions)


def _weights(revisions: dict[str, dict]) -> str:
    parts = []
    for name, r in sorted(revisions.items()):
        weight = f" {r['weight']}%" if "weight" in r else ""
        parts.append(f"{name} {r.get('replicas', '?')} pod{'s' if r.get('replicas') != 1 else ''}{weight}")
    return ", ".join(parts)


class Driver:
    def __init__(self, stack: Any, steps: list[tuple[str, bool]], until: Optional[int], interval: float,
                 out: TextIO = sys.stdout, now: Callable[[], float] = time.time, verbose: bool = False,
                 timings: Optional[Timings] = None):
        self.stack, self.steps, self.until, self.interval = stack, steps, until, interval
        self.out, self.now, self.verbose = out, now, verbose
        self.stop_requested = False
        self.in_up = False
        self.timings = timings or Timings()
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.data_waits = 0  # pulumi ups in a row that stopped at the same step for a step output

    # --- signals -------------------------------------------------------------------------------
    def on_interrupt(self, *_: Any) -> None:
        if self.in_up:
            self.say("Ctrl-C: the pulumi up in progress finishes first (the stack stays consistent), then the "
                     "driver stops")
        self.stop_requested = True

    # --- output --------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self.out.write(f"[{stamp}] {text}\n")
        self.out.flush()

    def progress(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text[: 200])
            self.out.flush()

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        while True:
            pin = self._pin()
            where = self._up()
            if where is None:
                return FAILED
            if self.stop_requested:
                self.say("stopped after this pulumi up, as asked; run python -m oam advance again to go on")
                return INTERRUPTED
            code = self._decide(where, pin)
            if code is None and where.data_wait:
                code = self._data_wait(where)
            else:
                self.data_waits = 0
            if code is not None:
                self._summary()
                return code
            if not self._wait(where):
                self.say(f"stopped while waiting at '{where.gate}'; the stack is as the last pulumi up left it")
                self._summary()
                return INTERRUPTED

    def _pin(self) -> Optional[int]:
        """With --until: pin the stage so this up stops at the next gate or at the step asked for, whichever is first."""
        if self.until is None:
            return None
        where = Where.read(self._outputs())
        start = where.executed
        pin = self.until
        for i in range(start + 1, self.until + 1):
            if self.steps[i - 1][1]:  # a gate: stop there (a closed one must not be skipped by a pin)
                pin = i
                break
        self.stack.set_config(f"{PROJECT}:stage", _config_value(str(pin)))
        return pin

    def _outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack.outputs().items()}

    def _up(self) -> Optional[Where]:
        from pulumi.automation import CommandError

        began = self.now()
        self.in_up = True
        try:
            result = self.stack.up(on_output=self._pulumi_line if self.verbose else None, color="never")
        except CommandError as err:
            self.in_up = False
            self.say("pulumi up failed; the stack records what was applied. Its error:")
            self.out.write(_tail(str(err)) + "\n")
            return None
        finally:
            self.in_up = False
        took = self.now() - began
        self.timings.ups.append(took)
        where = Where.read({k: v.value for k, v in result.outputs.items()})
        changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
        changed = ", ".join(f"{n} {k}" for k, n in sorted(changes.items())) or "no change"
        self.say(f"pulumi up ({took:.1f} s, {changed}): step {where.step}, {where.phase}; {where.weights()}")
        for message in _messages(result.stdout):
            self.say(f"  {message}")
        return where

    def _pulumi_line(self, line: str) -> None:
        self.out.write(line if line.endswith("\n") else line + "\n")

    def _decide(self, where: Where, pin: Optional[int]) -> Optional[int]:
        if where.phase == "succeeded":
            self.say("release complete")
            return DONE
        if where.phase == "rolled back":
            self.say("rolled back" + (f": {where.rolled_back_by}" if where.rolled_back_by else "") +
                     f". Next: {where.next}")
            return ROLLED_BACK
        if where.phase == "failed":
            self.say(f"the update did not apply in full. Next: {where.next}")
            return FAILED
        if pin is not None and where.executed >= self.until:
            self.say(f"reached step {where.step}; the stage stays pinned at {self.until} "
                     f"(pulumi config rm stage, or python -m oam advance, to go on)")
            return DONE
        if where.phase == "suspended" and where.analysis is None and where.opens_at is None:
            self.say(f"waiting for an approval at '{where.gate}'. Next: {where.next}, or "
                     "pulumi config set approve ... then python -m oam advance")
            return WAITING_FOR_PERSON
        if where.phase == "progressing" and pin is None:
            self.say(f"stopped at step {where.step}: the stage is pinned. Next: {where.next}")
            return DONE
        return None

    def _data_wait(self, where: Where) -> Optional[int]:
        """A step that waits for another's output: the update after the one that applied its source reads it;
        one that can read nothing yet (a load balancer's address, say) is asked again less often, then left."""
        self.data_waits = self.data_waits + 1 if self._last_gate == where.gate else 1
        self._last_gate = where.gate
        if self.data_waits >= DATA_WAIT_UPS:
            self.say(f"'{where.gate}' still waits for a step output after {DATA_WAIT_UPS} pulumi ups: check what its "
                     f"inputs take (valueFrom). Next: {where.next}")
            return WAITING_FOR_PERSON
        return None

    _last_gate: Optional[str] = None

    def _wait(self, where: Where) -> bool:
        """Sleep until the next pulumi up may move on; False when asked to stop."""
        until = self._next_check(where)
        last_line = 0.0
        began = time.monotonic()
        try:
            return self._sleep_until(where, until, last_line)
        finally:
            self.timings.waited += time.monotonic() - began

    def _sleep_until(self, where: Where, until: float, last_line: float) -> bool:
        while True:
            now = self.now()
            if self.stop_requested:
                if self.tty:
                    self.out.write("\n")
                return False
            if now >= until:
                if self.tty:
                    self.out.write("\r\033[K")
                return True
            text = self._describe(where, until - now)
            if self.tty:
                self.progress(text)
            elif now - last_line >= 30:
                self.say(text)
                last_line = now
            time.sleep(min(1.0, max(0.05, until - now)))

    def _next_check(self, where: Where) -> float:
        now = self.now()
        if where.phase == "progressing":  # a pin of --until moved on past an open gate: go on at once
            return now
        if where.analysis is not None:
            decides = where.analysis.get("decidesAt")
            at = parse_iso(decides).timestamp() + SLACK if decides else now + self.interval
            if at <= now:  # the point it needs has not been scraped yet: ask again soon, not at once
                at = now + min(self.interval, SLACK)
            return min(at, now + self.interval)
        if where.data_wait and self.data_waits > 1:  # it could not be read after the update that applied it
            return now + min(DATA_WAIT_BACKOFF * 2 ** (self.data_waits - 2), self.interval)
        return (where.opens_at or now) + 1.0

    def _describe(self, where: Where, remaining: float) -> str:
        head = f"step {where.step} · {where.phase}"
        if where.analysis is not None:
            a = where.analysis
            value = f" = {a['value']}" if "value" in a else ""
            decides = a.get("decidesAt")
            when = f" · decides at {decides[11:19]}" if decides else ""
            return (f"{head} · {a['measures']}{value} ({a['condition']}, {a['state']}){when} · "
                    f"next check in {left(remaining)} · {where.weights()}")
        if where.data_wait:
            return f"{head} · waits for a step output · next pulumi up in {left(remaining)}"
        return f"{head} · opens in {left(remaining)} · {where.weights()}"

    def _summary(self) -> None:
        if not self.timings.ups:
            return
        ups = self.timings.ups
        self.say(f"{len(ups)} pulumi up{'s' if len(ups) != 1 else ''}: {sum(ups):.1f} s in pulumi up "
                 f"(median {sorted(ups)[len(ups) // 2]:.1f} s), {self.timings.waited:.1f} s waiting for gates, "
                 f"{self.timings.own():.2f} s in the driver itself (Automation API start, pins, reads)")


def _config_value(value: str):
    from pulumi.automation import ConfigValue

    return ConfigValue(value=value)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _messages(stdout: str) -> list[str]:
    """Our own warnings from the update's output (the gate's analysis, notes)."""
    out = []
    for line in (stdout or "").splitlines():
        line = line.strip()
        if line.startswith("warning: ") and ("check-metrics" in line or "gate '" in line):
            out.append(line[len("warning: "):])
    return list(dict.fromkeys(out))


def gate_steps(app) -> list[tuple[str, bool]]:
    """(name, whether it can wait) of each top-level step; a step group waits if a step in it can."""
    from oam.kit.spec import all_steps
    from oam.registry import STEPS

    out = []
    for step in app.steps or ():
        waits = any(STEPS.get(s.type) is not None and STEPS.get(s.type).waits(s) for s in all_steps([step]))
        out.append((step.name, waits))
    return out


def main(root: Path, stack_name: Optional[str], until: Optional[str], interval: str, verbose: bool,
         out: TextIO = sys.stdout) -> int:
    from pulumi import automation as auto

    timings = Timings()
    seconds = parse_duration(interval)
    if not seconds:
        print(f"--interval: '{interval}' is not a duration above 0; write it like 10s or 1m", file=sys.stderr)
        return FAILED
    try:
        workspace = auto.LocalWorkspace(work_dir=str(root))
        name = stack_name
        if not name:
            selected = workspace.stack()
            name = selected.name if selected else None
        if not name:
            print("no stack is selected: pulumi stack select NAME, or --stack NAME", file=sys.stderr)
            return FAILED
        stack = auto.Stack.select(name, workspace)
        # Only --until needs the workflow's steps (and so the file): reading it costs a CLI call and the models.
        app_file = stack.get_config(f"{PROJECT}:app").value if until is not None else None
    except auto.StackNotFoundError:
        print(f"stack '{stack_name}' does not exist here: pulumi stack ls", file=sys.stderr)
        return FAILED
    except auto.CommandError as err:
        print(_tail(str(err)), file=sys.stderr)
        return FAILED
    steps: list[tuple[str, bool]] = []
    until_index = None
    if until is not None:
        from oam.errors import OamError
        from oam.errors import closest
        from oam.model import read_application

        try:
            steps = gate_steps(read_application(root / app_file, app_file))
        except OamError as err:
            print(err, file=sys.stderr)
            return FAILED
        names = [n for n, _ in steps]
        if until not in names:
            print(f"--until: '{until}' is not a step of {app_file}; {closest(until, names)}", file=sys.stderr)
            return FAILED
        until_index = names.index(until) + 1
    driver = Driver(stack, steps, until_index, float(seconds), out, verbose=verbose, timings=timings)
    driver.say(f"advancing stack {name}; Ctrl-C stops it safely")
    previous = signal.signal(signal.SIGINT, driver.on_interrupt)
    try:
        return driver.run()
    finally:
        signal.signal(signal.SIGINT, previous)
        if driver.tty:
            out.write("\n")
