"""Versions against the dated release table, and images pinned by digest."""

from __future__ import annotations

import datetime

import pytest

from pytest_k8sharden.clusters.local.components import KUBERNETES, KUBERNETES_OUTDATED
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.posture import podsecurity, versions

TODAY = datetime.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("version", "outcome", "says"),
    [
        ("v1.37.2", Outcome.PASSED, "supported until 2027-10-28"),
        ("v1.36.6+k3s1", Outcome.PASSED, "newest known patch 1.36.6"),
        ("v1.36.3", Outcome.FAILED, "behind 1.36.6 (released 2026-10-28; release table of 2026-11-23)"),
        ("v1.37.1", Outcome.FAILED, "behind 1.37.2"),
        ("v1.34.13", Outcome.FAILED, "reached end of life on 2026-10-27"),
        ("v1.29.4", Outcome.FAILED, "end-of-life (older than the release table of 2026-11-23)"),
        ("v1.38.0", Outcome.INCONCLUSIVE, "newer than every minor"),
        ("unknown", Outcome.INCONCLUSIVE, "no version"),
    ],
)
def test_version_verdicts_name_the_table_date(version: str, outcome: Outcome, says: str) -> None:
    finding = versions.judge("the API server", version, TODAY)
    assert finding.outcome is outcome
    assert says in finding.message


def test_table_is_dated_no_earlier_than_any_release_it_lists() -> None:
    newest = max(series.released for series in versions.RELEASES.series.values())
    assert newest <= versions.RELEASES.compiled == datetime.date(2026, 11, 23)


def test_every_series_is_consistent() -> None:
    for (major, minor), series in versions.RELEASES.series.items():
        assert series.latest_patch[:2] == (major, minor)
        assert series.released <= versions.RELEASES.compiled
    minors = sorted(versions.RELEASES.series)
    assert all(minors[i][1] + 1 == minors[i + 1][1] for i in range(len(minors) - 1)), "a minor is missing"
    ends = [versions.RELEASES.series[m].end_of_life for m in minors]
    assert ends == sorted(ends), "a newer minor cannot reach its end of life first"


def test_a_supported_minor_passes_before_its_end_of_life() -> None:
    assert versions.judge("x", "v1.34.13", datetime.date(2026, 10, 1)).outcome is Outcome.PASSED


def test_the_local_cluster_pins_agree_with_the_table() -> None:
    """hardened runs the newest known patch; insecure's pin is a supported minor behind its newest patch."""
    assert versions.judge("x", KUBERNETES.version, TODAY).outcome is Outcome.PASSED
    behind = versions.judge("x", KUBERNETES_OUTDATED.version, TODAY)
    assert behind.outcome is Outcome.FAILED and "behind" in behind.message


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
