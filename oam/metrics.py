"""Metric analysis: Prometheus range queries, and the verdict of a window on the condition a value must meet.

A metric gate (the ``check-metrics`` step) reads one series from Prometheus over the
window since its analysis started. It passes once the condition has held without a break
for ``duration``, fails once it has been broken without a break for ``failDuration``,
whichever comes first in time; until then it waits. A point with no value (no traffic, a
ratio of 0/0) is neither: it breaks both runs, so no decision is taken without evidence.
A Prometheus that cannot be reached, or a query it refuses, is no verdict at all.
"""
from __future__ import annotations

import json
import math
import socket
from dataclasses import dataclass
from typing import Optional, Protocol

from oam.kit.metrics import Condition, show_number

PASSED, FAILED, PENDING = "passed", "failed", "pending"


class MetricsError(Exception):
    """Prometheus could not answer: unreachable, or the query was refused or is not one series."""


def show_value(v: Optional[float]) -> str:
    return "no data" if v is None else show_number(round(v, 4))


class MetricSource(Protocol):
    def series(self, endpoint: str, query: str, start: float, end: float, step: float) -> list[tuple[float, Optional[float]]]:
        """(unix time, value or None) from ``start`` to ``end``; raises MetricsError."""


class Prometheus:
    """Prometheus's HTTP API (``/api/v1/query_range``), with nothing but the standard library."""

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout

    def series(self, endpoint: str, query: str, start: float, end: float, step: float) -> list[tuple[float, Optional[float]]]:
        import urllib.error  # only a stack at a metric gate needs them
        import urllib.parse
        import urllib.request

        url = endpoint.rstrip("/") + "/api/v1/query_range"
        body = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                       "step": f"{max(step, 1.0):.3f}"}).encode()
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            raise MetricsError(f"Prometheus at {endpoint} refused the query ({err.code}): "
                               f"{_error_text(err)}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise MetricsError(f"Prometheus at {endpoint} cannot be reached ({reason})") from None
        except ValueError:
            raise MetricsError(f"{endpoint} did not answer as Prometheus does (not JSON)") from None
        if answer.get("status") != "success":
            raise MetricsError(f"Prometheus at {endpoint} refused the query: {answer.get('error', answer)}")
        return _one_series(answer.get("data") or {})


def _error_text(err) -> str:
    try:
        data = json.loads(err.read().decode("utf-8"))
        return str(data.get("error") or data)
    except (ValueError, OSError, AttributeError):
        return str(err.reason)


def _one_series(data: dict) -> list[tuple[float, Optional[float]]]:
    kind, result = data.get("resultType"), data.get("result") or []
    if kind == "scalar":  # not from query_range, but harmless
        result = [{"metric": {}, "values": [result]}] if result else []
    elif kind not in ("matrix", "vector"):
        raise MetricsError(f"the query returns a {kind}, not a number over time")
    if len(result) > 1:
        shown = ", ".join(_labels(r.get("metric") or {}) for r in result[:3])
        raise MetricsError(f"the query returns {len(result)} series ({shown}{', ...' if len(result) > 3 else ''}); "
                           "it must return one: aggregate it, e.g. sum(...)")
    if not result:
        return []
    points = result[0].get("values") or ([result[0]["value"]] if "value" in result[0] else [])
    out = []
    for t, v in points:
        value = float(v)
        out.append((float(t), None if math.isnan(value) else value))
    return out


def _labels(metric: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


@dataclass(frozen=True)
class Verdict:
    """Where an analysis stands at ``now``."""

    state: str  # PASSED, FAILED or PENDING
    holds: Optional[bool] = None  # the current run: True met, False broken, None no data (or no run yet)
    since: Optional[float] = None  # when the current (or deciding) run began
    at: Optional[float] = None  # when it was decided, or when it will be if the run goes on
    value: Optional[float] = None  # the last value read
    low: Optional[float] = None  # the lowest and highest value of the deciding run
    high: Optional[float] = None
    error: str = ""


def judge(points: list[tuple[float, Optional[float]]], condition: Condition, duration: float,
          fail_duration: float) -> Verdict:
    """The verdict of a window of points (in time order): the first run long enough decides."""
    run_holds: Optional[bool] = None
    since = low = high = None
    value = None
    for t, value in points:
        if value is None:
            run_holds, since, low, high = None, None, None, None
            continue
        holds = condition.holds(value)
        if holds is not run_holds or since is None:
            run_holds, since, low, high = holds, t, value, value
        else:
            low, high = min(low, value), max(high, value)
        needed = duration if holds else fail_duration
        if t - since >= needed:
            return Verdict(PASSED if holds else FAILED, holds, since, t, value, low, high)
    if run_holds is None or since is None:
        return Verdict(PENDING, None, None, None, value)
    needed = duration if run_holds else fail_duration
    return Verdict(PENDING, run_holds, since, since + needed, value, low, high)


def resolution(duration: float, fail_duration: float, window: float) -> float:
    """The step of the range query: fine enough to time a run, and at most 10000 points."""
    return max(1.0, min(duration, fail_duration) / 20, window / 10000)
