"""Durations as users write them: 30s, 5m, 1h30m."""
from __future__ import annotations

import re
from typing import Optional

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> Optional[int]:
    """'1h30m' -> 5400 seconds; None when it does not parse."""
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        return None
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


def show_duration(seconds: int) -> str:
    """5400 -> '1h30m'."""
    h, rest = divmod(max(0, int(seconds)), 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"
