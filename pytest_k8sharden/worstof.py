"""One verdict over many doors, objects or pairs: each answers for itself, the verdict is the worst of theirs.

A check that speaks for several items (node x port x vantage, every host, every pair) judges each item on
its own, then folds: failed if one failed, inconclusive if one could not be looked at (naming it), passed
only when every item passed, saying how many were examined and from where. Pure: no pytest, no cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, final

from pytest_k8sharden.evidence.verdict import Finding, Outcome

SEVERITY: Final = (Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.PASSED)
"""Outcomes from worst to best."""
NAMED: Final = 6
"""How many items a message names before "and N more" (the evidence holds them all)."""


@final
@dataclass(frozen=True)
class Judged:
    """One item's own verdict."""

    name: str
    """The item and what it answered, e.g. ``https://n:10250/pods from runner (401)``."""
    outcome: Outcome
    """PASSED, FAILED or INCONCLUSIVE."""
    vantage: str = ""
    """Where it was looked at from (``runner``, ``pod:ns/name``); empty for objects read from the API."""


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The worst of `outcomes` (failed, then inconclusive, then passed); inconclusive when there are none."""
    seen = set(outcomes)
    return next((o for o in SEVERITY if o in seen), Outcome.INCONCLUSIVE)


def combine(findings: Iterable[Finding], nothing: str) -> Finding:
    """The worst of several findings, its message joining those of the findings that have it; `nothing`
    is the inconclusive message when there is no finding at all."""
    findings = list(findings)
    if not findings:
        return Finding(Outcome.INCONCLUSIVE, nothing)
    outcome = worst(f.outcome for f in findings)
    return Finding(outcome, "; ".join(f.message for f in findings if f.outcome is outcome))


def named(items: Sequence[str]) -> str:
    """The first few items, comma-separated, and how many more there are."""
    more = f" and {len(items) - NAMED} more" if len(items) > NAMED else ""
    return ", ".join(items[:NAMED]) + more


def examined(judged: Sequence[Judged], noun: str = "door") -> str:
    """``12 doors, from runner (6) and pod:ns/attacker (6)``: how many items (`noun`), and from where."""
    vantages = Counter(j.vantage for j in judged if j.vantage)
    where = " and ".join(f"{vantage} ({count})" for vantage, count in vantages.items())
    plural = "" if len(judged) == 1 else "s"
    return f"{len(judged)} {noun}{plural}" + (f", from {where}" if where else "")


def fold(
    judged: Sequence[Judged],
    *,
    failed: str,
    inconclusive: str,
    passed: str,
    nothing: str,
    noun: str = "door",
) -> Finding:
    """The worst of the items' verdicts as one Finding whose message names the items behind it.

    `failed`, `inconclusive` and `passed` open the message of each outcome (the failing or unanswered
    items follow; a pass adds how many items were examined and from where); `nothing` is the
    inconclusive message when there is no item at all.
    """
    if not judged:
        return Finding(Outcome.INCONCLUSIVE, nothing)
    outcome = worst(j.outcome for j in judged)
    those = [j.name for j in judged if j.outcome is outcome]
    if outcome is Outcome.FAILED:
        return Finding(outcome, f"{failed}: {named(those)}")
    if outcome is Outcome.INCONCLUSIVE:
        return Finding(outcome, f"{inconclusive}: {named(those)} ({len(those)} of {examined(judged, noun)})")
    return Finding(outcome, f"{passed} ({examined(judged, noun)}): {named(those)}")
