"""What becomes of a failed check: waived, new or known, and whether it fails the run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import final

from pytest_k8sharden.catalog import SEVERITIES
from pytest_k8sharden.evidence.bundle import CheckResult
from pytest_k8sharden.evidence.gate import FAIL_ON, Gate, load_baseline
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.evidence.waivers import Waiver, load_waivers, matching_waiver

_ALWAYS_BLOCK = frozenset({Outcome.INCONCLUSIVE, Outcome.ERROR})


@final
@dataclass(frozen=True)
class Disposition:
    """The session's waivers and gate, applied to each check's result."""

    waivers: tuple[Waiver, ...] = ()
    gate: Gate = dataclasses.field(default_factory=Gate)
    today: date = dataclasses.field(default_factory=date.today)
    """The day waiver expiry is judged against."""

    def settle(self, result: CheckResult) -> CheckResult:
        """A failed result marked waived (or with its expired waiver) and new or known."""
        if result.outcome is not Outcome.FAILED:
            return result
        ids = (result.check, *result.controls) if result.check else result.controls
        match = matching_waiver(self.waivers, ids, result.subjects, self.today)
        outcome = Outcome.WAIVED if match is not None and not match.expired else Outcome.FAILED
        judged = self.gate.judge_baseline(result.nodeid, result.check, result.subjects)
        if judged is None:
            return dataclasses.replace(result, outcome=outcome, waiver=match)
        return dataclasses.replace(
            result, outcome=outcome, waiver=match, baseline=judged.state, new_subjects=judged.new_subjects
        )

    def blocks(self, result: CheckResult) -> bool:
        """Whether this settled result fails the run: inconclusive and errors always do."""
        if result.outcome is Outcome.FAILED:
            return self.gate.blocks(result.severity, result.baseline)
        return result.outcome in _ALWAYS_BLOCK


def load_disposition(
    *,
    waivers: Path | None,
    baseline: Path | None,
    fail_on: str | None,
    fail_severity: str | None,
    known: Callable[[str], bool],
) -> Disposition:
    """Read --waivers and --baseline and validate the gate. Raises WaiverError, BaselineError, ValueError."""
    gate = Gate(
        fail_on or FAIL_ON[0],
        fail_severity or SEVERITIES[-1],
        load_baseline(baseline) if baseline is not None else None,
    )
    return Disposition(load_waivers(waivers, known) if waivers is not None else (), gate)
