"""The `evidence` fixture's object: collects the redacted Observations of one check."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, NoReturn, TypeVar, final

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.redact import redact

_O = TypeVar("_O", bound=Observation)
_KEEP = frozenset({"kind", "when"})


def redact_observation(observation: _O) -> _O:
    """A copy of `observation` with every field except kind and time redacted."""
    changes: dict[str, Any] = {
        item.name: redact(getattr(observation, item.name))
        for item in dataclasses.fields(observation)
        if item.name not in _KEEP
    }
    return dataclasses.replace(observation, **changes)


@final
class Evidence:
    """Records what a check observed; redacts before storing. Safe to use from several threads."""

    def __init__(self) -> None:
        self._observations: list[Observation] = []
        self._finding: Finding | None = None
        self._raised: BaseException | None = None
        self._lock = threading.Lock()

    def record(self, observation: _O) -> _O:
        """Store `observation` (redacted) for this check and return the stored copy."""
        stored = redact_observation(observation)
        with self._lock:
            self._observations.append(stored)
        return stored

    def inconclusive(self, reason: str) -> NoReturn:
        """End the check as inconclusive: it could not look. Never counted as passed."""
        raise Inconclusive(reason)

    def conclude(self, finding: Finding) -> None:
        """The one place a check's verdict is decided: the finding is kept as the check's verdict (the
        report reads it from here); a failed or inconclusive one also ends the check, so pytest shows it."""
        self._finding = finding
        if finding.outcome is Outcome.PASSED:
            return
        self._raised = (
            Inconclusive(finding.message)
            if finding.outcome is Outcome.INCONCLUSIVE
            else AssertionError(finding.message)
        )
        raise self._raised

    @property
    def finding(self) -> Finding | None:
        """The concluded finding (None until `conclude`)."""
        return self._finding

    def ended_the_check(self, error: BaseException) -> bool:
        """Whether `error` is the exception `conclude` raised to end the check with its finding."""
        return error is self._raised

    @property
    def subjects(self) -> tuple[str, ...]:
        """The objects the concluded finding is about (empty until `conclude`, or when it names none)."""
        return self._finding.subjects if self._finding is not None else ()

    @property
    def observations(self) -> tuple[Observation, ...]:
        """Everything recorded so far, in order."""
        with self._lock:
            return tuple(self._observations)
