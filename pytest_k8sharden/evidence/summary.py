"""What a run's results add up to, as plain values: counts, the findings by severity, baseline changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, final

from pytest_k8sharden.catalog import SEVERITIES
from pytest_k8sharden.evidence.bundle import CheckResult
from pytest_k8sharden.evidence.gate import Baseline
from pytest_k8sharden.evidence.verdict import Outcome

UNSPECIFIED = "unspecified"
"""The severity row of checks without one (a user's check with no severity mark nor catalog entry)."""
SEVERITY_ROWS: tuple[str, ...] = (*SEVERITIES, UNSPECIFIED)
FINDING_OUTCOMES: tuple[Outcome, ...] = (Outcome.FAILED, Outcome.ERROR, Outcome.INCONCLUSIVE)
"""What an auditor must read first: observed failures, checks that crashed, checks that could not look."""
REASON_LIMIT = 120
"""A finding's reason on the first screen: one short line (the whole message is in the check's evidence)."""


def severity_rank(severity: str | None) -> int:
    """critical first, unspecified last."""
    return SEVERITY_ROWS.index(severity if severity in SEVERITIES else UNSPECIFIED)


def count_outcomes(results: Iterable[CheckResult]) -> dict[Outcome, int]:
    """How many checks ended with each verdict (every verdict present, zero or not)."""
    counts = dict.fromkeys(Outcome, 0)
    for result in results:
        counts[result.outcome] += 1
    return counts


class Judged(Protocol):
    """Anything with a severity and a verdict: a CheckResult, or a verdict read from a stored run."""

    @property
    def severity(self) -> str | None: ...

    @property
    def outcome(self) -> Outcome: ...


def count_by_severity(results: Iterable[Judged]) -> dict[str, dict[Outcome, int]]:
    """Severity -> how many checks of it failed, crashed or could not look (every severity row present)."""
    table = {severity: dict.fromkeys(FINDING_OUTCOMES, 0) for severity in SEVERITY_ROWS}
    for result in results:
        if result.outcome in FINDING_OUTCOMES:
            table[SEVERITY_ROWS[severity_rank(result.severity)]][result.outcome] += 1
    return table


def findings(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The failed, erroring and inconclusive checks: most severe first, then failed before error before
    inconclusive, then by check id and node id (a stable order for the same run)."""
    chosen = [result for result in results if result.outcome in FINDING_OUTCOMES]
    return sorted(
        chosen,
        key=lambda r: (
            severity_rank(r.severity), FINDING_OUTCOMES.index(r.outcome), r.check or "", r.nodeid,
        ),
    )  # fmt: skip


def reason_line(message: str, limit: int = REASON_LIMIT) -> str:
    """The first line of a verdict's message, cut to `limit` characters (with an ellipsis when cut)."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "\u2026"


@final
@dataclass(frozen=True)
class BaselineChanges:
    """A run compared with its baseline: which failures are new, which are still there, which are fixed."""

    new: tuple[CheckResult, ...]
    unchanged: tuple[CheckResult, ...]
    fixed: tuple[CheckResult, ...]
    """Checks that failed (or were waived) in the baseline run and passed in this one."""


def baseline_changes(results: Sequence[CheckResult], baseline: Baseline) -> BaselineChanges:
    """New, unchanged and fixed failures of settled results against the baseline they were judged by."""
    fixed = tuple(
        result
        for result in results
        if result.outcome is Outcome.PASSED and baseline.before(result.nodeid, result.check) is not None
    )
    return BaselineChanges(
        tuple(result for result in results if result.baseline == "new"),
        tuple(result for result in results if result.baseline == "known"),
        fixed,
    )
