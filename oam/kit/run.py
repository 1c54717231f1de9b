"""What a step definition may read and call on the workflow run it acts on (the engine's WorkflowRun is one).

A step is handed the run, never the engine: what it may see of the stage and how it may
move it are the members below, and nothing else of the run is a step's to touch.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

from oam.kit.metrics import Condition
from oam.kit.placements import Clusters, Placement
from oam.kit.spec import AppSpec, StepSpec
from oam.revisions import Release, Revision


class LiveObjects(Protocol):
    """What the stack's own cluster holds, for the steps whose outputs read it."""

    def read(self, ref: dict) -> Optional[dict[str, Any]]:
        """The object ``ref`` names (apiVersion, kind, metadata name and namespace) as the cluster holds it, status
        included; None when it is not there or cannot be read now."""


class StageSettings(Protocol):
    """What a step reads of the stack's config."""

    @property
    def clusters(self) -> Clusters:
        """The clusters the stack's config names (None: not known, a check without a stack)."""


class Run(Protocol):
    """The workflow run, as its steps see it: the application and where the release stands, and the moves a step
    makes (deploy, move, weigh, gate...) that together work out the stage."""

    @property
    def app(self) -> AppSpec: ...

    @property
    def cfg(self) -> StageSettings: ...

    @property
    def release(self) -> Release: ...

    @property
    def current(self) -> dict[str, Revision]:
        """The current revision of every component."""

    @property
    def cluster(self) -> Optional[LiveObjects]:
        """What the steps whose outputs read the cluster read it through; None without a stack."""

    def step(self, step: StepSpec) -> bool:
        """Run one step (a step-group's sub-step); True to go on."""

    def deploy(self, placements: list[Placement]) -> None:
        """The application goes (also) to these placements."""

    def apply(self, step: StepSpec, manifest: dict, path: tuple) -> None:
        """The stage applies ``manifest`` (an object written in full, at ``path`` of the file) for ``step``."""

    def show(self, step: StepSpec, message: str) -> None:
        """The status shows ``message`` for ``step``."""

    def partition(self, p: int) -> None:
        """Every rolled-out component's release goes to batch ``p``, its traffic following its pods."""

    def move(self, component: str, partition: int) -> None:
        """One component's release goes to ``partition``, its traffic following its pods."""

    def complete(self, component: str) -> None:
        """One component's release goes to its last batch."""

    def weigh(self, component: str, weights: dict[str, int]) -> None:
        """One component's traffic is split so (revision name -> percent)."""

    def roll_back(self) -> None:
        """The release goes back to its baseline."""

    def baseline(self, component: str) -> Optional[str]:
        """The revision the release moves ``component`` away from; None on its first release."""

    def target(self, component: str) -> str:
        """The revision the release rolls ``component`` out to."""

    def namespaces(self) -> list[str]:
        """Where the application is at this point of the workflow."""

    def gate(self, step: StepSpec, duration: Optional[int]) -> bool:
        """Whether a gate is open: approved, or ``duration`` seconds after it started waiting."""

    def analyse(self, step: StepSpec, what: str, query: str, endpoint: Optional[str], condition: Condition,
                duration: int, fail_duration: int) -> bool:
        """A metric gate: whether Prometheus shows ``condition`` held for ``duration``."""
