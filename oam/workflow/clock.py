"""The clock timed gates are measured with, and how times are written in the stack's record."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_of(t: float) -> str:
    """A unix time as the record writes times."""
    return iso(datetime.fromtimestamp(t, timezone.utc))


def hms(t: float) -> str:
    """A unix time as the time of day (UTC), for messages."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def left(seconds: float) -> str:
    """A wait as 1h2m3s (rounded up to the second)."""
    seconds = max(0, int(seconds + 0.999))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"
