"""What a metric gate's properties write: the condition its value must meet, and where Prometheus is by default."""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable, Optional

DEFAULT_ENDPOINT = "http://prometheus-server.o11y-system.svc:9090"  # KubeVela's default metricEndpoint

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """What a value must be, as KubeVela writes it: an operator and a number, e.g. ``>=0.95``."""

    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Optional["Condition"]:
        m = _CONDITION.match(text or "")
        return cls(m[1], float(m[2])) if m else None

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.op}{show_number(self.bound)}"


def show_number(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else f"{v:.6g}"
