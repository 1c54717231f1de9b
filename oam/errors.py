"""Errors a user can cause, the one format they are reported in, and the hints that help fix them.

Every problem reads ``<file>:<line>: <path>: <problem>; <hint>`` so an editor can jump to
it. An :class:`OamError` carries all problems found at once.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with where it is and how to fix it."""

    file: str
    line: Optional[int]
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}"
        return f"{text}; {self.hint}" if self.hint else text


class OamError(Exception):
    """A user mistake: bad application file, bad stack config, or a move the state forbids."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ApplicationError(OamError):
    """The OAM Application file is invalid."""


class ConfigError(OamError):
    """A stack config value is invalid or contradicts the application."""


class ReleaseError(OamError):
    """The requested stage is not allowed from the recorded release state."""


LISTED = 12  # a hint lists this many known names in full; of more, the nearest few and the count of the rest
NEAREST = 5


def closest(name: str, known: Iterable[str]) -> str:
    """A hint naming the nearest known value to ``name`` and the known values: all of a short list; of a long one
    (some 40 definition types), the nearest few and how many more there are."""
    known = sorted(set(known))
    # 0.7: a typo (webservise, rolback, expoze) is close; another name (sidecar vs scaler) is not.
    near = difflib.get_close_matches(str(name), known, n=1, cutoff=0.7)
    if not known:
        listed = "none"
    elif len(known) <= LISTED:
        listed = ", ".join(known)
    else:
        nearest = difflib.get_close_matches(str(name), known, n=NEAREST, cutoff=0.0)
        listed = ", ".join(sorted(nearest)) + f" and {len(known) - len(nearest)} more"
    return (f"did you mean '{near[0]}'? known: {listed}" if near else f"known: {listed}")


def excerpt(value: Any, limit: int = 60) -> str:
    """A value in YAML's spelling (true, null, 'text'), cut short: messages never echo a whole input."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + "...'" if text[0] in "'\"" else text[: limit - 3] + "..."


def quoting_hint(value: Any, written: Optional[str] = None) -> str:
    """How to keep a value YAML read as null, a boolean or a number a string: quote what was written (``yes``, not
    the ``true`` YAML made of it; ``1.10``, not ``1.1``)."""
    what = "null" if value is None else "a boolean" if isinstance(value, bool) else "a number"
    shown = excerpt(value)
    text = written if written is not None and written.strip() else shown
    read = f"{text} as {what}" if text == shown else f"{text} as {what} ({shown})"
    return f"YAML reads {read}: quote it, like {json.dumps(text)}"
