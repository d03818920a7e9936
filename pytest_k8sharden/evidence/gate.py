"""Gating: which failures decide the exit status (--baseline, --fail-on, --fail-severity)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, final

from pytest_k8sharden.catalog import SEVERITIES
from pytest_k8sharden.evidence.verdict import Outcome

FAIL_ON = ("any", "new")
"""--fail-on choices: every failure gates, or only failures the baseline does not know."""

BaselineState = Literal["new", "known"]
FailureKey = tuple[str, str]
"""(check id or "", test name with its parameters): stable when test files move or are run by --pyargs."""

_FAILED = frozenset({str(Outcome.FAILED), str(Outcome.WAIVED)})
_SCHEMA = "pytest-k8sharden/evidence/v1"


class BaselineError(ValueError):
    """The baseline file cannot be read or is not an evidence.json."""


def failure_key(nodeid: str, check: str | None) -> FailureKey:
    """How a failure is recognised across runs."""
    return (check or "", nodeid.rsplit("::", 1)[-1])


@final
@dataclass(frozen=True)
class BaselineJudgement:
    """What the baseline says of one failure."""

    state: BaselineState
    new_subjects: tuple[str, ...] = ()
    """The objects the failure names that the baseline run's failure of the check did not."""


@final
@dataclass(frozen=True)
class Baseline:
    """The failures of an earlier run (failed or waived there), each with the objects it named."""

    source: str
    failures: Mapping[FailureKey, frozenset[str]]
    """Failure key -> the subjects that failure named (empty when it named none)."""

    def before(self, nodeid: str, check: str | None) -> frozenset[str] | None:
        """The subjects of this test's failure in the baseline run, None when it did not fail there.

        A check that was one parameter of a test parametrized over several checks and is now a test of
        its own (the shipped suites since issue 22) is the same failure: an unparametrized test of a check
        matches the baseline's only failure of that check when that came from a parametrized test.
        """
        key = failure_key(nodeid, check)
        if key in self.failures or not check or "[" in key[1]:
            return self.failures.get(key)
        earlier = [name for known, name in self.failures if known == check]
        if len(earlier) == 1 and "[" in earlier[0]:
            return self.failures[(check, earlier[0])]
        return None

    def judge(self, nodeid: str, check: str | None, subjects: Sequence[str]) -> BaselineJudgement:
        """Known only when the check failed in the baseline run and names no object it did not name then.

        A new object failing inside an already failing check makes the failure new. When the baseline's
        failure named no objects, only the check can be compared: the failure is known.
        """
        before = self.before(nodeid, check)
        if before is None:
            return BaselineJudgement("new", tuple(subjects))
        new_subjects = tuple(name for name in subjects if name not in before) if before else ()
        return BaselineJudgement("new" if new_subjects else "known", new_subjects)


def parse_baseline(document: Any, source: str) -> Baseline:
    """The failures of an evidence.json document. Raises BaselineError."""
    if not isinstance(document, Mapping) or document.get("schema") != _SCHEMA:
        raise BaselineError(f"{source}: not an evidence.json (schema {_SCHEMA!r} expected)")
    results = document.get("results")
    if not isinstance(results, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("nodeid"), str) for item in results
    ):
        raise BaselineError(f"{source}: 'results' must be a list of results with a nodeid")
    failures = {
        failure_key(item["nodeid"], item.get("check")): frozenset(map(str, item.get("subjects") or ()))
        for item in results
        if item.get("outcome") in _FAILED
    }
    return Baseline(source, failures)


def load_baseline(path: Path) -> Baseline:
    """Read an earlier run's evidence.json. Raises BaselineError."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise BaselineError(f"{path}: not JSON: {exc}") from None
    return parse_baseline(document, str(path))


@final
@dataclass(frozen=True)
class Gate:
    """Which failed checks make the run fail. Inconclusive and erroring checks always do."""

    fail_on: str = "any"
    """any: every failure; new: only failures the baseline does not know."""
    fail_severity: str = SEVERITIES[-1]
    """The least severity that fails the run; failures of checks without a severity always do."""
    baseline: Baseline | None = field(default=None)

    def __post_init__(self) -> None:
        if self.fail_on not in FAIL_ON:
            raise ValueError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {self.fail_on!r}")
        if self.fail_severity not in SEVERITIES:
            raise ValueError(
                f"--fail-severity must be one of {', '.join(SEVERITIES)}, got {self.fail_severity!r}"
            )

    def judge_baseline(
        self, nodeid: str, check: str | None, subjects: Sequence[str]
    ) -> BaselineJudgement | None:
        """new or known (with the new objects) when there is a baseline, else None."""
        return self.baseline.judge(nodeid, check, subjects) if self.baseline is not None else None

    def blocks(self, severity: str | None, baseline: BaselineState | None) -> bool:
        """Whether a failed check of this severity and baseline state fails the run."""
        if self.fail_on == "new" and baseline == "known":
            return False
        if severity is None:
            return True
        return SEVERITIES.index(severity) <= SEVERITIES.index(self.fail_severity)
