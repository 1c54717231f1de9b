"""Where a metric gate stands, in words for the log and the status."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from oam.kit.durations import show_duration
from oam.metrics import FAILED, PASSED, PENDING, Verdict, show_value
from oam.workflow.clock import hms, iso_of


@dataclass
class Analysis:
    step: str
    what: str  # "request-success-rate of reviews-v2", or the query
    query: str
    endpoint: str
    condition: str
    duration: int
    fail_duration: int
    started: float  # unix time the analysis started
    now: float
    resolution: float = 1.0  # seconds between the points of the range query (from ``started``)
    verdict: Verdict = field(default_factory=lambda: Verdict(PENDING))
    error: str = ""  # Prometheus did not answer: no verdict

    @property
    def decides_at(self) -> Optional[float]:
        """When a pulumi up may decide, if the current run goes on (None: no run yet)."""
        if self.error or self.verdict.state != PENDING or self.verdict.at is None:
            return None
        # the first point of the query's grid at or after the moment the run is long enough
        steps = math.ceil((self.verdict.at - self.started) / self.resolution - 1e-9)
        return self.started + steps * self.resolution

    def summary(self) -> str:
        v, what, cond = self.verdict, self.what, self.condition
        name = f"check-metrics '{self.step}'"
        if self.error:
            return (f"{name}: {self.error}; that is neither a pass nor a failure, so nothing changes "
                    f"until Prometheus answers (the analysis started at {hms(self.started)})")
        if v.state == PASSED:
            return (f"{name} passed: {what} met {cond} from {hms(v.since)} to {hms(v.at)} "
                    f"({show_duration(self.duration)}; values {show_value(v.low)} to {show_value(v.high)})")
        if v.state == FAILED:
            return (f"{name} failed: {what} was {show_value(v.value)}, not {cond}, from {hms(v.since)} to "
                    f"{hms(v.at)} ({show_duration(self.fail_duration)}; values {show_value(v.low)} to "
                    f"{show_value(v.high)}): the release is rolled back to its stable revision")
        if self.started == self.now:
            return (f"{name}: the analysis of {what} ({cond}) starts with this stage; it passes once the "
                    f"condition has held for {show_duration(self.duration)}, and rolls back once it has been "
                    f"broken for {show_duration(self.fail_duration)}")
        if v.holds is None:
            seen = "no data yet" if v.value is None and v.since is None else "no data at the last point"
            return (f"{name}: {seen} for {what} since the analysis started at {hms(self.started)} "
                    f"(no traffic?); no decision without data")
        wait = f"in {show_duration(max(0, v.at - self.now))}"
        if v.holds:
            return (f"{name}: {what} is {show_value(v.value)} ({cond}) since {hms(v.since)}; it passes at "
                    f"{hms(v.at)} ({wait}) if it holds until then")
        return (f"{name}: {what} is {show_value(v.value)}, not {cond}, since {hms(v.since)}; the release "
                f"rolls back at {hms(v.at)} ({wait}) unless it recovers before")

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "measures": self.what, "condition": self.condition,
                               "state": "error" if self.error else self.verdict.state,
                               "started": iso_of(self.started)}
        if self.verdict.value is not None:
            out["value"] = show_value(self.verdict.value)
        if self.decides_at is not None:
            out["decidesAt"] = iso_of(self.decides_at)
        out["summary"] = self.summary()
        return out
