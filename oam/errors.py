"""Errors a user can cause, and the one format they are reported in.

Every problem reads ``<file>:<line>: <path>: <problem>; <hint>`` so an editor can jump to
it. An :class:`OamError` carries all problems found at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


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
