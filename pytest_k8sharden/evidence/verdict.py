"""Verdicts per check: passed, failed, inconclusive (could not look), waived, skipped, error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import final


class Outcome(StrEnum):
    """The verdict of one check in evidence.json."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    WAIVED = "waived"
    SKIPPED = "skipped"
    ERROR = "error"


class Inconclusive(Exception):
    """Raised when a check could not look (unreachable, Forbidden for the scanner, pod never ready).

    The plugin reports it as "inconclusive": never as passed, and it makes the session exit non-zero.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@final
@dataclass(frozen=True)
class Finding:
    """What a check's logic concluded from its observations, before the test is failed or passed."""

    outcome: Outcome
    """PASSED, FAILED or INCONCLUSIVE."""
    message: str
    """The sentence that explains it, naming what was seen (the doors, objects, addresses)."""
    subjects: tuple[str, ...] = ()
    """The objects a failure is about, as `subject()` names them; scoped waivers match against these."""


def subject(kind: str, name: str, namespace: str | None = None) -> str:
    """How a finding names an object: "Kind/namespace/name", or "Kind/name" for cluster-scoped ones."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


@final
@dataclass(frozen=True)
class Phase:
    """What one pytest phase (setup, call, teardown) of a check ended with."""

    when: str
    outcome: str
    """pytest's outcome: passed, failed or skipped."""
    message: str = ""
    inconclusive: bool = False


def verdict(phases: Sequence[Phase]) -> tuple[Outcome, str]:
    """The check's outcome and its message from its phases; inconclusive wins over everything."""
    for phase in phases:
        if phase.inconclusive:
            return Outcome.INCONCLUSIVE, phase.message
    for phase in phases:
        if phase.outcome == "failed":
            return (Outcome.FAILED if phase.when == "call" else Outcome.ERROR), phase.message
    for phase in phases:
        if phase.outcome == "skipped":
            return Outcome.SKIPPED, phase.message
    return Outcome.PASSED, ""
