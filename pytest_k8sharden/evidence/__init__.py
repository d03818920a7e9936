"""Evidence: Observations, verdicts, redaction, the evidence.json bundle and its HTML rendering."""

from __future__ import annotations

from pytest_k8sharden.evidence.observation import RUNNER, Observation, pod_vantage
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Inconclusive, Outcome

__all__ = ["RUNNER", "Evidence", "Inconclusive", "Observation", "Outcome", "pod_vantage"]
