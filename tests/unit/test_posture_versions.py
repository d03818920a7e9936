"""Versions against the dated release table, and images pinned by digest."""

from __future__ import annotations

import datetime

import pytest

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.posture import podsecurity, versions

TODAY = datetime.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("version", "outcome", "says"),
    [
        ("v1.37.1", Outcome.PASSED, "supported until 2027-10-28"),
        ("v1.36.4+k3s1", Outcome.PASSED, "newest known patch 1.36.4"),
        ("v1.36.3", Outcome.FAILED, "behind 1.36.4 (released 2026-08-11"),
        ("v1.34.9", Outcome.FAILED, "reached end of life on 2026-10-27"),
        ("v1.29.4", Outcome.FAILED, "end-of-life (older than the release table of 2026-09-15)"),
        ("v1.38.0", Outcome.INCONCLUSIVE, "newer than every minor"),
        ("unknown", Outcome.INCONCLUSIVE, "no version"),
    ],
)
def test_version_verdicts_name_the_table_date(version: str, outcome: Outcome, says: str) -> None:
    finding = versions.judge("the API server", version, TODAY)
    assert finding.outcome is outcome
    assert says in finding.message


def test_table_date_is_the_newest_release_it_lists() -> None:
    assert datetime.date(2026, 9, 15) == versions.TABLE_DATE


def test_a_supported_minor_passes_before_its_end_of_life() -> None:
    assert versions.judge("x", "v1.34.9", datetime.date(2026, 10, 1)).outcome is Outcome.PASSED


def test_images_by_tag_are_named_and_digests_pass() -> None:
    pods = [
        {"metadata": {"name": "a", "namespace": "n"}, "spec": {"containers": [
            {"name": "tagged", "image": "nginx:1.27"},
            {"name": "pinned", "image": "nginx@sha256:" + "0" * 64},
        ]}},
    ]  # fmt: skip
    flagged, finding = podsecurity.workload_violations(pods, "pull by tag", podsecurity.mutable_tag)
    assert flagged == ["pod n/a container tagged: image nginx:1.27 is pulled by tag, not by digest"]
    assert finding.outcome is Outcome.FAILED
