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
    """What one pytest phase (setup, call, teardown) of a check ended with, judged."""

    when: str
    outcome: Outcome
    """PASSED, FAILED, INCONCLUSIVE, SKIPPED or ERROR."""
    message: str = ""


PRECEDENCE: tuple[Outcome, ...] = (Outcome.ERROR, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.SKIPPED)
"""Which phase outcome decides the check: a crash first (it is never hidden), then an observed failure (what
happened after it does not erase it), then could-not-look, then skipped; else passed."""


def verdict(phases: Sequence[Phase]) -> tuple[Outcome, str]:
    """The check's outcome and its message from its judged phases (see PRECEDENCE).

    An error after a failure keeps the failure's message beside the error's; a pass keeps its message
    (what the check examined).
    """
    for outcome in PRECEDENCE:
        deciding = [phase for phase in phases if phase.outcome is outcome]
        if deciding:
            message = deciding[0].message
            failed = [p.message for p in phases if p.outcome is Outcome.FAILED]
            if outcome is Outcome.ERROR and failed:
                message = f"{message} (after the check had failed: {failed[0]})"
            return outcome, message
    return Outcome.PASSED, next((phase.message for phase in phases if phase.message), "")
